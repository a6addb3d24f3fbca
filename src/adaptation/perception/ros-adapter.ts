import { DEFAULT_REFERENCE_BAG } from '../../core/paths.js';
import { FEATURE_OUTPUTS, flaggedSample, frameHealth, openPerceptionSwaps, REFERENCE_SEND_WAIT_MS, referenceMessages, SlackRelay } from './perception-parts.js';
import { readReferenceSet } from './reference-set.js';
import { sampleToMessage } from '../protocol/wire.js';
import { DEFAULT_OUTPUTS, Engine } from '../../engine/engine.js';
import { isPerceptionError } from '../../core/errors.js';
import { ChannelServer, type ChannelEndpoints } from '../protocol/channel.js';
import type { ToPerception } from '../protocol/channel-codec.js';
import { Flagger, type FlagDecision, type FlaggerOptions } from './flagger.js';
import type { Identity, PublicIdentity } from '../protocol/keys.js';
import type { FlagReasonKind } from '../learner/store-types.js';
import type { OfferResult, SwapEvent, SwapManager } from './swap.js';
import { nsToTime } from '../../msgs/index.js';
import type { RgbImage } from '../../pipeline/image-decode.js';
import { Perception, type FrameResult } from '../../pipeline/perception.js';
import type { Scheduler } from '../../scheduler/index.js';
import type { FlaggedFrame, WeightUpdate } from '../../msgs/adaptation.js';
import { loadNodeKeys, rosHomeDir } from '../../ros/adaptation-keys.js';
import type { NodeLog } from '../../ros/node-types.js';
import { fetchAnnouncedBundle } from './weight-fetch.js';

/** FlaggedFrame.TRIGGER_* (msgs/msg/FlaggedFrame.msg). */
export const TRIGGER = { OPERATOR: 0, LOW_CONFIDENCE: 1, TEMPORAL_INCONSISTENCY: 2, DOMAIN_SHIFT: 3 } as const;

export interface PerceptionAdaptationOptions {
  readonly engine: Engine;
  /** SwapManager's folder: promoted bundles and the `current` pointer (a restart comes back on it). */
  readonly stateDir: string;
  /** This node's identity (its CURVE keys serve the channel). */
  readonly identity: Identity;
  /** The learner: its CURVE key is the channel's allow-list, its Ed25519 key the only trusted signer. */
  readonly learner: PublicIdentity;
  readonly endpoints: ChannelEndpoints;
  readonly flagger?: FlaggerOptions;
  readonly maxBundleBytes: number;
  /** Processed frames kept per camera for operator flags (default 4). */
  readonly keepFrames?: number;
  /**
   * The old-domain reference set (see adapt/reference-set.ts): `referenceFrames` frames
   * spread over `referenceBag`, run on a short-lived engine of `modelDir`, go to the learner the
   * first time it is heard from. Without it the gate has no old-domain set and refuses every
   * candidate. Skipped when any of the three is missing or 0.
   */
  readonly referenceBag?: string;
  readonly referenceFrames?: number;
  readonly modelDir?: string;
  /** Publishes an automatic or operator flag on `adaptation/flagged`. */
  readonly publishFlagged: (msg: FlaggedFrame) => void;
  readonly log: NodeLog;
}

export interface AdaptationCounts {
  readonly servingVersion: number;
  readonly swaps: number;
  readonly rollbacks: number;
  /** Weight updates refused, by SwapManager (verification, probe, version) or before it (URI, size, hash). */
  readonly rejected: number;
  readonly lastRejected?: string;
  readonly flags: number;
  readonly operatorFlags: number;
  readonly samplesSent: number;
  readonly learnerConnected: boolean;
}

const REASON_TRIGGER: Record<FlagReasonKind, number> = { uncertainty: TRIGGER.LOW_CONFIDENCE, entropy: TRIGGER.LOW_CONFIDENCE, temporal: TRIGGER.TEMPORAL_INCONSISTENCY, drift: TRIGGER.DOMAIN_SHIFT, manual: TRIGGER.OPERATOR };

