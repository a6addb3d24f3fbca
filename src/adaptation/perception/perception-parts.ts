import type { KeyObject } from 'node:crypto';
import type { Engine } from '../../engine/engine.js';
import type { ChannelServer } from '../protocol/channel.js';
import type { FlagDecision } from './flagger.js';
import type { FeatureMap, FlaggedSample, GtBox, SampleFeatures, SampleLabels } from '../learner/store-types.js';
import { probeSize, SwapManager, type ProbeRun, type SwapEvent } from './swap.js';
import { SERVED_EXTRAS, type HeadName, type OutputName, type ServedExtra } from '../../model/manifest.js';
import type { RgbImage } from '../../pipeline/image-decode.js';
import type { FrameResult } from '../../pipeline/perception.js';
import type { Truth } from '../../pipeline/messages.js';
import type { Scheduler, SlackGrant } from '../../scheduler/index.js';
import type { LabelMessage, SampleMessage, ToLearner } from '../protocol/channel-codec.js';
import { labelToMessage, sampleToMessage } from '../protocol/wire.js';

/**
 * The pieces of perception's side of adaptation that `replay --adapt` (AdaptPerception) and
 * the ROS perception node (node/perception-adaptation.ts) share: what a flagged frame sends,
 * how a weight bundle is probed, how the scheduler's slack is relayed to the learner.
 */

/**
 * Engine outputs the learner needs besides the defaults: the tails' inputs, the drift statistic,
 * and where the package merges a second detector into its detections, that detector's peaks
 * (SERVED_EXTRAS: the gate merges a candidate with them, as perception serves it; an engine
 * fetches them only where its graph has them).
 */
export const FEATURE_OUTPUTS: readonly OutputName[] = ['det_feat', 'seg_feat', 'depth_feat', 'feat_mean', ...SERVED_EXTRAS];
/** Of those, the per-frame maps: big, and needed only for flagged frames and reference frames. */
export const TAIL_FEATURE_OUTPUTS: readonly OutputName[] = ['det_feat', 'seg_feat', 'depth_feat', ...SERVED_EXTRAS];

/** The tails' input features among a frame's raw outputs (and the served extras there are); undefined when a head's is missing. */
export function tailFeatures(tensors: FrameResult['tensors'], copy = false): SampleFeatures | undefined {
  const features = {} as Record<HeadName | ServedExtra, FeatureMap>;
  for (const h of ['det', 'seg', 'depth'] as const) {
    const t = tensors[`${h}_feat`];
    if (!t || t.type !== 'float32') return undefined;
    const [channels, height, width] = t.dims;
    features[h] = { channels, height, width, data: copy ? t.data.slice() : t.data };
  }
  for (const k of SERVED_EXTRAS) {
    const t = tensors[k];
    if (t?.type !== 'float32') continue;
    const [channels, height, width] = t.dims;
    features[k] = { channels, height, width, data: copy ? t.data.slice() : t.data };
  }
  return features;
}

/**
 * A new-domain sample for the learner from a flagged frame, its features from `tensors` (default:
 * the result's own; a worker that held them hands them over separately); undefined without.
 */
export function flaggedSample(r: FrameResult, decision: Pick<FlagDecision, 'reasons' | 'scores'>, tensors: FrameResult['tensors'] = r.tensors): FlaggedSample | undefined {
  const features = tailFeatures(tensors);
  if (!features) return undefined;
  return {
    camera: r.camera,
    stampNs: r.stampNs,
    domain: 'new',
    reasons: decision.reasons,
    scores: { ...decision.scores },
    inputSize: r.size,
    cameraSize: r.cameraSize,
    features,
    predictions: { detections: r.boxes.length, seg_entropy: r.segEntropy },
  };
}

/** Per-frame health for `SwapManager.observe`. */
export function frameHealth(r: FrameResult, flagged: boolean): { maxScore: number; segEntropy: number; flagged: boolean } {
  return { maxScore: r.boxes.reduce((a, b) => Math.max(a, b.score), 0), segEntropy: r.segEntropy, flagged };
}

export interface PerceptionSwapsOptions {
  readonly engine: Engine;
  readonly stateDir: string;
  readonly signers: readonly KeyObject[];
  /** The newest camera frame, for the probe run (a grey frame before the first one). */
  readonly lastImage: () => RgbImage | undefined;
  readonly maxBundleBytes?: number;
  readonly now?: () => number;
  readonly log: (line: string) => void;
  /**
   * Runs the probe: one frame with the candidate set, not swapped in, its raw outputs back.
   * Default: `engine.infer` here, at the smallest input size. Replay hands in its inference
   * worker, so a probe does not hold this thread's event loop while frames arrive.
   */
  readonly probeRun?: ProbeRun;
  readonly onEvent?: (e: SwapEvent) => void;
}


