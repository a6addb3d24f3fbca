import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { labelFromMessage, sampleFromMessage } from '../protocol/wire.js';
import { ADAPT_TRAINER } from './process.js';
import { encodeBundle, modelRef } from '../protocol/bundle.js';
import { ChannelClient, type ChannelEndpoints } from '../protocol/channel.js';
import type { ToLearner } from '../protocol/channel-codec.js';
import type { GateDecision, GateOptions } from './gate.js';
import { LearnerCore } from './learner-core.js';
import { keyFingerprint, type Identity, type PublicIdentity } from '../protocol/keys.js';
import type { LabelEvent } from './labels.js';
import { SampleStore } from './store.js';
import type { TrainerOptions } from './trainer.js';
import type { HeadName, Manifest } from '../../model/manifest.js';
import type { TailWeights } from '../../model/package.js';
import { nsToTime } from '../../msgs/index.js';
import { ADAPTATION_STATES, type AdaptationStateLabel, type WeightUpdate } from '../../msgs/adaptation.js';
import { loadModelPackage } from '../../model/package.js';
import { initTf } from './tails-tf.js';
import { PerceptionError } from '../../core/errors.js';
import { loadNodeKeys, rosHomeDir } from '../../ros/adaptation-keys.js';
import type { LearnerCorePort, LearnerNodePorts, LearnerParams, LearnerReport } from '../../ros/learner-node.js';
import type { NodeLog } from '../../ros/node-types.js';
import { SlackClosedError, SlackWindow } from './slack-window.js';

/**
 * The learner node's core under ROS 2: `LearnerCore` (store + label matching + trainer + gate)
 * fed by the perception node over the ZeroMQ channel (tail features of flagged frames, slack
 * grants and pauses, as in `replay --adapt`) and by the node's topics (labels, pause, rollback).
 * Training runs only inside a slack grant, scaled by `slackShare`, and never while paused.
 *
 * Promotion (the canonical weight path under ROS): the signed bundle is written to
 * `<stateDir>/bundles/vNNNNNN.bundle` (atomic rename) and announced as a WeightUpdate with a
 * `file://` URI, its size, sha256, signer and signature; the perception node fetches, checks
 * and swaps it. Bundles are not sent over the channel.
 */
export interface RosLearnerCoreOptions {
  readonly manifest: Manifest;
  /** The shipped tails (version 0): training starts from them and the gate measures regression against them. */
  readonly tails: TailWeights;
  readonly stateDir: string;
  readonly identity: Identity;
  readonly perception: PublicIdentity;
  readonly endpoints: ChannelEndpoints;
  readonly heads: readonly HeadName[];
  readonly minNewSamples: number;
  readonly stepsPerCandidate: number;
  readonly maxStoredSamples: number;
  /** Samples accepted per minute (sliding window); the rest are counted and dropped. */
  readonly maxFlagsPerMinute: number;
  /** Share of each slack grant used for training. */
  readonly slackShare: number;
  readonly announce: (msg: WeightUpdate) => boolean;
  /** Transport time, for message headers. */
  readonly now: () => bigint;
  readonly log: NodeLog;
  readonly gate?: GateOptions;
  readonly trainer?: TrainerOptions;
  /** Bundles kept in `bundles/` (default 5). */
  readonly keepBundles?: number;
}

const STATE = Object.fromEntries(ADAPTATION_STATES.map((s, i) => [s, i])) as Record<AdaptationStateLabel, number>;
const BUNDLE = /^v(\d{6,})\.bundle$/;
const bundleName = (v: number) => `v${String(v).padStart(6, '0')}.bundle`;

export class RosLearnerCore implements LearnerCorePort {
  readonly #o: RosLearnerCoreOptions;
  readonly #store: SampleStore;
  readonly #core: LearnerCore;
  #channel: ChannelClient | undefined;
  readonly #bundlesDir: string;
  /** Core versions restart at 1 with each process; bundles continue from the newest on disk. */
  readonly #versionBase: number;
  /** The newest version this learner promoted (its next bundle's parent). */
  #serving = 0;
  /** What perception says it serves (`serving` messages); undefined until it has said. */
  #perceptionServing: { version: number; reason: string } | undefined;
  #paused = false;
  #busy = false;
  /** Perception's grants, scaled by slackShare: a window of time, never a queue (slack-window.ts). */
  readonly #slack = new SlackWindow();
  #training: Promise<void> = Promise.resolve();
  #disposed = false;
  #listeners: (() => void)[] = [];
  #event: { state: AdaptationStateLabel; reason: string } = { state: 'idle', reason: 'waiting for flagged frames' };
  #last: GateDecision | undefined;
  #lastPromoted: GateDecision | undefined;
  readonly #budget: FlagBudget;
  readonly #n = { rosFlags: 0, samples: 0, referenceSamples: 0, droppedByRate: 0, malformed: 0, labels: 0, slackGrants: 0, slackWhilePaused: 0, slackWhileBusy: 0, steps: 0, bundles: 0 };