/**
 * The perception node's side of online adaptation under ROS 2. The same pieces as
 * `replay --adapt` (flagger, ZeroMQ channel, SwapManager, slack relay), wired to topics:
 * - every processed frame goes through the Flagger; a flag is published as a FlaggedFrame and
 *   its tail features go to the learner over the channel (a ROS message has no place for them);
 * - operator flags pick the frame kept for that camera and stamp (or the next one);
 * - a WeightUpdate's bundle is fetched (`file://`), checked against the announcement and
 *   offered to SwapManager (verify, probe, swap between frames, health watch, auto rollback);
 * - the scheduler's slack is relayed to the learner, which trains only then.
 * Nothing here throws at the node for bad input: it is logged and counted.
 */
export class PerceptionAdaptation {
  readonly #o: PerceptionAdaptationOptions;
  readonly #flagger: Flagger;
  readonly #slack: SlackRelay;
  readonly #recent = new Map<string, { ring: (FrameResult | undefined)[]; next: number }>();
  #lastImage: RgbImage | undefined;
  #fetchRejected = 0;
  #lastFetchRejected: string | undefined;
  #flags = 0;
  #operatorFlags = 0;
  #samplesSent = 0;
  #learnerHeard = false;
  #referenceSent: Promise<number> = Promise.resolve(0);
  #closed = false;

  private constructor(
    o: PerceptionAdaptationOptions,
    private readonly channel: ChannelServer,
    readonly swaps: SwapManager,
  ) {
    this.#o = o;
    const m = o.engine.manifest;
    // A node runs for days: no total cap on flags (the learner's store evicts the oldest).
    this.#flagger = new Flagger({ featureStats: m.feature_stats && m.feature_stats.mean.length > 0 ? m.feature_stats : undefined, maxTotal: Number.MAX_SAFE_INTEGER, ...o.flagger });
    this.#slack = new SlackRelay(channel);
  }

