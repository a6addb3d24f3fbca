import type { KeyObject } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { WeightSet } from '../../engine/weights.js';
import { isPerceptionError } from '../../core/errors.js';
import type { Manifest } from '../../model/manifest.js';
import { verifyBundle, type BundleRejectReason, type VerifiedBundle } from '../protocol/bundle.js';
import { readDurable, removeStaleTemps, renameDurable, writeDurable } from '../../core/durable.js';
import { HealthWatch, type FrameHealth, type HealthNumbers, type HealthOptions, type HealthVerdict } from './swap-health.js';

/**
 * Perception's side of a weight update: verify → build → probe → swap → watch → persist.
 *
 * Timing: `offer` does its slow parts (verification, building the set, the probe run) as
 * ordinary async work that the caller schedules between frames; no frame waits for it. The
 * swap itself is `engine.swapWeights`, synchronous, so it always lands between two runs; runs
 * already in flight finish on the set they captured, and the old set is only dropped (to the
 * GC) once it falls off the in-memory rollback stack.
 *
 * State folder (every file written with `writeDurable`: atomic rename + embedded sha256):
 *   v000003.bundle      a promoted bundle, exactly as received (re-verified on restore)
 *   v000002.rolledback  a bundle that was rolled back (never restored; kept for forensics)
 *   v000001.corrupt     a bundle that failed verification at restore
 *   current             JSON { version } — the version to run (0 = the model's shipped tails)
 * Version 0 always means the shipped weights; bundle versions start at 1 and only go up.
 */
export interface SwapPort {
  readonly currentWeights: WeightSet;
  makeWeightSet(tails: VerifiedBundle['tails'], id: string): WeightSet;
  swapWeights(next: WeightSet): WeightSet;
}

/** Outputs of one probe run, by name; float arrays are checked for NaN/Inf. */
export type ProbeOutputs = Readonly<Record<string, { readonly data: ArrayLike<unknown> }>>;
/** Runs one cached frame with a candidate set (never with the live set). */
export type ProbeFn = (candidate: WeightSet) => Promise<ProbeOutputs>;
/** Runs `image` with a candidate set, not swapped in (where frames run: a worker, or here). */
export type ProbeRun = (image: { width: number; height: number; data: Uint8Array }, candidate: WeightSet) => Promise<ProbeOutputs>;

/** The smallest rung of a model's input ladder: a probe only has to show that a set runs clean. */
export function probeSize(manifest: Pick<Manifest, 'input'>): [number, number] {
  const s = manifest.input.sizes.reduce((a, b) => (b[0] * b[1] < a[0] * a[1] ? b : a));
  return [s[0], s[1]];
}

export interface SwapManagerOptions {
  readonly engine: SwapPort;
  readonly manifest: Pick<Manifest, 'name' | 'version' | 'tails'>;
  readonly stateDir: string;
  /** Trusted bundle signers. */
  readonly publicKeys: readonly KeyObject[];
  /** Largest bundle accepted (default 16 MiB). */
  readonly maxBundleBytes?: number;
  readonly probe?: ProbeFn;
  readonly health?: Partial<HealthOptions>;
  /** Promoted bundles kept on disk (default 5). */
  readonly keepVersions?: number;
  /** Previous sets kept in memory for rollback (default 2). */
  readonly rollbackDepth?: number;
  /** Seconds, for event timestamps (default wall clock; replay passes bag time). */
  readonly now?: () => number;
  readonly log?: (line: string) => void;
  /** Called with every event as it is recorded (e.g. to tell the learner what is served). */
  readonly onEvent?: (e: SwapEvent) => void;
}

export type SwapRejectReason = BundleRejectReason | 'stale_version' | 'probe_failed' | 'superseded' | 'unreadable';

export type SwapEvent =
  | { readonly kind: 'received'; readonly at_s: number; readonly bytes: number }
  | { readonly kind: 'rejected'; readonly at_s: number; readonly reason: SwapRejectReason; readonly message: string; readonly version?: number }
  | { readonly kind: 'swapped'; readonly at_s: number; readonly version: number; readonly from: number }
  | { readonly kind: 'healthy'; readonly at_s: number; readonly version: number; readonly numbers: HealthNumbers }
  | { readonly kind: 'rolled_back'; readonly at_s: number; readonly from: number; readonly to: number; readonly reason: string; readonly numbers?: HealthNumbers }
  | { readonly kind: 'restored'; readonly at_s: number; readonly version: number; readonly skipped: readonly { version: number; why: string }[] }
  | { readonly kind: 'persist_failed'; readonly at_s: number; readonly version: number; readonly message: string };

export type OfferResult = { readonly ok: true; readonly version: number } | { readonly ok: false; readonly reason: SwapRejectReason; readonly message: string };

const FILE = /^v(\d{6,})\.(bundle|rolledback|corrupt)$/;
const bundleFile = (v: number) => `v${String(v).padStart(6, '0')}.bundle`;

