import { modelRef } from '../protocol/bundle.js';
import { ChannelClient, type ChannelEndpoints } from '../protocol/channel.js';
import type { ToLearner } from '../protocol/channel-codec.js';
import type { Identity, PublicIdentity } from '../protocol/keys.js';
import { labelFromMessage, sampleFromMessage } from '../protocol/wire.js';
import type { HeadName, Manifest } from '../../model/manifest.js';
import type { TailWeights } from '../../model/package.js';
import type { GateDecision, GateOptions } from './gate.js';
import type { LabelEvent } from './labels.js';
import { LearnerCore, type LearnerOptions } from './learner-core.js';
import { ADAPT_TRAINER } from './settings.js';
import { decodeJpeg } from '../../pipeline/image-encode.js';
import { SlackClosedError, SlackWindow } from './slack-window.js';
import { SampleStore } from './store.js';
import type { LabelImage, ModelView } from './store-types.js';
import { groundPlaneDepth, MAX_TF_PITCH_GAP, MountPitch, type GroundPlaneRefusal } from './teacher/ground-plane.js';
import { CAMERA_HEIGHT_RANGE_M } from './teacher/types.js';
import type { TrainerOptions } from './trainer.js';

/**
 * The learner: ONE service for the standalone learner process (`adaptive-perception learner`,
 * what `replay --adapt` starts) and the ROS 2 learner node. It connects to perception over the
 * CURVE-authenticated channel, stores flagged samples durably (only new-domain samples spend the
 * flag budget), matches labels to them, trains the head tails only inside perception's slack
 * grants (scaled by `slackShare`, never while paused), gates every candidate, and hands promoted
 * tails to its `publish` port: the standalone learner sends signed bundles back over the channel,
 * the ROS node writes a bundle file and announces it on a topic. Labels come from the channel
 * (replay's annotator) or from `label()` (the ROS node's label topics). It keeps what perception
 * says it serves.
 */
export interface LearnerServiceOptions {
  readonly manifest: Manifest;
  /** The shipped tails (version 0): training starts from them and the gate measures regression against them. */
  readonly tails: TailWeights;
  /** The sample store's file (created if absent). */
  readonly storeFile: string;
  readonly maxStoredSamples?: number;
  readonly identity: Identity;
  readonly perception: PublicIdentity;
  readonly endpoints: ChannelEndpoints;
  readonly heads: readonly HeadName[];
  readonly minNewSamples: number;
  readonly stepsPerCandidate: number;
  readonly minRouterSamples?: number;
  /** Flagged samples accepted per minute (sliding window); the rest are counted and dropped. Default unlimited. */
  readonly maxFlagsPerMinute?: number;
  /** Share of each slack grant used for training (default 1). */
  readonly slackShare?: number;
  /** Versions of this run continue after this one (the newest already on disk). Default 0. */
  readonly versionBase?: number;
  readonly gate?: GateOptions;
  readonly trainer?: TrainerOptions;
  readonly log: (level: 'info' | 'warn' | 'error', line: string) => void;
  /** Port: where promoted tails go. `version` continues after `versionBase`; `parent` is the previous promoted one. */
  readonly publish: (p: { readonly tails: TailWeights; readonly decision: GateDecision; readonly version: number; readonly parent: number; readonly channel: ChannelClient }) => Promise<void>;
  /** Learner core settings beyond the above (tests). */
  readonly core?: Partial<LearnerOptions>;
  /**
   * Label-free mode: a teacher model labels flagged frames' boxes in the learner's slack (the
   * frames come with their picture: the ready status asks perception for them). An annotator's
   * labels, where they come, override the teacher's boxes.
   */
  readonly teacher?: FrameLabeler;
}

/**
 * A model that labels a frame (src/adaptation/learner/teacher): boxes (classes by name, in the
 * frame's pixels), and from a package teacher the lane / drivable mask and depth over the whole
 * frame at any resolution.
 */
export interface FrameLabeler {
  label(frame: { rgb: Uint8Array; width: number; height: number }): Promise<{
    boxes: readonly { cls: string; x: number; y: number; w: number; h: number; score: number }[];
    lane?: { width: number; height: number; data: Uint8Array };
    depth?: { width: number; height: number; data: Float32Array };
  }>;
  /** The heads it labels (default: det only). A frame's boxes count as labelled only where det is one. */
  readonly heads?: readonly string[];
  /**
   * Label-free depth from the road's geometry (teacher/ground-plane.ts) for frames that come with
   * the serving model's view: the cameras' height above the road (m); 0 or absent: off. Its
   * depth replaces the model's where the fit holds.
   */
  readonly cameraHeightM?: number;
  dispose(): Promise<void>;
}

