import type { KeyObject } from 'node:crypto';
import type { Engine } from '../../engine/engine.js';
import type { RgbImage } from '../../pipeline/image-decode.js';
import type { FrameResult } from '../../pipeline/perception.js';
import type { FrameTensors } from '../../pipeline/perception-worker.js';
import { encodeJpeg } from '../../pipeline/image-encode.js';
import type { Scheduler } from '../../scheduler/index.js';
import { ChannelServer, type ChannelEndpoints } from '../protocol/channel.js';
import type { LabelMessage, SampleMessage, ToPerception } from '../protocol/channel-codec.js';
import type { CurveKeys } from '../protocol/keys.js';
import { sampleToMessage } from '../protocol/wire.js';
import type { FlaggedSample } from '../learner/store-types.js';
import { Flagger, type FlagDecision, type FlaggerOptions } from './flagger.js';
import { flaggedSample, frameHealth, openPerceptionSwaps, REFERENCE_SEND_WAIT_MS, SlackRelay, tailFeatures } from './perception-parts.js';
import type { OfferResult, ProbeRun, SwapEvent, SwapManager } from './swap.js';

/**
 * Perception's side of online adaptation: ONE adapter for `replay --adapt` and the ROS 2
 * perception node. Every processed frame goes through the Flagger; a flagged frame's tail
 * features go to the learner over the CURVE-authenticated ZeroMQ channel in the scheduler's
 * next slack window; the scheduler's slack is relayed to the learner (which trains only then);
 * weight bundles (from the channel, or fetched by the caller from an announcement) are
 * verified, probed and hot-swapped between frames in a slack window, with a health watch and
 * automatic rollback. The learner is told which version is served.
 *
 * What differs between the compositions goes through small ports:
 * - `onFlag`: where flags go (the ROS node publishes FlaggedFrame; replay's annotator learns
 *   which frames may get labels);
 * - `sendLabel`: labels that come from perception's side (replay's annotator); under ROS labels
 *   reach the learner on topics instead;
 * - `referenceSet`: where the old-domain reference set comes from, sent when a learner connects;
 * - `takeHeld`: where a flagged frame's features are when the result came without them (an
 *   inference worker that holds them back).
 * Nothing here throws at the caller for bad input from the learner: it is logged and counted.
 */
export interface PerceptionAdapterOptions {
  readonly engine: Engine;
  /** SwapManager's folder: promoted bundles and the `current` pointer (a restart comes back on it). */
  readonly stateDir: string;
  /** The channel: where it binds, this side's CURVE keys, the learners allowed to connect. */
  readonly endpoints: ChannelEndpoints;
  readonly keys: CurveKeys;
  readonly allowedLearners: readonly string[];
  /** Trusted bundle signers (the learner's Ed25519 public key). */
  readonly signers: readonly KeyObject[];
  readonly maxBundleBytes?: number;
  readonly flagger?: FlaggerOptions;
  /** Most frames flagged in all (a label budget); default unlimited (a node runs for days). */
  readonly maxFlags?: number;
  /** Processed frames kept per camera for operator flags (default 4). */
  readonly keepFrames?: number;
  /** Seconds, for swap events (replay: bag time; default wall clock). */
  readonly now?: () => number;
  readonly log: (level: 'info' | 'warn' | 'error', line: string) => void;
  /** Where candidate probes run (see PerceptionSwapsOptions.probeRun). */
  readonly probeRun?: ProbeRun;
  /** Port: a frame was flagged (`sent`: its sample went to the learner). */
  readonly onFlag?: (flag: FlagEvent) => void;
  /** Port: the raw outputs a worker held back for a frame. */
  readonly takeHeld?: (camera: string, stampNs: bigint) => Promise<FrameTensors | undefined>;
  /** Port: the old-domain reference set, produced when a learner first connects (see ReferenceSource). */
  readonly referenceSet?: ReferenceSource;
  /**
   * Send each flagged frame's picture (JPEG) with its sample, for a learner that labels frames
   * with a teacher model. Default: as the learner asks in its ready status (`images: true`).
   */
  readonly sendImages?: boolean;
  /**
   * Port: a camera's intrinsics for frames of `size` and the factor its metric depth carries
   * (CameraFocals.intrinsics). With it, a flagged frame sent with its picture also carries what
   * the serving model made of it (FlaggedSample.view): the learner's label-free depth cue.
   */
  readonly intrinsics?: (camera: string, size: { readonly width: number; readonly height: number }) => { k: [number, number, number, number]; depthScale: number } | undefined;
  /** Port: the camera's mount — height above the ground (m), optical axis below it (rad, + down) — where the robot knows it (its TF), sent with the view. */
  readonly cameraMount?: (camera: string) => { readonly heightM: number; readonly pitchRad?: number } | undefined;
}

