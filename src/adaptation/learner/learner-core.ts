import { isPerceptionError, PerceptionError } from '../../core/errors.js';
import type { Manifest } from '../../model/manifest.js';
import type { TailWeights } from '../../model/package.js';
import { fitRouterPaced, poolFeatures, type Router } from '../../engine/router.js';
import { composeTails, Gate, type GateDecision, type GateOptions } from './gate.js';
import { LabelMatcher, validateLabels, type LabelEvent, type LabelMatcherOptions } from './labels.js';
import type { InsertResult, SampleFilter, SampleInfo } from './store.js';
import type { FlaggedSample, SampleLabels, StoredSample } from './store-types.js';
import { runPaced, type Paced, type Pacer } from './paced.js';
import { Trainer, type TrainerOptions, type TrainReport } from './trainer.js';

/**
 * The learner without its process and transport: store + label matching + trainer + gate,
 * driven by four calls (a sample, a label, a slack grant, a pause) and talking out through
 * small ports. Another module wraps it in its own process behind ZeroMQ / ROS.
 */

/** The part of SampleStore the learner uses (SampleStore satisfies it). */
export interface LearnerStore {
  insert(s: FlaggedSample, labels?: SampleLabels): InsertResult;
  has(camera: string, stampNs: bigint): boolean;
  setLabels(camera: string, stampNs: bigint, labels: SampleLabels): boolean;
  get(id: number, options?: { keepHalf?: boolean }): StoredSample;
  list(filter?: SampleFilter): SampleInfo[];
  ids(filter?: SampleFilter): readonly number[];
  count(filter?: SampleFilter): number;
  recordDecision(decision: object): void;
}

export interface LearnerPorts {
  /** Milliseconds, monotonic (label waits and decision times). */
  readonly clock: () => number;
  /** Called with every promoted set of tails; the bundle/swap side signs and ships it. */
  readonly publishCandidate: (tails: TailWeights, meta: GateDecision) => void | Promise<void>;
  readonly log: (line: string) => void;
  /**
   * Paces the gate (seconds of CPU: router fit, four evaluations) between its pieces, so it
   * runs inside the granted slack like the training steps (a SlackWindow). Absent: it runs
   * through at once.
   */
  readonly pacer?: Pacer;
}

const UNPACED: Pacer = { begin: () => undefined, pace: () => Promise.resolve() };

/**
 * A gate scores the candidate on every held-out frame (~18 ms of CPU a frame): on a rain drive
 * it took a third of the learner's slack, most of it on candidates it refused, one after another,
 * 120 steps apart. After a rejection the next candidate trains twice as long, up to this many
 * times stepsPerCandidate (docs/experiments/2026-12-08-gate-and-grants.md).
 */
export const MAX_GATE_BACKOFF = 4;

export interface LearnerOptions {
  /** Train only once this many labelled new-domain training samples exist (default 16). */
  readonly minNewLabeled?: number;
  /**
   * Run the gate after this many training steps since the last gate (default 200); after a
   * rejection twice as many as before, up to MAX_GATE_BACKOFF times this, and this again after
   * a promotion.
   */
  readonly stepsPerCandidate?: number;
  /** At most this many samples per gate set, the newest (default 64). */
  readonly maxGateSamples?: number;
  readonly trainer?: TrainerOptions;
  readonly gate?: GateOptions;
  readonly labels?: LabelMatcherOptions;
  /**
   * Ship candidates with a domain router (default true; see src/engine/router.ts): perception
   * then runs the adapted tails only on cameras whose frames read as the new domain, and the
   * shipped tails elsewhere. Needs ≥ 2 stored samples of each domain; without, candidates go
   * out as plain tails.
   */
  readonly route?: boolean;
  /**
   * With routing, no candidate is gated before this many new-domain samples are stored (default
   * 40): the router is fitted at the gate, and one fitted on a handful of samples ships with an
   * early promotion and serves until a later candidate passes the gate. A precaution, not a
   * cure: a router fitted on 40 samples can still leave much of a new drive on the shipped
   * tails (`npx tsx bench/router-check.ts`; docs/experiments/2026-11-28-online-training.md).
   */
  readonly minRouterSamples?: number;
}