/** The SwapManager of a perception process: its probe runs the newest frame with the candidate set. */
export function openPerceptionSwaps(o: PerceptionSwapsOptions): Promise<SwapManager> {
  return SwapManager.open({
    engine: o.engine,
    manifest: o.engine.manifest,
    stateDir: o.stateDir,
    publicKeys: o.signers,
    ...(o.maxBundleBytes !== undefined ? { maxBundleBytes: o.maxBundleBytes } : {}),
    probe: async (candidate) => {
      const image = o.lastImage() ?? { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(128) };
      if (o.probeRun) return o.probeRun(image, candidate);
      const [out] = await o.engine.infer([image], { weights: candidate, size: probeSize(o.engine.manifest) });
      return out.tensors as Record<string, { data: ArrayLike<unknown> }>;
    },
    ...(o.now ? { now: o.now } : {}),
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    log: o.log,
  });
}

/**
 * Offers the learner compute time whenever the scheduler can spare it: a `slack` message per
 * grant, a `pause` when a frame revokes it. One grant at a time: the gap until the next frame
 * is expected, at most `sliceMs`, at least `minSliceMs` (both 40 ms by default: a fixed slice).
 * Grants that spanned the whole gap (up to 100 ms) gave the learner little on a 3-minute drive
 * (482 steps against 426; the gate's reuse of its scores gave the rest) and two 10 Hz cameras
 * under ROS answered fewer frames on the second camera (41–46 of 60 against 47–52 in the same
 * hour; docs/experiments/2026-12-07-averaged-tails.md), so the default stays a fixed slice.
 *
 * Flagged frames' samples (`sendInSlack`) go out in those windows too, right after the grant.
 * Sent the moment a frame was flagged, a sample (encoded, ~3 MB CURVE-encrypted on ZeroMQ's I/O
 * thread) was stored by the learner (decrypted, decoded, written durably to SQLite) while the
 * next frame ran, and frames that overlapped a sample's storage were markedly slower (traced:
 * docs/experiments/2026-11-29-latency-and-swaps.md). A sample waits at most
 * `maxDeferMs` for a window (a scheduler that never has slack, under overload, still gets its
 * samples to the learner); without an attached scheduler, or once stopped, it goes at once.
 *
 * Perception's own work off the frame path (`runInSlack`: a weight bundle's verification,
 * build and probe run) takes the next window before the learner does, with the same bound.
 */
export class SlackRelay {
  private grant: SlackGrant | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly outbox: { msg: ToLearner; atMs: number }[] = [];
  /** Perception's own work waiting for a window, oldest first. */
  private readonly jobs: { run: () => Promise<void>; atMs: number }[] = [];
  /** Jobs running: no window goes to the learner meanwhile. */
  private running = 0;
  /** Settles when the last started job has (never rejects: a job's error goes to its caller). */
  private lastJob: Promise<void> = Promise.resolve();
  /** Settles when the jobs waiting at `stop` have run. */
  private draining: Promise<void> = Promise.resolve();

  constructor(
    private readonly channel: Pick<ChannelServer, 'send'>,
    private readonly sliceMs = 40,
    private readonly o: { readonly maxDeferMs?: number; readonly now?: () => number; readonly minSliceMs?: number } = {},
  ) {}

  /** Messages waiting for a slack window. */
  get deferred(): number {
    return this.outbox.length;
  }

  /** Perception's own jobs waiting for a slack window or running (see `runInSlack`). */
  get pendingWork(): number {
    return this.jobs.length + this.running;
  }

  /**
   * Sends `msg` (a flagged frame's sample) at the start of the next slack window, or after
   * `maxDeferMs` (default 1000) without one; at once when no scheduler is attached.
   */
  sendInSlack(msg: ToLearner): void {
    if (!this.timer) {
      void this.channel.send(msg);
      return;
    }
    this.outbox.push({ msg, atMs: this.now() });
  }