export class SwapManager {
  readonly events: SwapEvent[] = [];
  private version = 0;
  private highest = 0;
  private readonly stack: { version: number; set: WeightSet }[] = [];
  private readonly watch: HealthWatch;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly o: Required<Omit<SwapManagerOptions, 'probe' | 'health' | 'log' | 'onEvent'>> & Pick<SwapManagerOptions, 'probe' | 'log' | 'onEvent'>;

  private constructor(options: SwapManagerOptions) {
    this.o = { maxBundleBytes: 16 << 20, keepVersions: 5, rollbackDepth: 2, now: () => Date.now() / 1000, ...options };
    this.watch = new HealthWatch(options.health);
  }

  /** Opens the state folder and comes back on the latest good promoted version (see `restore`). */
  static async open(options: SwapManagerOptions): Promise<SwapManager> {
    const m = new SwapManager(options);
    await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    await m.restore();
    return m;
  }

  /** The running bundle version (0 = shipped tails). */
  get currentVersion(): number {
    return this.version;
  }

  /** Verifies, probes and swaps in a bundle. Never throws for a bad bundle: the result and the event log say why. */
  offer(bytes: Uint8Array): Promise<OfferResult> {
    const p = this.chain.then(() => this.offerNow(bytes));
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Feeds one frame's health. After a swap, a degraded verdict rolls back at once (the swap
   * back is synchronous, before this returns); persistence of the rollback follows.
   */
  observe(frame: FrameHealth): HealthVerdict {
    const v = this.watch.observe(frame);
    if (v.kind === 'healthy') this.record({ kind: 'healthy', at_s: this.now(), version: this.version, numbers: v.numbers });
    if (v.kind === 'degraded') void this.rollback(`${v.reason}: ${v.detail}`, v.numbers);
    return v;
  }