export interface SlackReport {
  readonly trained: TrainReport | null;
  readonly decision: GateDecision | null;
  /** Why nothing happened, when nothing did. */
  readonly idle?: 'busy' | 'too-few-labels';
}

export interface LearnerStatus {
  readonly version: number;
  readonly samples: number;
  readonly labeledNew: number;
  readonly labeledOld: number;
  readonly stepsSinceGate: number;
  readonly decisions: number;
}

type CoreManifest = Pick<Manifest, 'tails' | 'classes' | 'strides' | 'depth'>;

export class LearnerCore {
  readonly decisions: GateDecision[] = [];
  private readonly labels: LabelMatcher;
  private readonly trainer: Trainer;
  private readonly gate: Gate;
  private current: TailWeights;
  private version = 0;
  private stepsSinceGate = 0;
  /** Steps before the next gate: stepsPerCandidate, doubled by each rejection (see MAX_GATE_BACKOFF). */
  private gateAfter: number;
  private busy = false;
  private pauseRequested = false;
  private readonly o: { minNewLabeled: number; stepsPerCandidate: number; maxGateSamples: number; minRouterSamples: number };
  private readonly route: boolean;
  /** Pooled features per stored sample id (samples never change once stored). */
  private readonly pooled = new Map<number, Float32Array>();
  /**
   * The last gate's held-out samples by id, for the next gate: most of its sets are the same
   * frames, and a store read (SQLite, checksum, float16 decode) cost 17 ms a sample on the
   * scenario's machine, a third of a gate's pieces (docs/experiments/2026-12-07-learner-cache.md).
   * Dropped when its labels change; what a gate did not use is let go after it. A gate holds
   * its sets in memory while it runs anyway, so this keeps that memory, it adds none.
   */
  private readonly gateSamples = new Map<number, StoredSample>();
  /** Ids the running gate's sets used (the ones kept for the next gate). */
  private gateUsed = new Set<number>();
  /** The last router fitted, with the sample ids it was fitted on and how many were new-domain. */
  private router: { key: string; router: Router; newSamples: number } | undefined;
  /** New-domain samples behind the router of the promoted set (0: no router promoted yet). */
  private promotedRouterSamples = 0;

  constructor(
    private readonly manifest: CoreManifest,
    private readonly initial: TailWeights,
    private readonly store: LearnerStore,
    private readonly ports: LearnerPorts,
    options: LearnerOptions = {},
  ) {
    this.o = {
      minNewLabeled: options.minNewLabeled ?? 16,
      stepsPerCandidate: options.stepsPerCandidate ?? 200,
      maxGateSamples: options.maxGateSamples ?? 64,
      minRouterSamples: options.minRouterSamples ?? 40,
    };
    this.gateAfter = this.o.stepsPerCandidate;
    for (const [k, v] of Object.entries(this.o)) {
      if (!(Number.isInteger(v) && v >= 1)) throw new PerceptionError('INVALID_CONFIG', `learner ${k} must be an integer ≥ 1, got ${v}`, { field: k });
    }
    this.route = options.route ?? true;
    this.current = initial;
    // A store kept from another model package (e.g. before its det tail was widened) holds
    // features the tails cannot read: say so at start, naming the head, and touch nothing.
    const first = store.list()[0];
    if (first !== undefined) {
      const kept = store.get(first.id);
      for (const head of Object.keys(manifest.tails) as (keyof CoreManifest['tails'])[]) {
        const f = kept.features[head];
        if (f !== undefined && f.channels !== manifest.tails[head].in) {
          throw new PerceptionError('INVALID_CONFIG', `the learner's sample store holds ${head} features of ${f.channels} channels, the ${head} tail takes ${manifest.tails[head].in}: it was written for another model package; move the learner state folder aside (nothing was changed)`, { field: `${head}_feat` });
        }
      }
    }
    // Labels that reach a stored frame make the trainer's prepared copy of it stale.
    const sink = {
      has: (camera: string, stampNs: bigint) => store.has(camera, stampNs),
      setLabels: (camera: string, stampNs: bigint, labels: SampleLabels) => {
        const ok = store.setLabels(camera, stampNs, labels);
        if (ok) {
          this.trainer.forget(camera, stampNs);
          this.gate.cache.forget(camera, stampNs);
          for (const [id, g] of this.gateSamples) if (g.camera === camera && g.stampNs === stampNs) this.gateSamples.delete(id);
        }
        return ok;
      },
    };
    this.labels = new LabelMatcher(sink, options.labels);
    this.gate = new Gate(manifest, options.gate);
    this.trainer = new Trainer(
      manifest,
      initial,
      {
        newIds: () => this.ids({ domain: 'new', split: 'train', labeled: true }),
        oldIds: () => this.ids({ domain: 'old', split: 'train', labeled: true }),
        load: (id) => store.get(id, { keepHalf: true }),
      },
      options.trainer,
    );
  }