export interface FlagEvent {
  readonly result: FrameResult;
  readonly decision: Pick<FlagDecision, 'reasons' | 'scores'>;
  /** False when no tail features were available: nothing went to the learner. */
  readonly sent: boolean;
  readonly servingVersion: number;
}

/**
 * Produces the reference frames and hands each, with its ground truth, to `send` (which resolves
 * true once the learner's queue took it). Resolves to the frames produced and delivered.
 */
export type ReferenceSource = (send: (messages: readonly (SampleMessage | LabelMessage)[]) => Promise<boolean>) => Promise<{ frames: number; delivered: number }>;

/** A gate decision as the learner reported it: scores, verdict and, per set, each head's figures. */
export interface GateRecord {
  readonly val_new: number | null;
  readonly val_old: number | null;
  readonly decision: string;
  readonly heads?: { readonly [set: string]: { readonly det_map50: number | null; readonly lane_iou: number | null; readonly depth_absrel: number | null; readonly samples: number } };
  /** Heads whose serving tail the promoted set kept (the candidate's scored worse there). */
  readonly reverted?: readonly string[];
}

export interface AdaptationCounts {
  readonly servingVersion: number;
  readonly swaps: number;
  readonly rollbacks: number;
  /** Weight updates refused, by SwapManager or before it (`rejectBeforeOffer`: URI, size, hash). */
  readonly rejected: number;
  readonly lastRejected?: string;
  readonly flags: number;
  readonly flagsByReason: Readonly<Record<string, number>>;
  readonly operatorFlags: number;
  readonly samplesSent: number;
  /** Of those, sent with the serving model's view (a learner whose ground-plane depth cue is on). */
  readonly viewsSent: number;
  readonly labelsSent: number;
  readonly learnerConnected: boolean;
  /** Gate decisions the learner reported with its status messages, by version. */
  readonly decisions: ReadonlyMap<number, GateRecord>;
  readonly manual: { readonly requested: number; readonly expired: number; readonly pending: number };
}

export class PerceptionAdapter {
  readonly #o: PerceptionAdapterOptions;
  readonly #flagger: Flagger;
  readonly #slack: SlackRelay;
  readonly #recent = new Map<string, { ring: ({ result: FrameResult; image: RgbImage } | undefined)[]; next: number }>();
  #sendImages: boolean;
  /** With the picture, the model's view too: unless the learner said its depth cue is off (ready status `views: false`). */
  #sendViews = true;
  #viewsSent = 0;
  /** Flagged frames whose features are being fetched from a worker. */
  readonly #flagged = new Set<string>();
  readonly #flagReasons: Record<string, number> = {};
  readonly #decisions = new Map<number, GateRecord>();
  /** Feature fetches in flight (flagged frames whose features a worker held). */
  readonly #fetches = new Set<Promise<void>>();
  #lastImage: RgbImage | undefined;
  #preRejected = { count: 0, last: undefined as string | undefined };
  #operatorFlags = 0;
  #flagCount = 0;
  #samplesSent = 0;
  #labelsSent = 0;
  #learnerHeard = false;
  #ready: (() => void)[] = [];
  #referenceSent: Promise<number> = Promise.resolve(0);
  #closing = false;
  #closed = false;

  private constructor(
    o: PerceptionAdapterOptions,
    private readonly channel: ChannelServer,
    readonly swaps: SwapManager,
  ) {
    this.#o = o;
    this.#sendImages = o.sendImages ?? false;
    const m = o.engine.manifest;
    this.#flagger = new Flagger({ featureStats: m.feature_stats && m.feature_stats.mean.length > 0 ? m.feature_stats : undefined, maxTotal: o.maxFlags ?? Number.MAX_SAFE_INTEGER, ...o.flagger });
    this.#slack = new SlackRelay(channel);
  }