/** A flagged frame waiting for the teacher: its picture, and the serving model's view when perception sent it. */
interface TeacherJob {
  readonly camera: string;
  readonly stampNs: bigint;
  readonly image: Uint8Array;
  readonly cameraSize: { readonly width: number; readonly height: number };
  readonly view?: ModelView;
}

/** Flagged frames waiting for the teacher, at most (the oldest go first when more come). */
const MAX_TEACHER_QUEUE = 64;
/** Share of a slack grant the teacher may take before training gets the rest. */
const TEACHER_SHARE = 0.5;

export type LearnerState = 'idle' | 'collecting' | 'training' | 'promoted' | 'rejected' | 'rolled_back' | 'paused';

export interface LearnerStatus {
  readonly state: LearnerState;
  readonly reason: string;
  /** What perception says it serves; undefined until it has said. */
  readonly perceptionServing: number | undefined;
  /** The newest version this learner promoted (versionBase when none). */
  readonly promoted: number;
  /** The version a running slice would produce, when one runs. */
  readonly candidate: number | undefined;
  readonly lastDecision: GateDecision | undefined;
  readonly lastPromoted: GateDecision | undefined;
  readonly counts: Readonly<LearnerCounts> & ReturnType<LearnerCore['status']>;
  readonly newSamples: number;
}

interface LearnerCounts {
  teacherLabels: number;
  teacherBoxes: number;
  /** Flagged frames whose depth the road's geometry labelled, and those it could not (no road, no plane). */
  groundDepth: number;
  groundRefused: number;
  samples: number;
  referenceSamples: number;
  droppedByRate: number;
  malformed: number;
  labels: number;
  slackGrants: number;
  slackWhilePaused: number;
  slackWhileBusy: number;
  steps: number;
  bundles: number;
}

export class LearnerService {
  readonly #o: LearnerServiceOptions;
  readonly #store: SampleStore;
  readonly #core: LearnerCore;
  readonly #slack = new SlackWindow();
  readonly #budget: FlagBudget;
  readonly #toLabel: TeacherJob[] = [];
  readonly #mountPitch = new MountPitch();
  /** Per camera, where its height came from last (logged when it changes). */
  readonly #heightSource = new Map<string, string>();
  #lastRefusal: string | undefined;
  readonly #n: LearnerCounts = { teacherLabels: 0, teacherBoxes: 0, groundDepth: 0, groundRefused: 0, samples: 0, referenceSamples: 0, droppedByRate: 0, malformed: 0, labels: 0, slackGrants: 0, slackWhilePaused: 0, slackWhileBusy: 0, steps: 0, bundles: 0 };
  #channel: ChannelClient | undefined;
  #promoted: number;
  #perceptionServing: number | undefined;
  #paused = false;
  #busy = false;
  #training: Promise<void> = Promise.resolve();
  #disposed = false;
  #listeners: (() => void)[] = [];
  #event: { state: Exclude<LearnerState, 'training' | 'paused'>; reason: string } = { state: 'idle', reason: 'waiting for flagged frames' };
  #last: GateDecision | undefined;
  #lastPromoted: GateDecision | undefined;

  private constructor(o: LearnerServiceOptions, store: SampleStore) {
    this.#o = o;
    this.#store = store;
    this.#promoted = o.versionBase ?? 0;
    this.#budget = new FlagBudget(o.maxFlagsPerMinute ?? Number.POSITIVE_INFINITY);
    this.#core = new LearnerCore(
      o.manifest,
      o.tails,
      store,
      { clock: () => performance.now(), log: (l) => o.log('info', l), publishCandidate: (tails, d) => this.promote(tails, d), pacer: this.#slack },
      {
        minNewLabeled: o.minNewSamples,
        stepsPerCandidate: o.stepsPerCandidate,
        ...(o.minRouterSamples !== undefined ? { minRouterSamples: o.minRouterSamples } : {}),
        trainer: { ...ADAPT_TRAINER, ...o.trainer, heads: o.heads },
        gate: o.gate,
        ...o.core,
      },
    );
  }