  /** A flagged frame arrived: store it (with labels, if they came with it or before it). */
  onSample(sample: FlaggedSample, labels?: SampleLabels): InsertResult {
    // Features of another graph (e.g. a perception still on a package from before its det tail
    // was widened) would only fail later, inside a training step: refuse them here, by name.
    for (const head of Object.keys(this.manifest.tails) as (keyof CoreManifest['tails'])[]) {
      const f = sample.features[head];
      const want = this.manifest.tails[head].in;
      if (f !== undefined && f.channels !== want) {
        throw new PerceptionError('INVALID_ARGUMENT', `sample ${sample.camera}@${sample.stampNs}: ${head} features have ${f.channels} channels, the ${head} tail takes ${want} (perception and learner on different model packages?)`, { field: `${head}_feat` });
      }
    }
    const r = this.store.insert(sample, labels);
    if (r.id !== null) {
      this.labels.onSample(this.ports.clock(), sample.camera, sample.stampNs);
      // Pooled now, from the features in hand (~1 ms): a router fit would otherwise read every
      // stored sample back (~25 ms each): a rain drive's first gate took 15.8 s of slack with the
      // reads, 8.5 s without (docs/experiments/2026-12-08-gate-and-grants.md).
      if (this.route) this.pooled.set(r.id, poolFeatures(sample.features, this.manifest.tails));
    }
    for (const id of r.evicted) this.pooled.delete(id);
    return r;
  }

  /**
   * A label arrived: true if it reached a stored sample now (otherwise it waits, or is dropped).
   * Throws PerceptionError('INVALID_ARGUMENT') for a label that does not fit (validateLabels): it
   * is never stored; the caller logs and counts it.
   */
  onLabel(ev: LabelEvent): boolean {
    validateLabels(ev, this.manifest.classes.length);
    return this.labels.onLabel(this.ports.clock(), ev);
  }

  /**
   * The scheduler grants `grantMs` of slack: train for at most that long (stopping at once on
   * `onPause`), then run the gate if enough steps have accumulated.
   */
  async onSlack(grantMs: number): Promise<SlackReport> {
    if (this.busy) return { trained: null, decision: null, idle: 'busy' };
    this.labels.expire(this.ports.clock());
    if (this.store.count({ domain: 'new', split: 'train', labeled: true }) < this.o.minNewLabeled) {
      return { trained: null, decision: null, idle: 'too-few-labels' };
    }
    this.busy = true;
    this.pauseRequested = false;
    try {
      const trained = await this.trainer.trainFor(grantMs, () => this.pauseRequested);
      this.stepsSinceGate += trained.steps;
      let decision: GateDecision | null = null;
      const routerReady = !this.route || this.store.count({ domain: 'new', split: 'train' }) >= this.o.minRouterSamples;
      if (!this.pauseRequested && routerReady && this.stepsSinceGate >= this.gateAfter) decision = await this.runGate();
      return { trained, decision };
    } finally {
      this.busy = false;
    }
  }