  static async open(o: PerceptionAdaptationOptions): Promise<PerceptionAdaptation> {
    const ref: { self?: PerceptionAdaptation } = {};
    const log = (line: string) => o.log('info', line);
    const swaps = await openPerceptionSwaps({
      engine: o.engine,
      stateDir: o.stateDir,
      signers: [o.learner.signingKey],
      lastImage: () => (ref.self ? ref.self.#lastImage : undefined),
      maxBundleBytes: o.maxBundleBytes,
      log,
      onEvent: (e) => ref.self && ref.self.#onSwapEvent(e),
    });
    const channel = await ChannelServer.bind({ endpoints: o.endpoints, keys: o.identity.curve, allowedClients: [o.learner.curveKey], log, onMessage: (m) => ref.self && ref.self.#onLearnerMessage(m) });
    ref.self = new PerceptionAdaptation(o, channel, swaps);
    return ref.self;
  }

  /** Where the channel listens (ports resolved). */
  get endpoints(): ChannelEndpoints {
    return this.channel.endpoints;
  }

  get servingVersion(): number {
    return this.swaps.currentVersion;
  }

  counts(): AdaptationCounts {
    let swaps = 0;
    let rollbacks = 0;
    let rejected = this.#fetchRejected;
    let lastRejected = this.#lastFetchRejected;
    for (const e of this.swaps.events) {
      if (e.kind === 'swapped') swaps++;
      else if (e.kind === 'rolled_back') rollbacks++;
      else if (e.kind === 'rejected') {
        rejected++;
        lastRejected = `${e.reason}: ${e.message}`;
      }
    }
    return { servingVersion: this.servingVersion, swaps, rollbacks, rejected, lastRejected, flags: this.#flags, operatorFlags: this.#operatorFlags, samplesSent: this.#samplesSent, learnerConnected: this.#learnerHeard };
  }

  /** Relays this scheduler's slack to the learner (a rebuilt scheduler is attached again). */
  attach(scheduler: Pick<Scheduler<unknown, unknown>, 'requestSlack'>): void {
    if (!this.#closed) this.#slack.attach(scheduler);
  }

  detach(): void {
    this.#slack.stop();
  }

  /** Every processed frame, in stamp order per camera, at the frame boundary. */
  onFrame(r: FrameResult, image: RgbImage): void {
    if (this.#closed) return;
    this.#lastImage = image;
    this.#keep(r);
    const decision = this.#flagger.observe({ camera: r.camera, stampNs: r.stampNs, detections: r.boxes, segEntropy: r.segEntropy, featMean: r.tensors.feat_mean?.data as Float32Array | undefined });
    this.swaps.observe(frameHealth(r, this.#flagger.triggered));
    if (decision) this.#flag(r, decision);
  }

  /**
   * An operator flag: the kept frame of `camera` at `stampNs` (0: the newest kept) is flagged
   * now; a stamp newer than every kept frame flags the next frame at or after it. False when
   * the frame is no longer kept.
   */
  operatorFlag(camera: string, stampNs: bigint): boolean {
    const kept = this.#recent.get(camera);
    const frames = kept ? kept.ring.filter((f): f is FrameResult => f !== undefined) : [];
    const newest = frames.reduce<FrameResult | undefined>((a, f) => (a === undefined || f.stampNs > a.stampNs ? f : a), undefined);
    const hit = stampNs === 0n ? newest : frames.find((f) => f.stampNs === stampNs);
    if (hit) {
      this.#operatorFlags++;
      this.#flag(hit, { reasons: ['manual'], scores: { ambiguousFraction: 0, segEntropy: hit.segEntropy, flicker: 0, drift: 0 } });
      return true;
    }
    if (newest === undefined || stampNs > newest.stampNs) {
      this.#operatorFlags++;
      this.#flagger.requestManual(camera, stampNs);
      this.#o.log('info', `operator flag for ${camera} at ${stampNs} ns: the next frame at or after it will be flagged`);
      return true;
    }
    this.#o.log('warn', `operator flag for ${camera} at ${stampNs} ns refused: that frame is no longer kept (only the last ${this.#keepFrames} per camera are)`);
    return false;
  }

  /** A WeightUpdate: fetch and check the bundle, then offer it to SwapManager. Never throws. */
  onWeights(msg: WeightUpdate): Promise<OfferResult> {
    // Copied now: the transport may reuse the message once the hook returns.
    return this.#fetchAndOffer({ uri: msg.uri, size_bytes: msg.size_bytes, sha256: msg.sha256, version: msg.version, signature: Uint8Array.from(msg.signature) });
  }

  async #fetchAndOffer(msg: Pick<WeightUpdate, 'uri' | 'size_bytes' | 'sha256' | 'signature' | 'version'>): Promise<OfferResult> {
    let bytes: Uint8Array;
    try {
      bytes = await fetchAnnouncedBundle(msg, this.#o.maxBundleBytes);
    } catch (err) {
      const reason = isPerceptionError(err, 'WEIGHTS_REJECTED') ? String(err.context.reason) : 'unreadable';
      this.#fetchRejected++;
      this.#lastFetchRejected = `${reason}: ${(err as Error).message}`;
      this.#o.log('warn', `weight update ${msg.version} refused (${reason}); still serving v${this.servingVersion}: ${(err as Error).message}`);
      return { ok: false, reason: 'unreadable', message: (err as Error).message };
    }
    return this.#offer(bytes, `weight update ${msg.version}`);
  }

  /**
   * Rolls back to `version` (`v2` or `2`), or to the previous version when empty, one step at
   * a time through the versions kept in memory. False when the target cannot be reached.
   */
  async rollback(version: string): Promise<boolean> {
    const text = version.trim();
    const target = text === '' ? undefined : Number(text.replace(/^v/, ''));
    if (target !== undefined && !(Number.isSafeInteger(target) && target >= 0)) {
      this.#o.log('warn', `rollback to ${JSON.stringify(version)} refused: not a version (v<N> or <N>)`);
      return false;
    }
    if (target === undefined) return this.swaps.rollback('operator request');
    while (this.servingVersion > target) {
      if (!(await this.swaps.rollback(`operator request (to v${target})`))) break;
    }
    if (this.servingVersion !== target) {
      this.#o.log('warn', `rollback to v${target} incomplete: serving v${this.servingVersion} (only the previous versions held in memory can be rolled back to)`);
      return false;
    }
    return true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#slack.stop();
    // A bundle that was waiting for a slack window is offered now; the swaps then settle.
    await this.#slack.idle();
    await this.swaps.idle();
    await this.channel.close();
  }

  get #keepFrames(): number {
    return this.#o.keepFrames ?? 4;
  }

  /** Results are the run's own arrays (the engine allocates per run), so keeping a reference is safe and costs no copy. */
  #keep(r: FrameResult): void {
    let kept = this.#recent.get(r.camera);
    if (!kept) this.#recent.set(r.camera, (kept = { ring: new Array<FrameResult | undefined>(this.#keepFrames).fill(undefined), next: 0 }));
    kept.ring[kept.next] = r;
    kept.next = (kept.next + 1) % kept.ring.length;
  }

  #flag(r: FrameResult, decision: Pick<FlagDecision, 'reasons' | 'scores'>): void {
    this.#flags++;
    const sample = flaggedSample(r, decision);
    if (sample) {
      this.#samplesSent++;
      this.#slack.sendInSlack(sampleToMessage(sample));
    }
    const first = decision.reasons[0] ?? 'manual';
    const s = decision.scores;
    const score = { uncertainty: s.ambiguousFraction, entropy: s.segEntropy, temporal: s.flicker, drift: s.drift, manual: 0 }[first];
    const m = this.#o.engine.manifest;
    this.#o.publishFlagged({
      header: { stamp: nsToTime(r.stampNs), frame_id: `${r.camera}_camera_optical_frame` },
      camera: r.camera,
      trigger: REASON_TRIGGER[first],
      reason: decision.reasons.join(', ') + (sample ? '' : ' (no features: not sent to the learner)'),
      score: Number.isFinite(score) ? score : 0,
      model_version: `${m.name}@${m.version}#v${this.servingVersion}`,
      // Kept empty: the learner trains on the tail features sent over the channel, and encoding
      // an image on the hot path for a message nobody trains on is not worth its cost.
      image: { header: { stamp: nsToTime(r.stampNs), frame_id: `${r.camera}_camera_optical_frame` }, format: '', data: new Uint8Array(0) },
    });
  }

  async #offer(bytes: Uint8Array, what: string): Promise<OfferResult> {
    // Verification, build and probe run in the scheduler's next slack window (at most a second
    // away), not on a frame's time: the probe shares the inference worker with the cameras.
    const r = await this.#slack.runInSlack(() => this.swaps.offer(bytes));
    if (r.ok) this.#o.log('info', `${what}: swapped to v${r.version}`);
    else this.#o.log('warn', `${what} refused (${r.reason}); still serving v${this.servingVersion}: ${r.message}`);
    return r;
  }

  /** Resolves to the number of reference frames sent to the learner (0 until it connects, or when none). */
  referenceSent(): Promise<number> {
    return this.#referenceSent;
  }

  /**
   * Sends the reference set on an engine of its own (one ONNX Runtime thread, disposed after):
   * the node's engine is serving the cameras, and the reference frames must not take their turns.
   */
  async #sendReferenceSet(): Promise<number> {
    const { referenceBag, referenceFrames, modelDir } = this.#o;
    if (!referenceBag || !modelDir || !referenceFrames) return 0;
    let engine: Engine | undefined;
    try {
      engine = await Engine.create({ modelDir, providers: ['cpu'], threads: 1, outputs: [...DEFAULT_OUTPUTS, ...FEATURE_OUTPUTS] });
      const perception = new Perception(engine, { scoreThreshold: 0.3, denseAtCameraSize: false, overlayWidth: 64 });
      const classes = engine.manifest.classes;
      const { frames, delivered } = await readReferenceSet(
        referenceBag,
        referenceFrames,
        (camera, stampNs, image) => perception.process(camera, stampNs, image),
        async (r, truth) => {
          let ok = true;
          for (const m of referenceMessages(r, truth, classes) ?? []) ok = (await this.channel.send(m, { waitMs: REFERENCE_SEND_WAIT_MS })) && ok;
          return ok;
        },
      );
      if (delivered < frames) this.#o.log('warn', `sent ${delivered} of ${frames} old-domain reference frames from ${referenceBag} to the learner (the rest found the learner's queue full)`);
      else this.#o.log('info', `sent ${delivered} old-domain reference frames from ${referenceBag} to the learner`);
      return delivered;
    } catch (err) {
      this.#o.log('warn', `old-domain reference set not sent (the learner's gate refuses candidates without one): ${(err as Error).message}`);
      return 0;
    } finally {
      await engine?.dispose();
    }
  }

  /** The learner reports what perception serves: tell it whenever that changes, or is confirmed. */
  #onSwapEvent(e: SwapEvent): void {
    switch (e.kind) {
      case 'swapped':
        return this.#tellServing(`swapped from v${e.from}`);
      case 'rolled_back':
        return this.#tellServing(`rolled back from v${e.from}: ${e.reason}`);
      case 'rejected':
        return this.#tellServing(`v${e.version ?? '?'} refused (${e.reason})`);
      case 'received':
      case 'healthy':
      case 'restored':
      case 'persist_failed':
        return;
    }
  }