  private constructor(o: RosLearnerCoreOptions, store: SampleStore, versionBase: number) {
    this.#o = o;
    this.#store = store;
    this.#bundlesDir = join(o.stateDir, 'bundles');
    this.#versionBase = versionBase;
    this.#serving = versionBase;
    this.#budget = new FlagBudget(o.maxFlagsPerMinute);
    this.#core = new LearnerCore(
      o.manifest,
      o.tails,
      store,
      { clock: () => performance.now(), log: (l) => o.log('info', l), publishCandidate: (tails, d) => this.promote(tails, d), pacer: this.#slack },
      { minNewLabeled: o.minNewSamples, stepsPerCandidate: o.stepsPerCandidate, trainer: { ...ADAPT_TRAINER, ...o.trainer, heads: o.heads }, gate: o.gate },
    );
  }

  /** Opens the store, connects to perception's channel and says it is ready. */
  static async open(o: RosLearnerCoreOptions): Promise<RosLearnerCore> {
    await mkdir(join(o.stateDir, 'bundles'), { recursive: true, mode: 0o700 });
    const versions = (await readdir(join(o.stateDir, 'bundles'))).map((f) => Number(BUNDLE.exec(f)?.[1] ?? 0));
    const store = SampleStore.open(join(o.stateDir, 'samples.db'), { maxSamples: o.maxStoredSamples });
    const core = new RosLearnerCore(o, store, Math.max(0, ...versions));
    try {
      core.#channel = ChannelClient.connect({ endpoints: o.endpoints, keys: o.identity.curve, serverKey: o.perception.curveKey, log: (l) => o.log('warn', l), onMessage: (m) => core.#onMessage(m) });
    } catch (err) {
      core.#core.dispose();
      store.close();
      throw err;
    }
    void core.#channel.send({ kind: 'status', state: 'ready', detail: { store: store.file } }).catch((err: Error) => o.log('warn', `learner: perception did not take the ready status: ${err.message}`));
    o.log('info', `learner core: store ${store.file}, ${store.count()} sample(s); channel ${o.endpoints.uplink} / ${o.endpoints.downlink}; heads ${o.heads.join(',')}`);
    return core;
  }

  get classes(): readonly string[] {
    return this.#o.manifest.classes;
  }