  /** The slack was revoked: the current step finishes, no further step starts. */
  onPause(): void {
    this.pauseRequested = true;
  }

  /** The gate's margin, tolerance and teacher confidence in force. */
  get gateSettings(): Gate['settings'] {
    return this.gate.settings;
  }

  get currentTails(): TailWeights {
    return this.current;
  }

  status(): LearnerStatus {
    return {
      version: this.version,
      samples: this.store.count(),
      labeledNew: this.store.count({ domain: 'new', labeled: true }),
      labeledOld: this.store.count({ domain: 'old', labeled: true }),
      stepsSinceGate: this.stepsSinceGate,
      decisions: this.decisions.length,
    };
  }

  dispose(): void {
    this.trainer.dispose();
  }

  private async runGate(): Promise<GateDecision> {
    const t0 = this.ports.clock();
    this.gateUsed = new Set();
    const { decision: d, promoted, routerSamples } = await runPaced(this.gateSteps(), this.ports.pacer ?? UNPACED).finally(() => {
      for (const id of this.gateSamples.keys()) if (!this.gateUsed.has(id)) this.gateSamples.delete(id);
    });
    const steps = this.stepsSinceGate;
    this.stepsSinceGate = 0;
    const c = this.gate.cache;
    this.record(d, `after ${steps} steps, gate ${((this.ports.clock() - t0) / 1000).toFixed(1)} s, ${c.hits} of ${c.hits + c.misses} head scores reused`);
    c.hits = c.misses = 0;
    this.gateAfter = d.decision === 'promote' ? this.o.stepsPerCandidate : Math.min(2 * this.gateAfter, MAX_GATE_BACKOFF * this.o.stepsPerCandidate);
    if (d.decision === 'promote') {
      this.version = d.version;
      this.current = promoted;
      this.promotedRouterSamples = routerSamples;
      await this.ports.publishCandidate(promoted, d);
    }
    return d;
  }

  /** The gate's work, in pieces (see paced.ts): what to promote, if anything, and on how many new-domain samples its router was fitted. */
  private *gateSteps(): Paced<{ decision: GateDecision; promoted: TailWeights; routerSamples: number }> {
    const candidate = yield* this.withRouter(this.trainer.candidate());
    const candidateRouterSamples = this.router?.newSamples ?? 0;
    const heldOut = yield* this.gateSet({ domain: 'new', split: 'val', labeled: true });
    let oldRef = yield* this.gateSet({ domain: 'old', split: 'val', labeled: true });
    // A small reservoir may hold no held-out old frame yet; forgetting shows on trained-on ones too.
    if (oldRef.length < 4) oldRef = yield* this.gateSet({ domain: 'old', labeled: true });
    // Old-domain regression is measured from the shipped weights, so promotions cannot add up.
    const d = yield* this.gate.decideSteps(this.version + 1, this.current, candidate, heldOut, oldRef, this.initial);
    if (d.decision !== 'promote' && this.routerStale()) {
      // A router refresh: the promoted tails with a router fitted on (at least) twice the
      // new-domain samples of the one they carry. An early promotion's router, fitted on its
      // first ~40 samples, routes less of the new drive to the adapted tails than one fitted on
      // more (docs/experiments/2026-11-28-online-training.md), and when no later candidate
      // clears the margin it would serve to the end. It
      // has to do no worse on either domain (margin 0, same tolerance).
      const refreshed = yield* this.withRouter(this.current);
      const r = yield* this.gate.decideSteps(this.version + 1, this.current, refreshed, heldOut, oldRef, this.initial, 0);
      this.record(d);
      return {
        decision: { ...r, reason: `router refresh (${this.router?.newSamples ?? 0} new-domain samples, was ${this.promotedRouterSamples}): ${r.reason}` },
        promoted: composeTails(refreshed, this.current, r.reverted),
        routerSamples: this.router?.newSamples ?? 0,
      };
    }
    // The set the gate decided on: the candidate, with the serving tail of any head it made worse.
    return { decision: d, promoted: composeTails(candidate, this.current, d.reverted), routerSamples: candidateRouterSamples };
  }