  #tellServing(reason: string): void {
    if (this.#closed) return;
    this.channel.send({ kind: 'serving', version: this.servingVersion, reason: reason.slice(0, 256) }).catch((err: Error) => this.#o.log('warn', `could not tell the learner the serving version: ${err.message}`));
  }

  #onLearnerMessage(msg: ToPerception): void {
    switch (msg.kind) {
      case 'bundle':
        // The standalone `adaptive-perception learner` ships bundles over the channel; the ROS
        // learner announces them on adaptation/weights. Both go through the same checks.
        void this.#offer(msg.bytes, `bundle v${msg.version} (channel)`);
        break;
      case 'status':
        if (!this.#learnerHeard) {
          this.#o.log('info', `learner connected over the channel (${msg.state})`);
          this.#tellServing('learner connected');
          this.#referenceSent = this.#sendReferenceSet();
        }
        this.#learnerHeard = true;
        break;
    }
  }
}


/** Opens the adaptation from the node's `adaptation.*` parameters (keys and state folder default under $ROS_HOME). */
export async function openAdaptationFromParams(get: (name: string) => unknown, engine: Engine, publishFlagged: (msg: FlaggedFrame) => void, log: NodeLog, flagger: FlaggerOptions = {}, modelDir?: string): Promise<PerceptionAdaptation> {
  const str = (n: string) => get(`adaptation.${n}`) as string;
  const keys = await loadNodeKeys({ dir: str('keys_dir') || rosHomeDir('keys'), self: str('identity'), peer: str('learner_identity'), waitS: get('adaptation.peer_wait_s') as number, log });
  return PerceptionAdaptation.open({
    engine,
    stateDir: str('state_dir') || rosHomeDir('perception-state'),
    identity: keys.self,
    learner: keys.peer,
    endpoints: { uplink: str('uplink'), downlink: str('downlink') },
    flagger: { perMinute: get('adaptation.max_flags_per_minute') as number, ...flagger },
    maxBundleBytes: get('adaptation.max_bundle_bytes') as number,
    referenceBag: str('reference_bag') || DEFAULT_REFERENCE_BAG,
    referenceFrames: get('adaptation.reference_frames') as number,
    modelDir,
    publishFlagged,
    log,
  });
}
