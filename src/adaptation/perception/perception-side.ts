import type { KeyObject } from 'node:crypto';
import type { Engine } from '../../engine/engine.js';
import { ChannelServer } from '../protocol/channel.js';
import type { ToPerception } from '../protocol/channel-codec.js';
import { Flagger, type FlagDecision, type FlaggerOptions } from './flagger.js';
import type { CurveKeys } from '../protocol/keys.js';
import { Annotator } from '../learner/labels.js';
import type { ProbeRun, SwapEvent, SwapManager } from './swap.js';
import type { RgbImage } from '../../pipeline/image-decode.js';
import type { FrameResult } from '../../pipeline/perception.js';
import type { FrameTensors } from '../../pipeline/perception-worker.js';
import type { Truth } from '../../replay/scoring.js';
import type { Scheduler } from '../../scheduler/index.js';
import { flaggedSample, frameHealth, tailFeatures, openPerceptionSwaps, REFERENCE_SEND_WAIT_MS, referenceMessages, SlackRelay, truthToLabels } from './perception-parts.js';
import { labelToMessage, sampleToMessage } from '../protocol/wire.js';

export interface AdaptPerceptionOptions {
  engine: Engine;
  stateDir: string;
  endpoints: { uplink: string; downlink: string };
  keys: CurveKeys;
  allowedLearners: readonly string[];
  signers: readonly KeyObject[];
  flagger?: FlaggerOptions;
  /** Annotation delay in bag time (ms). */
  labelDelayMs: number;
  /** Most frames that get labels (the annotation budget). */
  maxLabels: number;
  /** Bag seconds, for events. */
  bagTimeS: () => number;
  log: (line: string) => void;
  /** Where candidate probes run (see PerceptionSwapsOptions.probeRun). */
  probeRun?: ProbeRun;
  /**
   * Fetches the raw outputs a worker held back for a frame (ReplayHooks.held): a flagged frame
   * whose result came without its tail features gets them from here.
   */
  takeHeld?: (camera: string, stampNs: bigint) => Promise<FrameTensors | undefined>;
}

/** What `replay --adapt` reports about adaptation (see ReplaySummary.adaptation). */
export interface AdaptationSummary {
  versions: Array<{ version: number; at_s: number; val_new: number | null; val_old: number | null; decision: string }>;
  flags: number;
  flags_by_reason: Record<string, number>;
  /**
   * Operator requests (`requestManual`): made; met by a frame that was flagged and sent; expired
   * (the camera's first frame at or after the stamp came over 5 s after it); never reached (no
   * such camera, or a stamp past the bag's end); refused (the label budget was spent).
   */
  manual_flags: { requested: number; flagged: number; expired: number; unmatched: number; refused: number };
  labels: number;
  swaps: number;
  rollbacks: number;
  rejected: number;
  frames_dropped_by_swap: number;
  slack: { grants: number; granted_ms: number };
  events: SwapEvent[];
}

/**
 * Perception's side of online adaptation, composed into a replay: flags frames, sends their
 * tail features to the learner, plays the annotator with the bag's ground truth (labels only
 * for flagged frames, after a delay), hands the learner the scheduler's slack, and verifies,
 * probes and hot-swaps the weight bundles that come back, watching health afterwards.
 */
export class AdaptPerception {
  private readonly flagger: Flagger;
  private readonly annotator: Annotator;
  private readonly flagReasons: Record<string, number> = {};
  private readonly decisions = new Map<number, { val_new: number | null; val_old: number | null; decision: string }>();
  private readonly slack: SlackRelay;
  private lastImage: RgbImage | undefined;
  private labelsSent = 0;
  private manualRequested = 0;
  private flagged = new Set<string>();
  /** Feature fetches in flight (flagged frames whose features a worker held). */
  private readonly fetches = new Set<Promise<void>>();
  private closing = false;
  private closed = false;
  private ready = false;
  private onReady: (() => void) | undefined;

  private constructor(
    private readonly o: AdaptPerceptionOptions,
    private readonly channel: ChannelServer,
    readonly swaps: SwapManager,
  ) {
    const m = o.engine.manifest;
    this.flagger = new Flagger({ featureStats: m.feature_stats && m.feature_stats.mean.length > 0 ? m.feature_stats : undefined, ...o.flagger });
    this.annotator = new Annotator({ delayMs: o.labelDelayMs });
    this.slack = new SlackRelay(channel);
  }