  private record(d: GateDecision, how?: string): void {
    this.decisions.push(d);
    this.store.recordDecision({ ...d, at_ms: this.ports.clock() });
    this.ports.log(`learner: v${d.version} ${d.decision} (new ${fmt(d.val_new_before)} → ${fmt(d.val_new_after)}, old ${fmt(d.val_old_before)} → ${fmt(d.val_old_after)}${how ? `; ${how}` : ''}): ${d.reason}`);
  }

  /** The promoted set carries a router fitted on less than half the new-domain samples stored now. */
  private routerStale(): boolean {
    if (!this.route || this.promotedRouterSamples === 0) return false;
    return this.store.count({ domain: 'new', split: 'train' }) >= 2 * this.promotedRouterSamples;
  }

  /** `tails` plus a router fitted on the stored training samples of both domains (when routing is on and possible). */
  private *withRouter(tails: TailWeights): Paced<TailWeights> {
    if (!this.route) return tails;
    const oldIds = this.ids({ domain: 'old', split: 'train' });
    const newIds = this.ids({ domain: 'new', split: 'train' });
    if (oldIds.length < 2 || newIds.length < 2) return tails;
    // A fit costs ~0.5 s of CPU at 300 samples; the same samples give the same router.
    const key = `${oldIds.join(',')}|${newIds.join(',')}`;
    if (this.router?.key !== key) {
      const olds = yield* this.pooledFeatures(oldIds);
      const news = yield* this.pooledFeatures(newIds);
      if (olds.length >= 2 && news.length >= 2) this.router = { key, router: yield* fitRouterPaced(olds, news), newSamples: news.length };
    }
    if (!this.router) return tails;
    const r = this.router.router;
    return new Map([...tails, ['router_w', { shape: [r.w.length], data: r.w }], ['router_b', { shape: [1], data: Float32Array.of(r.b) }]]);
  }

  private ids(f: SampleFilter): readonly number[] {
    return this.store.ids(f);
  }

  /** Pooled features of stored samples (cached: samples never change), one piece per sample read. Evicted meanwhile: left out. */
  private *pooledFeatures(ids: readonly number[]): Paced<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const id of ids) {
      let p = this.pooled.get(id);
      if (!p) {
        const s = this.load(id);
        if (!s) continue;
        p = poolFeatures(s.features, this.manifest.tails);
        this.pooled.set(id, p);
        yield;
      }
      out.push(p);
    }
    return out;
  }

  /** The newest `maxGateSamples` samples matching `f`, one piece per sample read (the last gate's are kept). Evicted meanwhile: left out. */
  private *gateSet(f: SampleFilter): Paced<StoredSample[]> {
    const out: StoredSample[] = [];
    for (const id of this.ids(f).slice(-this.o.maxGateSamples)) {
      const kept = this.gateSamples.get(id);
      if (kept && this.store.has(kept.camera, kept.stampNs)) {
        out.push(kept);
        this.gateUsed.add(id);
        continue;
      }
      const s = this.load(id);
      if (s) {
        out.push(s);
        this.gateSamples.set(id, s);
        this.gateUsed.add(id);
      }
      yield;
    }
    return out;
  }

  /** A stored sample, or undefined when the store evicted it while paced work waited for slack. */
  private load(id: number): StoredSample | undefined {
    try {
      return this.store.get(id);
    } catch (err) {
      if (isPerceptionError(err, 'INVALID_ARGUMENT')) return undefined;
      throw err;
    }
  }
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