  /**
   * Runs `work` in the next slack window instead of lending that window to the learner: work
   * of a few milliseconds that must not land on a frame (a weight bundle's verification, build
   * and probe run in the inference worker, which queues the next frame behind it). One job per
   * window, in order; a job that waited `maxDeferMs` without a window runs anyway (overload);
   * without an attached scheduler, or once stopped, it runs at once. Resolves or rejects as
   * `work` does.
   */
  runInSlack<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // Promise.resolve().then: a `work` that throws synchronously rejects too.
      const run = () => Promise.resolve().then(work).then(resolve, reject);
      if (!this.timer) {
        void this.startJob(run, null);
        return;
      }
      this.jobs.push({ run, atMs: this.now() });
    });
  }

  /** Starts relaying `scheduler`'s slack (a new scheduler replaces the previous one). */
  attach(scheduler: Pick<Scheduler<unknown, unknown>, 'requestSlack'>): void {
    this.stop();
    const sliceMs = this.sliceMs;
    const minSliceMs = Math.min(sliceMs, this.o.minSliceMs ?? 40);
    const maxDeferMs = this.o.maxDeferMs ?? 1000;
    this.timer = setInterval(() => {
      const now = this.now();
      if (this.outbox.length > 0 && now - this.outbox[0].atMs >= maxDeferMs) this.flush();
      if (this.running > 0) return;
      if (this.jobs.length > 0 && now - this.jobs[0].atMs >= maxDeferMs) {
        void this.startJob(this.jobs.shift()!.run, null);
        return;
      }
      if (this.grant) return;
      const ownWork = this.jobs.length > 0;
      const grant = scheduler.requestSlack(sliceMs, () => {
        // A frame took the window back. The learner is told to stop; a job of ours runs on
        // (it is a few milliseconds and cannot be cut), and its grant simply ends.
        if (!ownWork) void this.channel.send({ kind: 'pause', reason: 'frame' });
        if (this.grant === grant) this.grant = null;
      }, minSliceMs);
      if (!grant) return;
      this.grant = grant;
      if (ownWork) {
        void this.startJob(this.jobs.shift()!.run, grant);
        return;
      }
      // The grant first: the learner's window opens when it reads it, and storing the samples
      // that follow takes its time from that window rather than pushing the window later.
      void this.channel.send({ kind: 'slack', grantMs: grant.ms });
      this.flush();
      setTimeout(() => {
        if (this.grant === grant) {
          grant.release();
          this.grant = null;
        }
      }, grant.ms).unref();
    }, 5);
    this.timer.unref();
  }

  /** Runs one job (its own errors reach its caller through `runInSlack`); releases its grant after. */
  private startJob(run: () => Promise<void>, grant: SlackGrant | null): Promise<void> {
    this.running++;
    this.lastJob = this.runJob(run, grant);
    return this.lastJob;
  }

  private async runJob(run: () => Promise<void>, grant: SlackGrant | null): Promise<void> {
    try {
      await run();
    } finally {
      this.running--;
      if (grant) {
        grant.release();
        if (this.grant === grant) this.grant = null;
      }
    }
  }

  private flush(): void {
    for (const { msg } of this.outbox.splice(0)) void this.channel.send(msg);
  }

  private now(): number {
    return this.o.now ? this.o.now() : performance.now();
  }

  /**
   * Stops relaying and releases the grant in progress; deferred messages go out now and
   * waiting jobs start now, one after another (`idle` says when they are done). Idempotent.
   */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
    this.grant?.release();
    this.grant = null;
    if (this.jobs.length > 0) this.draining = this.drain();
  }

  /** Resolves once the jobs started or waiting when `stop` was called (and any started since) are done. */
  async idle(): Promise<void> {
    await this.draining;
    await this.lastJob;
  }

  /** After stop: the waiting jobs, one after another. */
  private async drain(): Promise<void> {
    await this.lastJob;
    for (let j = this.jobs.shift(); j; j = this.jobs.shift()) await this.startJob(j.run, null);
  }
}

/** Ground truth in replay's form → sample labels (boxes of classes the model does not know are dropped). */
export function truthToLabels(classes: readonly string[], truth: Partial<Record<'detections' | 'lane' | 'depth', Truth>>): SampleLabels {
  const out: { boxes?: GtBox[]; lane?: SampleLabels['lane']; depth?: SampleLabels['depth'] } = {};
  if (truth.detections?.kind === 'detections') {
    out.boxes = truth.detections.boxes.flatMap((b) => {
      const classIndex = classes.indexOf(b.cls);
      // A ground-truth box's hypothesis score is its visible share (sim/bag-writer.ts).
      return classIndex < 0 ? [] : [{ classIndex, x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1, visibility: b.score }];
    });
  }
  if (truth.lane?.kind === 'lane') out.lane = { width: truth.lane.width, height: truth.lane.height, data: truth.lane.data.slice() };
  if (truth.depth?.kind === 'depth') out.depth = { width: truth.depth.width, height: truth.depth.height, data: truth.depth.data.slice() };
  return out;
}

/**
 * An old-domain reference frame as the two messages the learner takes: its tail features
 * (domain 'old') and its labels at once. Undefined when the result carries no tail features.
 */
/**
 * How long one old-domain reference message may wait for room in the learner's queue before it
 * counts as lost. The set goes out in a burst at start-up, faster than the learner stores it:
 * sent with the frames' zero wait, 75 of 200 reference frames were dropped.
 */
export const REFERENCE_SEND_WAIT_MS = 10_000;

export function referenceMessages(r: FrameResult, truth: Partial<Record<'detections' | 'lane' | 'depth', Truth>>, classes: readonly string[]): [SampleMessage, LabelMessage] | undefined {
  const features = tailFeatures(r.tensors, true);
  if (!features) return undefined;
  return [
    sampleToMessage({ camera: r.camera, stampNs: r.stampNs, domain: 'old', reasons: [], scores: {}, inputSize: r.size, cameraSize: r.cameraSize, features }),
    labelToMessage({ camera: r.camera, stampNs: r.stampNs, labels: truthToLabels(classes, truth) }),
  ];
}