  static async open(o: PerceptionAdapterOptions): Promise<PerceptionAdapter> {
    // The callbacks below need the instance, which exists only once both are built.
    const ref: { self?: PerceptionAdapter } = {};
    const log = (line: string) => o.log('info', line);
    const swaps = await openPerceptionSwaps({
      engine: o.engine,
      stateDir: o.stateDir,
      signers: o.signers,
      lastImage: () => (ref.self ? ref.self.#lastImage : undefined),
      ...(o.maxBundleBytes !== undefined ? { maxBundleBytes: o.maxBundleBytes } : {}),
      ...(o.now ? { now: o.now } : {}),
      log,
      probeRun: o.probeRun,
      onEvent: (e) => ref.self && ref.self.#onSwapEvent(e),
    });
    const channel = await ChannelServer.bind({ endpoints: o.endpoints, keys: o.keys, allowedClients: o.allowedLearners, log, onMessage: (m) => ref.self && ref.self.#onLearnerMessage(m) });
    ref.self = new PerceptionAdapter(o, channel, swaps);
    return ref.self;
  }

  /** Where the channel listens (ports resolved). */
  get endpoints(): ChannelEndpoints {
    return this.channel.endpoints;
  }

  get servingVersion(): number {
    return this.swaps.currentVersion;
  }

  /** Bundles received and waiting for a slack window, or being verified and probed in one. */
  get bundlesPending(): number {
    return this.#slack.pendingWork;
  }

  /** Resolves true once a learner has said it is ready (its first status message), false after `timeoutMs`. */
  learnerReady(timeoutMs: number): Promise<boolean> {
    if (this.#learnerHeard) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.#ready.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Resolves to the number of reference frames delivered to the learner (0 until it connects, or when there is no source). */
  referenceSent(): Promise<number> {
    return this.#referenceSent;
  }

  /** Relays this scheduler's slack to the learner (a rebuilt scheduler is attached again). */
  attach(scheduler: Pick<Scheduler<unknown, unknown>, 'requestSlack'>): void {
    if (!this.#closed) this.#slack.attach(scheduler);
  }

  /** Stops relaying slack (a deactivated node); `attach` resumes. */
  detach(): void {
    this.#slack.stop();
  }

  /**
   * Every processed frame, in stamp order per camera, at the frame boundary. A flagged frame's
   * tail features come from its result or, when a worker held them back, from `takeHeld`.
   */
  onFrame(r: FrameResult, image: RgbImage): void {
    if (this.#closed) return;
    this.#lastImage = image;
    this.#keep(r, image);
    const featMean = r.tensors.feat_mean?.data as Float32Array | undefined;
    const decision = this.#flagger.observe({ camera: r.camera, stampNs: r.stampNs, detections: r.boxes, segEntropy: r.segEntropy, featMean });
    this.swaps.observe(frameHealth(r, this.#flagger.triggered));
    if (decision) this.#flag(r, decision, image);
  }

  /**
   * An operator flag: the kept frame of `camera` at `stampNs` (0: the newest kept) is flagged
   * now; a stamp newer than every kept frame flags the next frame at or after it (within 5 s),
   * outside the rate limit. False when that frame is no longer kept.
   */
  operatorFlag(camera: string, stampNs: bigint): boolean {
    const kept = this.#recent.get(camera);
    const frames = kept ? kept.ring.filter((f) => f !== undefined) : [];
    const newest = frames.reduce<(typeof frames)[number] | undefined>((a, f) => (a === undefined || f.result.stampNs > a.result.stampNs ? f : a), undefined);
    const hit = stampNs === 0n ? newest : frames.find((f) => f.result.stampNs === stampNs);
    if (hit) {
      this.#operatorFlags++;
      this.#flag(hit.result, { reasons: ['manual'], scores: { ambiguousFraction: 0, segEntropy: hit.result.segEntropy, flicker: 0, drift: 0 } }, hit.image);
      return true;
    }
    if (newest === undefined || stampNs > newest.result.stampNs) {
      this.#operatorFlags++;
      this.#flagger.requestManual(camera, stampNs);
      this.#o.log('info', `operator flag for ${camera} at ${stampNs} ns: the next frame at or after it will be flagged`);
      return true;
    }
    this.#o.log('warn', `operator flag for ${camera} at ${stampNs} ns refused: that frame is no longer kept (only the last ${this.#keepFrames} per camera are)`);
    return false;
  }

  /** A label from perception's side (replay's annotator), sent to the learner. */
  sendLabel(msg: LabelMessage): void {
    this.#labelsSent++;
    void this.channel.send(msg);
  }

  /**
   * Offers a bundle: verification, the weight set's build and its probe run wait for the
   * scheduler's next slack window (at most a second; the probe shares the inference worker with
   * the cameras, so run on a frame's time it would queue that frame behind it); the swap itself
   * then happens at a frame boundary.
   */
  async offer(bytes: Uint8Array, what: string): Promise<OfferResult> {
    const r = await this.#slack.runInSlack(() => this.swaps.offer(bytes));
    if (r.ok) this.#o.log('info', `${what}: swapped to v${r.version}`);
    else this.#o.log('warn', `${what} refused (${r.reason}); still serving v${this.servingVersion}: ${r.message}`);
    return r;
  }

  /** A weight update refused before it reached `offer` (e.g. an announcement whose file does not match), for the counts. */
  rejectBeforeOffer(reason: string): void {
    this.#preRejected = { count: this.#preRejected.count + 1, last: reason };
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

  counts(): AdaptationCounts {
    let swaps = 0;
    let rollbacks = 0;
    let rejected = this.#preRejected.count;
    let lastRejected = this.#preRejected.last;
    for (const e of this.swaps.events) {
      if (e.kind === 'swapped') swaps++;
      else if (e.kind === 'rolled_back') rollbacks++;
      else if (e.kind === 'rejected') {
        rejected++;
        lastRejected = `${e.reason}: ${e.message}`;
      }
    }
    return {
      servingVersion: this.servingVersion,
      swaps,
      rollbacks,
      rejected,
      lastRejected,
      flags: this.#flagCount,
      flagsByReason: { ...this.#flagReasons },
      operatorFlags: this.#operatorFlags,
      samplesSent: this.#samplesSent,
      viewsSent: this.#viewsSent,
      labelsSent: this.#labelsSent,
      learnerConnected: this.#learnerHeard,
      decisions: new Map(this.#decisions),
      manual: { requested: this.#operatorFlags, expired: this.#flagger.stats.manualExpired, pending: this.#flagger.pendingManual },
    };
  }

  /** Samples whose features are on their way still go out; a bundle waiting for a slack window is offered; then the swaps settle and the channel closes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#slack.stop();
    await Promise.all([...this.#fetches]);
    this.#closing = true;
    await this.#slack.idle();
    await this.swaps.idle();
    await this.channel.close();
  }

  get #keepFrames(): number {
    return this.#o.keepFrames ?? 4;
  }

  /** Results are the run's own arrays (the engine allocates per run), so keeping a reference is safe and costs no copy. */
  #keep(r: FrameResult, image: RgbImage): void {
    let kept = this.#recent.get(r.camera);
    if (!kept) this.#recent.set(r.camera, (kept = { ring: new Array<{ result: FrameResult; image: RgbImage } | undefined>(this.#keepFrames).fill(undefined), next: 0 }));
    kept.ring[kept.next] = { result: r, image };
    kept.next = (kept.next + 1) % kept.ring.length;
  }

  #flag(r: FrameResult, decision: Pick<FlagDecision, 'reasons' | 'scores'>, image: RgbImage): void {
    const key = `${r.camera}@${r.stampNs}`;
    if (tailFeatures(r.tensors) || !this.#o.takeHeld) return void this.#send(r, decision, r.tensors, image);
    // Held in the worker: the frame counts as flagged from now on; its sample goes out once the features arrive.
    this.#flagged.add(key);
    const fetch = this.#o
      .takeHeld(r.camera, r.stampNs)
      .catch((err: unknown) => {
        this.#o.log('warn', `could not fetch the features of flagged frame ${key}: ${(err as Error).message}`);
        return undefined;
      })
      .then((tensors) => {
        this.#flagged.delete(key);
        if (this.#closing) return;
        if (!tensors || !this.#send(r, decision, tensors, image)) this.#o.log('warn', `flagged frame ${key} not sent: its features were no longer held`);
      });
    this.#fetches.add(fetch);
    void fetch.finally(() => this.#fetches.delete(fetch));
  }

  /** Sends a flagged frame's sample and tells the flag port; false without features. */
  #send(r: FrameResult, decision: Pick<FlagDecision, 'reasons' | 'scores'>, tensors: FrameResult['tensors'], image: RgbImage): boolean {
    const sample = flaggedSample(r, decision, tensors);
    this.#flagCount++;
    for (const reason of decision.reasons) this.#flagReasons[reason] = (this.#flagReasons[reason] ?? 0) + 1;
    if (sample) {
      this.#samplesSent++;
      if (!this.#sendImages) this.#slack.sendInSlack(sampleToMessage(sample));
      else {
        // The picture is encoded on a libuv thread; the sample goes out when it is ready.
        const send = encodeJpeg(image)
          .then((jpeg) => {
            const view = this.#sendViews ? this.#view(r) : {};
            if (view.view) this.#viewsSent++;
            return this.#slack.sendInSlack(sampleToMessage({ ...sample, image: jpeg, ...view }));
          })
          .catch((err: Error) => {
            this.#o.log('warn', `flagged frame ${r.camera}@${r.stampNs}: picture not encoded (${err.message}); sent without it`);
            this.#slack.sendInSlack(sampleToMessage(sample));
          });
        this.#fetches.add(send);
        void send.finally(() => this.#fetches.delete(send));
      }
    }
    this.#o.onFlag?.({ result: r, decision, sent: sample !== undefined, servingVersion: this.servingVersion });
    return sample !== undefined;
  }

  /** The serving model's depth and segmentation of a flagged frame with its camera's intrinsics ({} without them). */
  #view(r: FrameResult): { view?: FlaggedSample['view'] } {
    const cam = this.#o.intrinsics?.(r.camera, r.cameraSize);
    if (!cam || !r.depth?.data.length || !r.lane?.data.length) return {};
    const m = this.#o.cameraMount?.(r.camera);
    const mount = m && Number.isFinite(m.heightM) && m.heightM > 0 ? { heightM: m.heightM, ...(m.pitchRad !== undefined && Math.abs(m.pitchRad) <= Math.PI / 2 ? { pitchRad: m.pitchRad } : {}) } : {};
    return { view: { depth: r.depth, seg: r.lane, cameraSize: r.cameraSize, k: cam.k, depthScale: cam.depthScale, ...mount } };
  }

  /** Sends the reference set from the source, waiting for room in the learner's queue (sent without waiting, frames were dropped: docs/experiments/2026-11-29-latency-and-swaps.md). */
  async #sendReferenceSet(source: ReferenceSource): Promise<number> {
    try {
      const { frames, delivered } = await source(async (messages) => {
        let ok = true;
        for (const m of messages) ok = (await this.channel.send(m, { waitMs: REFERENCE_SEND_WAIT_MS })) && ok;
        return ok;
      });
      if (delivered < frames) this.#o.log('warn', `sent ${delivered} of ${frames} old-domain reference frames to the learner (the rest found its queue full)`);
      else this.#o.log('info', `sent ${delivered} old-domain reference frames to the learner`);
      return delivered;
    } catch (err) {
      this.#o.log('warn', `old-domain reference set not sent (the learner's gate refuses candidates without one): ${(err as Error).message}`);
      return 0;
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
    if (this.#closing) return;
    this.channel.send({ kind: 'serving', version: this.servingVersion, reason: reason.slice(0, 256) }).catch((err: Error) => this.#o.log('warn', `could not tell the learner the serving version: ${err.message}`));
  }

  #onLearnerMessage(msg: ToPerception): void {
    switch (msg.kind) {
      case 'bundle':
        // The standalone learner (`adaptive-perception learner`, replay --adapt) ships bundles over
        // the channel; the ROS learner announces them on adaptation/weights. Same checks for both.
        void this.offer(msg.bytes, `bundle v${msg.version} (channel)`);
        break;
      case 'status': {
        if (!this.#learnerHeard) {
          this.#learnerHeard = true;
          this.#o.log('info', `learner connected over the channel (${msg.state})`);
          this.#tellServing('learner connected');
          if (this.#o.referenceSet) this.#referenceSent = this.#sendReferenceSet(this.#o.referenceSet);
          for (const f of this.#ready.splice(0)) f();
        }
        const d = msg.detail as { val_new?: number; val_old?: number; decision?: string; heads?: GateRecord['heads']; reverted?: readonly string[]; images?: boolean; views?: boolean } | undefined;
        // A learner that labels with a teacher model asks for the flagged frames' pictures, and
        // for the model's view of them unless its depth cue is off (37 KB a frame at 192x384).
        if (d?.images === true && this.#o.sendImages === undefined && !this.#sendImages) {
          this.#sendImages = true;
          this.#sendViews = d.views !== false;
          this.#o.log('info', `the learner labels with a teacher: flagged frames go with their picture${this.#sendViews ? " and the model's view" : " (no view: the learner's depth cue is off)"}`);
        }
        if (msg.version !== undefined && d?.decision) this.#decisions.set(msg.version, { val_new: d.val_new ?? null, val_old: d.val_old ?? null, decision: d.decision, ...(d.heads ? { heads: d.heads } : {}), ...(d.reverted?.length ? { reverted: d.reverted } : {}) });
        if (msg.version !== undefined || d?.decision) this.#o.log('info', `learner: ${msg.state}${msg.version !== undefined ? ` v${msg.version}` : ''}${d ? ` ${JSON.stringify(d)}` : ''}`);
        break;
      }
    }
  }
}