  /** The learner's own LearnerCore status (tests and diagnostics). */
  status() {
    return { ...this.#core.status(), ...this.#n, paused: this.#paused };
  }

  /** A FlaggedFrame on the topic: counted (the sample itself comes over the channel). */
  flagged(): void {
    this.#n.rosFlags++;
    this.#changed();
  }

  /** An annotation from a label topic, matched to its sample by camera and stamp (possibly later). */
  label(ev: LabelEvent): void {
    this.#n.labels++;
    this.#core.onLabel(ev);
  }

  setPaused(paused: boolean): void {
    this.#paused = paused;
    if (paused) {
      this.#slack.revoke();
      this.#core.onPause();
    }
    this.#changed();
  }

  rollback(version: string): void {
    // Perception swaps back (it holds the previous sets); the learner records why. Its next
    // candidate still builds on its own newest tails and must pass the gate again.
    this.#set('rolled_back', `operator rollback to ${version || 'the previous version'}`);
  }

  report(): LearnerReport {
    const d = this.#last;
    const p = this.#lastPromoted;
    const state = this.#paused ? STATE.paused : this.#busy ? STATE.training : STATE[this.#event.state];
    const n = this.#n;
    const c = this.#core.status();
    return {
      model_name: modelRef(this.#o.manifest),
      // What perception serves, as it last said; '' until it has said (e.g. not yet connected).
      serving_version: this.#perceptionServing ? `v${this.#perceptionServing.version}` : '',
      candidate_version: this.#busy ? `v${this.#versionBase + c.version + 1}` : '',
      state,
      reason: this.#event.reason,
      flagged_frames: this.#store.count({ domain: 'new' }),
      labelled_frames: c.labeledNew,
      new_domain_score: d?.val_new_after ?? NaN,
      old_domain_score: d?.val_old_after ?? NaN,
      serving_new_domain_score: p?.val_new_after ?? d?.val_new_before ?? NaN,
      serving_old_domain_score: p?.val_old_after ?? d?.val_old_before ?? NaN,
      metrics: Object.entries({ ...n, promoted_version: `v${this.#serving}`, serving_reason: this.#perceptionServing?.reason ?? 'perception has not reported', stored: c.samples, labelled_old: c.labeledOld, steps_since_gate: c.stepsSinceGate, decisions: c.decisions }).map(([key, v]) => ({ key, value: String(v) })),
    };
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#slack.close();
    this.#core.onPause();
    await this.#training;
    await this.#channel?.close();
    this.#core.dispose();
    this.#store.close();
    this.#listeners = [];
  }

  #onMessage(msg: ToLearner): void {
    if (this.#disposed) return;
    try {
      switch (msg.kind) {
        case 'sample':
          this.#onSample(msg);
          break;
        case 'label':
          this.label(labelFromMessage(msg));
          break;
        case 'slack':
          this.#n.slackGrants++;
          if (this.#paused) {
            this.#n.slackWhilePaused++;
            break;
          }
          // A grant is for now: it opens the window. One that arrives while a slice still runs
          // starts no other (queued and run later, it could overlap frames); a paced gate in the
          // running slice goes on in it. A pause closes the window and stops training at its next step.
          this.#slack.grant(msg.grantMs * this.#o.slackShare);
          if (this.#busy) {
            this.#n.slackWhileBusy++;
            break;
          }
          this.#busy = true;
          this.#training = this.#slice(this.#slack.remainingMs())
            .catch((err: Error) => {
              if (!(err instanceof SlackClosedError)) this.#o.log('error', `training slice failed: ${err.message}`);
            })
            .finally(() => (this.#busy = false));
          break;
        case 'pause':
          this.#slack.revoke();
          this.#core.onPause();
          break;
        case 'serving':
          this.#perceptionServing = { version: msg.version, reason: msg.reason ?? '' };
          this.#changed();
          break;
      }
    } catch (err) {
      this.#n.malformed++;
      this.#o.log('warn', `learner: ${msg.kind} message refused: ${(err as Error).message}`);
    }
  }

  #onSample(msg: Extract<ToLearner, { kind: 'sample' }>): void {
    const sample = sampleFromMessage(msg);
    const now = performance.now();
    if (!this.#budget.allows(sample.domain, now)) {
      this.#n.droppedByRate++;
      return;
    }
    const r = this.#core.onSample(sample);
    if (r.id === null) return;
    this.#budget.spend(sample.domain, now);
    if (sample.domain === 'old') this.#n.referenceSamples++;
    this.#n.samples++;
    if (this.#event.state === 'idle') this.#set('collecting', 'flagged frames arriving; training starts with enough labels');
    else this.#changed();
  }

  async #slice(grantMs: number): Promise<void> {
    if (this.#disposed || this.#paused || grantMs < 1) return;
    const r = await this.#core.onSlack(grantMs);
    this.#n.steps += r.trained?.steps ?? 0;
    const d = r.decision;
    if (d) {
      this.#last = d;
      if (d.decision !== 'promote') this.#set('rejected', `v${this.#versionBase + d.version} refused by the gate: ${d.reason}`);
    }
  }

  /**
   * LearnerCore's publishCandidate port, called with every set the gate promoted: sign it as
   * the next version, write it under bundles/, announce it on adaptation/weights.
   */
  async promote(tails: TailWeights, d: GateDecision): Promise<void> {
    const version = this.#versionBase + d.version;
    const bytes = encodeBundle(
      { model: modelRef(this.#o.manifest), version, parent: this.#serving, created_s: Math.round(Date.now() / 1000), metrics: { val_new: d.val_new_after, val_old: d.val_old_after } },
      tails,
      this.#o.identity.signing.privateKey,
    );
    const file = join(this.#bundlesDir, bundleName(version));
    await writeAtomic(file, bytes);
    await this.#prune(version);
    this.#n.bundles++;
    const base = this.#serving;
    this.#serving = version;
    this.#lastPromoted = d;
    this.#last = d;
    const msg: WeightUpdate = {
      header: { stamp: nsToTime(this.#o.now()), frame_id: '' },
      model_name: modelRef(this.#o.manifest),
      version: `v${version}`,
      base_version: `v${base}`,
      heads: [...this.#o.heads],
      uri: pathToFileURL(file).href,
      size_bytes: BigInt(bytes.length),
      sha256: createHash('sha256').update(bytes).digest('hex'),
      key_id: keyFingerprint(this.#o.identity.signing.publicKey),
      signature: bytes.slice(bytes.length - 64),
      new_domain_score: d.val_new_after,
      old_domain_score: d.val_old_after,
    };
    const sent = this.#o.announce(msg);
    this.#set('promoted', `v${version} promoted (${d.reason})${sent ? '' : '; not announced: the node is not active'}`);
  }

  async #prune(newest: number): Promise<void> {
    const keep = this.#o.keepBundles ?? 5;
    const old = (await readdir(this.#bundlesDir)).map((f) => Number(BUNDLE.exec(f)?.[1] ?? NaN)).filter((v) => Number.isFinite(v) && v <= newest - keep);
    for (const v of old) await rm(join(this.#bundlesDir, bundleName(v)), { force: true });
  }

  #set(state: AdaptationStateLabel, reason: string): void {
    this.#event = { state, reason };
    this.#o.log('info', `learner: ${state}: ${reason}`);
    this.#changed();
  }

  #changed(): void {
    for (const l of this.#listeners) {
      try {
        l();
      } catch (err) {
        this.#o.log('error', `status listener: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * Flagged frames accepted per minute (sliding window). Only new-domain samples spend it:
 * old-domain reference frames arrive in one burst when the channel connects, and counted
 * against the budget they used it up, so the first real flags were dropped (seen live: 30 of
 * 40 reference frames stored, then 0 of 19 flags).
 */
export class FlagBudget {
  readonly #times: number[] = [];
  constructor(readonly perMinute: number) {}

  allows(domain: 'new' | 'old', nowMs: number): boolean {
    if (domain === 'old') return true;
    while (this.#times.length > 0 && nowMs - this.#times[0] > 60_000) this.#times.shift();
    return this.#times.length < this.perMinute;
  }

  spend(domain: 'new' | 'old', nowMs: number): void {
    if (domain === 'new') this.#times.push(nowMs);
  }
}

/** A reader sees the old file or the whole new one: temporary in the same folder, fsync, rename. */
async function writeAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** The learner node's default core, from its parameters (LEARNER_PARAMS). */
export async function createRosLearnerCore(params: LearnerParams, log: NodeLog, ports: LearnerNodePorts): Promise<RosLearnerCore> {
  const get = (n: string) => params.get(n);
  const modelDir = (get('model_path') as string) || ports.defaultModelDir;
  if (!modelDir) throw new PerceptionError('INVALID_CONFIG', 'model_path is empty and no default model folder was given', { field: 'model_path' });
  const pkg = await loadModelPackage(modelDir);
  const backend = await initTf((l) => log('info', l));
  const keys = await loadNodeKeys({ dir: (get('keys_dir') as string) || rosHomeDir('keys'), self: get('identity') as string, peer: get('perception_identity') as string, waitS: get('peer_wait_s') as number, log });
  log('info', `learner: tf backend ${backend}, model ${modelRef(pkg.manifest)}`);
  return RosLearnerCore.open({
    manifest: pkg.manifest,
    tails: pkg.tails,
    stateDir: (get('sample_store_dir') as string) || rosHomeDir('samples'),
    identity: keys.self,
    perception: keys.peer,
    endpoints: { uplink: get('uplink') as string, downlink: get('downlink') as string },
    heads: get('heads') as HeadName[],
    minNewSamples: get('min_new_samples') as number,
    stepsPerCandidate: get('steps_per_candidate') as number,
    maxStoredSamples: get('max_stored_samples') as number,
    maxFlagsPerMinute: get('max_flags_per_minute') as number,
    slackShare: get('training_slack_share') as number,
    announce: ports.announceWeights,
    now: ports.now,
    log,
  });
}