  /**
   * Goes back to the previous set (swap synchronous, now), marks the abandoned version rolled
   * back on disk and points `current` at the previous one. False when there is nothing to go back to.
   */
  rollback(reason: string, numbers?: HealthNumbers): Promise<boolean> {
    const prev = this.stack.pop();
    if (prev === undefined) {
      this.log(`swap: rollback (${reason}) refused: no previous weights in memory (running v${this.version})`);
      return Promise.resolve(false);
    }
    const from = this.version;
    this.o.engine.swapWeights(prev.set);
    this.version = prev.version;
    this.watch.disarm();
    this.record({ kind: 'rolled_back', at_s: this.now(), from, to: prev.version, reason, ...(numbers ? { numbers } : {}) });
    this.log(`swap: rolled back v${from} → v${prev.version}: ${reason}`);
    const p = this.chain.then(async () => {
      try {
        if (from > 0) await renameDurable(this.path(bundleFile(from)), this.path(bundleFile(from).replace('.bundle', '.rolledback'))).catch(() => undefined);
        await this.writePointer(prev.version);
      } catch (err) {
        this.persistFailed(prev.version, err);
      }
      return true;
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Resolves once queued offers, rollbacks and their writes are done. */
  async idle(): Promise<void> {
    await this.chain;
  }

  private async offerNow(bytes: Uint8Array): Promise<OfferResult> {
    this.record({ kind: 'received', at_s: this.now(), bytes: bytes?.length ?? 0 });
    let bundle: VerifiedBundle;
    try {
      bundle = verifyBundle(bytes, { publicKeys: this.o.publicKeys, manifest: this.o.manifest, maxBytes: this.o.maxBundleBytes });
    } catch (err) {
      const reason = (isPerceptionError(err, 'WEIGHTS_REJECTED') ? err.context.reason : 'unreadable') as SwapRejectReason;
      return this.reject(reason, (err as Error).message, undefined);
    }
    const v = bundle.meta.version;
    if (v <= this.highest) return this.reject('stale_version', `bundle v${v} is not newer than v${this.highest} (versions only go up)`, v);
    const base = this.o.engine.currentWeights;
    let set: WeightSet;
    try {
      set = this.o.engine.makeWeightSet(bundle.tails, `${bundle.meta.model}#v${v}`);
      if (this.o.probe) checkFinite(await this.o.probe(set));
    } catch (err) {
      return this.reject('probe_failed', `candidate v${v} failed its probe run: ${(err as Error).message}`, v);
    }
    if (this.o.engine.currentWeights !== base) return this.reject('superseded', `the weights changed while v${v} was being probed`, v);
    const prev = this.o.engine.swapWeights(set); // a frame boundary: runs in flight keep `prev`
    this.stack.push({ version: this.version, set: prev });
    if (this.stack.length > this.o.rollbackDepth) this.stack.shift();
    const from = this.version;
    this.version = v;
    this.highest = v;
    this.watch.arm();
    this.record({ kind: 'swapped', at_s: this.now(), version: v, from });
    this.log(`swap: v${from} → v${v} (${bundle.meta.model}, ${bytes.length} bytes)`);
    try {
      await writeDurable(this.path(bundleFile(v)), bytes);
      await this.writePointer(v);
      await this.prune();
    } catch (err) {
      this.persistFailed(v, err);
    }
    return { ok: true, version: v };
  }

  /**
   * Start-up: removes half-written temporaries, then runs the version `current` names,
   * falling back through older promoted bundles (each re-verified: signature, hash, shapes)
   * when it is corrupt, and to the shipped tails when none is usable.
   */
  private async restore(): Promise<void> {
    for (const t of await removeStaleTemps(this.o.stateDir)) this.log(`swap: removed ${t}, left by an interrupted write`);
    const files = await readdir(this.o.stateDir);
    const promoted: number[] = [];
    for (const f of files) {
      const m = FILE.exec(f);
      if (!m) continue;
      const v = Number(m[1]);
      this.highest = Math.max(this.highest, v);
      if (m[2] === 'bundle') promoted.push(v);
    }
    promoted.sort((a, b) => b - a);
    let pointer: number | undefined;
    try {
      const json = JSON.parse((await readDurable(this.path('current'))).toString('utf8')) as { version?: unknown };
      if (Number.isSafeInteger(json.version) && (json.version as number) >= 0) pointer = json.version as number;
      else throw new Error(`bad version ${JSON.stringify(json.version)}`);
    } catch (err) {
      const missing = isPerceptionError(err, 'IO') && err.context.reason === 'missing';
      if (!missing) this.log(`swap: state pointer ${this.path('current')} is unusable (${(err as Error).message}); using the newest good bundle`);
      if (missing) pointer = 0;
    }
    this.highest = Math.max(this.highest, pointer ?? 0);
    const candidates = promoted.filter((v) => pointer === undefined || v <= pointer);
    const skipped: { version: number; why: string }[] = [];
    const shipped = this.o.engine.currentWeights;
    for (const v of candidates) {
      try {
        const bytes = await readDurable(this.path(bundleFile(v)));
        const b = verifyBundle(bytes, { publicKeys: this.o.publicKeys, manifest: this.o.manifest, maxBytes: this.o.maxBundleBytes });
        if (b.meta.version !== v) throw new Error(`file holds v${b.meta.version}`);
        this.o.engine.swapWeights(this.o.engine.makeWeightSet(b.tails, `${b.meta.model}#v${v}`));
        this.version = v;
        break;
      } catch (err) {
        skipped.push({ version: v, why: (err as Error).message });
        this.log(`swap: promoted v${v} is unusable (${(err as Error).message}); falling back to an older version`);
        await renameDurable(this.path(bundleFile(v)), this.path(bundleFile(v).replace('.bundle', '.corrupt'))).catch(() => undefined);
      }
    }
    if (this.version > 0) this.stack.push({ version: 0, set: shipped });
    if (this.version !== pointer) await this.writePointer(this.version).catch((err) => this.persistFailed(this.version, err));
    this.record({ kind: 'restored', at_s: this.now(), version: this.version, skipped });
    this.log(`swap: restored v${this.version}${this.version === 0 ? ' (shipped tails)' : ''}${skipped.length ? `, skipped ${skipped.map((s) => `v${s.version}`).join(', ')}` : ''}`);
  }

  private async prune(): Promise<void> {
    const kept = (await readdir(this.o.stateDir)).filter((f) => FILE.test(f)).sort();
    const bundles = kept.filter((f) => f.endsWith('.bundle'));
    for (const f of bundles.slice(0, Math.max(0, bundles.length - this.o.keepVersions))) {
      // The running version and the rollback targets stay, whatever their age.
      const v = Number(FILE.exec(f)?.[1]);
      if (v !== this.version && !this.stack.some((s) => s.version === v)) await renameDurable(this.path(f), this.path(f.replace('.bundle', '.rolledback'))).catch(() => undefined);
    }
  }

  private writePointer(version: number): Promise<void> {
    return writeDurable(this.path('current'), Buffer.from(JSON.stringify({ version }), 'utf8'));
  }

  private reject(reason: SwapRejectReason, message: string, version: number | undefined): OfferResult {
    this.record({ kind: 'rejected', at_s: this.now(), reason, message, ...(version !== undefined ? { version } : {}) });
    this.log(`swap: rejected a weight bundle (${reason}); still running v${this.version}: ${message}`);
    return { ok: false, reason, message };
  }

  private persistFailed(version: number, err: unknown): void {
    this.record({ kind: 'persist_failed', at_s: this.now(), version, message: (err as Error).message });
    this.log(`swap: could not persist v${version} (${(err as Error).message}); a restart would come back on an older version`);
  }

  private record(e: SwapEvent): void {
    this.events.push(e);
    this.o.onEvent?.(e);
  }
  private now(): number {
    return this.o.now();
  }
  private log(line: string): void {
    this.o.log?.(line);
  }
  private path(name: string): string {
    return join(this.o.stateDir, name);
  }
}

function checkFinite(out: ProbeOutputs): void {
  for (const [name, t] of Object.entries(out)) {
    const d = t?.data;
    if (!(d instanceof Float32Array || d instanceof Float64Array)) continue;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) throw new Error(`output '${name}' value [${i}] is ${d[i]}`);
    }
  }
}