  /** Opens the store, connects to perception's channel and says it is ready. */
  static async open(o: LearnerServiceOptions): Promise<LearnerService> {
    const store = SampleStore.open(o.storeFile, o.maxStoredSamples !== undefined ? { maxSamples: o.maxStoredSamples } : {});
    const service = new LearnerService(o, store);
    try {
      service.#channel = ChannelClient.connect({ endpoints: o.endpoints, keys: o.identity.curve, serverKey: o.perception.curveKey, log: (l) => o.log('warn', l), onMessage: (m) => service.#onMessage(m) });
    } catch (err) {
      service.#core.dispose();
      store.close();
      throw err;
    }
    await service.#channel.send({ kind: 'status', state: 'ready', detail: { store: store.file, images: o.teacher !== undefined, views: (o.teacher?.cameraHeightM ?? 0) > 0 } }).catch((err: Error) => o.log('warn', `perception did not take the ready status: ${err.message}`));
    o.log('info', `learner: model ${modelRef(o.manifest)}, store ${store.file} (${store.count()} sample(s)), channel ${o.endpoints.uplink} / ${o.endpoints.downlink}, heads ${o.heads.join(',')}`);
    const g = service.#core.gateSettings;
    o.log('info', `learner: gate margin ${g.margin} (new domain; below it, ${g.consistency} of resamples), tolerance ${g.tolerance} (old domain), teacher confidence ${g.teacherConfidence}`);
    return service;
  }

  get classes(): readonly string[] {
    return this.#o.manifest.classes;
  }