  static async open(o: AdaptPerceptionOptions): Promise<AdaptPerception> {
    // The callbacks below need the instance, which exists only once both are built.
    const ref: { self?: AdaptPerception } = {};
    const swaps = await openPerceptionSwaps({ engine: o.engine, stateDir: o.stateDir, signers: o.signers, lastImage: () => ref.self?.lastImage, now: o.bagTimeS, log: o.log, probeRun: o.probeRun });
    const channel = await ChannelServer.bind({
      endpoints: o.endpoints,
      keys: o.keys,
      allowedClients: o.allowedLearners,
      log: o.log,
      onMessage: (msg: ToPerception) => ref.self?.onLearnerMessage(msg),
    });
    ref.self = new AdaptPerception(o, channel, swaps);
    return ref.self;
  }

  /** Where the channel listens (ports resolved). */
  get endpoints(): { uplink: string; downlink: string } {
    return this.channel.endpoints;
  }

  /** Resolves when a learner has said it is ready (its first status message). */
  learnerReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.onReady = () => {
        clearTimeout(t);
        resolve(true);
      };
    });
  }

  /**
   * An operator's request (replay's `--flag`): the next frame of `camera` at or after `stampNs`
   * (within 5 s of it) is flagged with reason `manual`, outside the rate limit, and labelled
   * like any flagged frame.
   */
  requestManual(camera: string, stampNs: bigint): void {
    this.manualRequested++;
    this.flagger.requestManual(camera, stampNs);
  }

  /** Bundles received and waiting for a slack window, or being verified and probed in one. */
  get bundlesPending(): number {
    return this.slack.pendingWork;
  }

  /** Offers the learner compute time whenever the scheduler can spare it. */
  attach(scheduler: Scheduler<unknown, unknown>): void {
    if (!this.closed) this.slack.attach(scheduler);
  }

  /**
   * Called with every processed frame. A flagged frame's tail features come from its result or,
   * when a worker held them back, from `takeHeld` (the sample goes out once they arrive).
   */
  onFrame(r: FrameResult, image: RgbImage): void {
    this.lastImage = image;
    const featMean = r.tensors.feat_mean?.data as Float32Array | undefined;
    const decision = this.flagger.observe({ camera: r.camera, stampNs: r.stampNs, detections: r.boxes, segEntropy: r.segEntropy, featMean });
    this.swaps.observe(frameHealth(r, this.flagger.triggered));
    if (!decision || this.flagged.size >= this.o.maxLabels) return;
    const atMs = this.nowMs();
    if (tailFeatures(r.tensors) || !this.o.takeHeld) {
      this.flag(r, decision, r.tensors, atMs);
      return;
    }
    // Held in the worker: the frame counts against the budget from now on.
    const key = `${r.camera}@${r.stampNs}`;
    this.flagged.add(key);
    const fetch = this.o
      .takeHeld(r.camera, r.stampNs)
      .catch((err: unknown) => {
        this.o.log(`adapt: could not fetch the features of flagged frame ${key}: ${(err as Error).message}`);
        return undefined;
      })
      .then((tensors) => {
        this.flagged.delete(key);
        if (this.closing) return;
        if (!tensors || !this.flag(r, decision, tensors, atMs)) this.o.log(`adapt: flagged frame ${key} not sent: its features were no longer held`);
      });
    this.fetches.add(fetch);
    void fetch.finally(() => this.fetches.delete(fetch));
  }

  /** Sends a flagged frame's sample and tells the annotator; false without features. */
  private flag(r: FrameResult, decision: FlagDecision, tensors: FrameResult['tensors'], atMs: number): boolean {
    const sample = flaggedSample(r, decision, tensors);
    if (!sample) return false; // features not fetched: nothing to learn from
    for (const reason of decision.reasons) this.flagReasons[reason] = (this.flagReasons[reason] ?? 0) + 1;
    this.flagged.add(`${r.camera}@${r.stampNs}`);
    this.slack.sendInSlack(sampleToMessage(sample));
    this.annotator.onFlag(atMs, r.camera, r.stampNs);
    return true;
  }

  /** An old-domain reference frame, labelled at once (the reservoir against forgetting). */
  /**
   * Sends one old-domain reference frame and its labels, waiting for room in the learner's
   * queue (the set is sent in a burst at start-up, faster than the learner stores it: sent
   * without waiting, 75 of 200 frames were dropped). True when both arrived in the queue.
   */
  async sendReference(r: FrameResult, truth: Partial<Record<'detections' | 'lane' | 'depth', Truth>>): Promise<boolean> {
    const msgs = referenceMessages(r, truth, this.o.engine.manifest.classes);
    if (!msgs) return false;
    let ok = true;
    for (const msg of msgs) ok = (await this.channel.send(msg, { waitMs: REFERENCE_SEND_WAIT_MS })) && ok;
    return ok;
  }

  /** Ground truth from the bag: held by the annotator, released only for flagged frames. */
  onGroundTruth(camera: string, stampNs: bigint, part: Truth): void {
    this.annotator.onGroundTruth(this.nowMs(), { camera, stampNs, labels: this.labels({ [part.kind]: part }) });
    this.pollLabels();
  }

  pollLabels(): void {
    for (const ev of this.annotator.poll(this.nowMs())) {
      this.labelsSent++;
      void this.channel.send(labelToMessage(ev));
    }
  }

  summary(schedulerSlack: { grants: number; granted_ms: number }): AdaptationSummary {
    const events = [...this.swaps.events];
    const versions = events
      .filter((e): e is Extract<SwapEvent, { kind: 'swapped' }> => e.kind === 'swapped')
      .map((e) => ({ version: e.version, at_s: e.at_s, ...(this.decisions.get(e.version) ?? { val_new: null, val_old: null, decision: 'promote' }) }));
    for (const [version, d] of this.decisions) if (d.decision !== 'promote') versions.push({ version, at_s: NaN, ...d });
    return {
      versions,
      flags: this.flagged.size,
      flags_by_reason: { ...this.flagReasons },
      manual_flags: this.manualSummary(),
      labels: this.labelsSent,
      swaps: events.filter((e) => e.kind === 'swapped').length,
      rollbacks: events.filter((e) => e.kind === 'rolled_back').length,
      rejected: events.filter((e) => e.kind === 'rejected').length,
      frames_dropped_by_swap: 0,
      slack: schedulerSlack,
      events,
    };
  }

  private manualSummary(): AdaptationSummary['manual_flags'] {
    const flagged = this.flagReasons.manual ?? 0;
    const expired = this.flagger.stats.manualExpired;
    const unmatched = this.flagger.pendingManual;
    return { requested: this.manualRequested, flagged, expired, unmatched, refused: Math.max(0, this.manualRequested - flagged - expired - unmatched) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.slack.stop();
    // Samples whose features are on their way still go out; none is sent after this.
    await Promise.all([...this.fetches]);
    this.closing = true;
    // A bundle that was waiting for a slack window is offered now; the swaps then settle.
    await this.slack.idle();
    await this.swaps.idle();
    await this.channel.close();
  }

  private onLearnerMessage(msg: ToPerception): void {
    switch (msg.kind) {
      case 'bundle':
        // Verification, the weight set's build and its probe run (in the inference worker,
        // where it would queue the next frame behind it) wait for the scheduler's next slack
        // window (at most a second); the swap itself then happens at a frame boundary.
        void this.slack.runInSlack(() => this.swaps.offer(msg.bytes)).then((r) => {
          if (!r.ok) this.o.log(`adapt: bundle v${msg.version} rejected: ${r.reason}: ${r.message}`);
          else this.o.log(`adapt: swapped to v${r.version}`);
        });
        break;
      case 'status': {
        if (!this.ready) {
          this.ready = true;
          this.onReady?.();
        }
        const d = msg.detail as { val_new?: number; val_old?: number; decision?: string } | undefined;
        if (msg.version !== undefined && d?.decision) this.decisions.set(msg.version, { val_new: d.val_new ?? null, val_old: d.val_old ?? null, decision: d.decision });
        this.o.log(`learner: ${msg.state}${msg.version !== undefined ? ` v${msg.version}` : ''}${d ? ` ${JSON.stringify(d)}` : ''}`);
        break;
      }
    }
  }

  private labels(truth: Partial<Record<'detections' | 'lane' | 'depth', Truth>>) {
    return truthToLabels(this.o.engine.manifest.classes, truth);
  }

  private nowMs(): number {
    return this.o.bagTimeS() * 1000;
  }
}