  status(): LearnerStatus {
    const c = this.#core.status();
    return {
      state: this.#paused ? 'paused' : this.#busy ? 'training' : this.#event.state,
      reason: this.#event.reason,
      perceptionServing: this.#perceptionServing,
      promoted: this.#promoted,
      candidate: this.#busy ? (this.#o.versionBase ?? 0) + c.version + 1 : undefined,
      lastDecision: this.#last,
      lastPromoted: this.#lastPromoted,
      counts: { ...c, ...this.#n },
      newSamples: this.#store.count({ domain: 'new' }),
    };
  }

  /** An annotation (a label topic): matched to its sample by camera and stamp, possibly later. Throws for a label that does not fit (never stored). */
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

  /**
   * Perception swaps back (it holds the previous sets); the learner records why. Its next
   * candidate still builds on its own newest tails and must pass the gate again.
   */
  rollback(version: string): void {
    this.#set('rolled_back', `operator rollback to ${version || 'the previous version'}`);
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Stops training at its next step, lets the slice end, closes the channel and the store (idempotent). */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#slack.close();
    this.#core.onPause();
    await this.#training;
    await this.#o.teacher?.dispose();
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
          this.#onSlack(msg.grantMs);
          break;
        case 'pause':
          this.#slack.revoke();
          this.#core.onPause();
          break;
        case 'serving':
          this.#perceptionServing = msg.version;
          this.#o.log('info', `perception serves v${msg.version}${msg.reason ? ` (${msg.reason})` : ''}`);
          this.#changed();
          break;
      }
    } catch (err) {
      this.#n.malformed++;
      this.#o.log('warn', `${msg.kind} message refused: ${(err as Error).message}`);
    }
  }

  #onSample(msg: Extract<ToLearner, { kind: 'sample' }>): void {
    // The view is for the teacher only: the store and the core keep the rest.
    const { view, ...sample } = sampleFromMessage(msg);
    const now = performance.now();
    if (!this.#budget.allows(sample.domain, now)) {
      this.#n.droppedByRate++;
      return;
    }
    const r = this.#core.onSample(sample);
    if (r.evicted.length > 0) this.#o.log('info', `store: evicted ${r.evicted.length} sample(s)`);
    if (r.id === null) return;
    this.#budget.spend(sample.domain, now);
    if (sample.domain === 'old') this.#n.referenceSamples++;
    else if (this.#o.teacher && sample.image) {
      this.#toLabel.push({ camera: sample.camera, stampNs: sample.stampNs, image: sample.image, cameraSize: sample.cameraSize, ...(view ? { view } : {}) });
      if (this.#toLabel.length > MAX_TEACHER_QUEUE) this.#toLabel.shift();
    }
    this.#n.samples++;
    if (this.#event.state === 'idle') this.#set('collecting', 'flagged frames arriving; training starts with enough labels');
    else this.#changed();
  }

  /**
   * A grant is for now: it opens the window. One that arrives while a slice still runs starts no
   * other (queued and run later, it could overlap frames); a paced gate in the running slice goes
   * on in it. A pause closes the window and stops training at its next step.
   */
  #onSlack(grantMs: number): void {
    this.#n.slackGrants++;
    if (this.#paused) {
      this.#n.slackWhilePaused++;
      return;
    }
    this.#slack.grant(grantMs * (this.#o.slackShare ?? 1));
    if (this.#busy) {
      this.#n.slackWhileBusy++;
      return;
    }
    this.#busy = true;
    this.#training = this.#slice(this.#slack.remainingMs())
      .catch((err: Error) => {
        if (!(err instanceof SlackClosedError)) this.#o.log('error', `training slice failed: ${err.message}`);
      })
      .finally(() => (this.#busy = false));
  }

  async #slice(grantMs: number): Promise<void> {
    if (this.#disposed || this.#paused || grantMs < 1) return;
    const t0 = performance.now();
    while (this.#toLabel.length > 0 && performance.now() - t0 < grantMs * TEACHER_SHARE && !this.#paused) await this.#teach(this.#toLabel.shift()!);
    const left = grantMs - (performance.now() - t0);
    if (left < 1) return;
    const r = await this.#core.onSlack(left);
    this.#n.steps += r.trained?.steps ?? 0;
    const d = r.decision;
    if (!d) return;
    this.#last = d;
    const version = (this.#o.versionBase ?? 0) + d.version;
    if (d.decision !== 'promote') this.#set('rejected', `v${version} refused by the gate: ${d.reason}`);
    // Perception records the gate's decisions (replay's summary); one it cannot take is not worth a crash.
    await this.#channel
      ?.send({ kind: 'status', state: 'gate', version, detail: { decision: d.decision, val_new: d.val_new_after, val_old: d.val_old_after, val_new_before: d.val_new_before, val_old_before: d.val_old_before, reason: d.reason, heads: perHead(d), reverted: [...d.reverted] } })
      .catch((err: Error) => this.#o.log('warn', `status not delivered: ${err.message}`));
  }

  /** The teacher labels one flagged frame's boxes (in camera pixels: the picture may have been sent smaller). */
  async #teach(f: TeacherJob): Promise<void> {
    try {
      const rgb = await decodeJpeg(f.image);
      const teacher = this.#o.teacher!;
      const { boxes, lane, depth: modelDepth } = await teacher.label({ rgb: rgb.data, width: rgb.width, height: rgb.height });
      const depth = this.#groundDepth(f) ?? modelDepth;
      const sx = f.cameraSize.width / rgb.width;
      const sy = f.cameraSize.height / rgb.height;
      const classes = this.#o.manifest.classes;
      const gt = boxes.flatMap((b) => {
        const classIndex = classes.indexOf(b.cls);
        return classIndex < 0 ? [] : [{ classIndex, x0: b.x * sx, y0: b.y * sy, x1: (b.x + b.w) * sx, y1: (b.y + b.h) * sy }];
      });
      this.#n.teacherLabels++;
      this.#n.teacherBoxes += gt.length;
      const labelsBoxes = teacher.heads === undefined || teacher.heads.includes('det');
      this.label({
        camera: f.camera,
        stampNs: f.stampNs,
        labels: {
          ...(labelsBoxes ? { boxes: gt, boxSource: 'teacher' as const } : {}),
          ...(lane ? { lane, laneSource: 'teacher' as const } : {}),
          ...(depth ? { depth, depthSource: 'teacher' as const } : {}),
        },
      });
    } catch (err) {
      this.#o.log('warn', `teacher: frame ${f.camera}@${f.stampNs} not labelled: ${(err as Error).message}`);
    }
  }

  /** The road's geometric depth of a frame in the model's units, or undefined (cue off, no view, no plane). */
  #groundDepth(f: TeacherJob): LabelImage<Float32Array> | undefined {
    const told = this.#o.teacher?.cameraHeightM ?? 0;
    if (!(told > 0) || !f.view) return undefined;
    // The robot's own figure for this camera (perception's TF lookup) over the one height it told the learner.
    const [lo, hi] = CAMERA_HEIGHT_RANGE_M;
    const tf = f.view.heightM;
    const fromTf = tf !== undefined && tf >= lo && tf <= hi;
    const h = fromTf ? tf : told;
    const source = fromTf ? 'tf' : tf !== undefined ? 'tf-refused' : 'told';
    if (this.#heightSource.get(f.camera) !== source) {
      this.#heightSource.set(f.camera, source);
      if (source === 'tf-refused') this.#o.log('warn', `ground-plane depth: camera ${f.camera}'s TF height ${tf!.toFixed(2)} m is not a camera's height above a road (${lo}..${hi} m); using the told ${told} m`);
      else this.#o.log('info', `ground-plane depth: camera ${f.camera} is ${h.toFixed(2)} m above the road (${source === 'tf' ? "the robot's TF" : 'the told height'})`);
    }
    // The mount's pitch: the robot's TF where it places the camera (a calibration is exact; the
    // markings' median can be pulled off by lens water), else the markings of this camera's
    // recent flagged frames, else this frame's horizon (groundPlaneDepth's own fit).
    const tfPitch = fromTf ? f.view.pitchRad : undefined;
    const marked = this.#mountPitch.observe(f.camera, f.view);
    const pitch = tfPitch ?? marked;
    // Where TF places the camera, its calibration stands unless the lanes contradict it (height,
    // or a horizon beyond MAX_TF_PITCH_GAP: the camera moved, or the markings mislead): a road
    // without markings (or a model that does not see them) is no reason to refuse.
    let distrust: GroundPlaneRefusal | undefined = this.#mountPitch.distrust(f.camera, h);
    if (distrust === 'height not confirmed by the lanes' && tfPitch !== undefined) distrust = undefined;
    if (distrust === undefined && tfPitch !== undefined && marked !== undefined && Math.abs(marked - tfPitch) > MAX_TF_PITCH_GAP) distrust = 'horizon disagrees with TF';
    const r = distrust ?? groundPlaneDepth(f.view, { cameraHeightM: h, ...(pitch !== undefined ? { pitch } : {}) });
    if (typeof r === 'string') {
      if (this.#n.groundRefused++ === 0 || r !== this.#lastRefusal) {
        const lanes = this.#mountPitch.laneHeight(f.camera, h);
        this.#o.log('info', `ground-plane depth: frame ${f.camera}@${f.stampNs} not labelled (${r}${r === 'height disagrees with the lanes' && lanes !== undefined ? `: ${fromTf ? 'TF says' : 'told'} ${h.toFixed(2)} m, the lanes say ${lanes.toFixed(2)} m` : ''}${r === 'horizon disagrees with TF' ? `: TF pitches it ${tfPitch!.toFixed(3)} rad down, the markings ${marked!.toFixed(3)}` : ''}); counted from now on`);
      }
      this.#lastRefusal = r;
      return undefined;
    }
    this.#n.groundDepth++;
    const s = f.view.depthScale;
    return { width: r.depth.width, height: r.depth.height, data: s === 1 ? r.depth.data : r.depth.data.map((v) => v / s) };
  }

  /** LearnerCore's publishCandidate port, called with every set the gate promoted: numbered, published, recorded. */
  async promote(tails: TailWeights, d: GateDecision): Promise<void> {
    const version = (this.#o.versionBase ?? 0) + d.version;
    const parent = this.#promoted;
    await this.#o.publish({ tails, decision: d, version, parent, channel: this.#channel! });
    this.#n.bundles++;
    this.#promoted = version;
    this.#lastPromoted = d;
    this.#last = d;
    this.#set('promoted', `v${version} promoted (${d.reason})`);
  }

  #set(state: Exclude<LearnerState, 'training' | 'paused'>, reason: string): void {
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
    if (domain === 'new' && Number.isFinite(this.perMinute)) this.#times.push(nowMs);
  }
}

/** A gate decision's per-head figures (det mAP@0.5, lane IoU, depth AbsRel) on each set, before and after: what a status message carries. */
export function perHead(d: GateDecision): { [set: string]: { det_map50: number | null; lane_iou: number | null; depth_absrel: number | null; samples: number } } {
  const one = (m: GateDecision['detail']['new_before']) => ({ det_map50: m.mAP, lane_iou: m.laneIoU, depth_absrel: m.absRel, samples: m.samples });
  const candidate = d.detail.candidate_new_after;
  return { new_before: one(d.detail.new_before), new_after: one(d.detail.new_after), old_before: one(d.detail.old_before), old_after: one(d.detail.old_after), ...(candidate ? { candidate_new_after: one(candidate) } : {}) };
}
