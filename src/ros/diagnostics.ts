import type { ErrorCode } from '../core/errors.js';
import type { Time } from '../msgs/index.js';
import { LEVEL, type DiagnosticArray, type DiagnosticStatus, type KeyValue, type Level } from '../msgs/diagnostics.js';

/**
 * `diagnostic_msgs/DiagnosticArray` from plain status objects, following diagnostic_updater's
 * conventions so rqt_robot_monitor and diagnostic_aggregator treat us like any other driver:
 * one DiagnosticStatus per task named `"<node>: <task>"`, the hardware id of the device
 * (camera topic, model package), level as a byte (OK 0, WARN 1, ERROR 2, STALE 3), a one-line
 * message that joins every reason at the worst level, and key/values as strings.
 * Pure: no clock, no ROS; the node decides when to publish (1 Hz, like diagnostic_updater).
 */

/** The last problem seen with a camera's input, e.g. from `validateImage`. */
export interface InputProblem {
  readonly code: ErrorCode;
  readonly message: string;
  /** Frames rejected for this reason since the last report. */
  readonly count: number;
}

export interface CameraStatus {
  readonly camera: string;
  readonly topic: string;
  /** Frames received / run through the model since start. */
  readonly received: number;
  readonly processed: number;
  /** Milliseconds since the last frame arrived; undefined before the first. */
  readonly lastFrameAgeMs?: number;
  readonly latencyMs?: { readonly p50: number; readonly p99: number };
  readonly budgetMs: number;
  readonly deadlineMisses: number;
  /** Frames not processed, by reason (`superseded` by a newer frame in the mailbox, `bad_image`, …). */
  readonly drops: Readonly<Record<string, number>>;
  readonly input?: { readonly width: number; readonly height: number; readonly encoding: string };
  /** Resolution the model runs at for this camera now (the ladder rung). */
  readonly modelInput?: { readonly width: number; readonly height: number };
  /** Depth's factor for this camera's lens; undefined when the model states no focal. */
  readonly depthScale?: { readonly factor: number; readonly fromCameraInfo: boolean };
  /** The frame_id of its images (the results are published in it), once one arrived. */
  readonly frameId?: string;
  /** Its height above the ground frame from TF, where adaptation reads the mounts (undefined height: TF does not place it yet). */
  readonly mount?: { readonly groundFrame: string; readonly heightM?: number };
  readonly problems?: readonly InputProblem[];
}

export interface ModelStatus {
  readonly name: string;
  readonly version: string;
  readonly executionProvider: string;
  readonly loaded: boolean;
  readonly swaps: number;
  readonly rollbacks: number;
  /** Why the model is not loaded, or why the last update was refused. */
  readonly error?: string;
  /** The last refused update is a warning while the serving model is fine. */
  readonly lastRejectedUpdate?: string;
  /** Online adaptation: the weight bundle version serving now (`v0` = the shipped weights). */
  readonly servingWeights?: string;
  /** Online adaptation: weight updates refused so far. */
  readonly rejectedUpdates?: number;
}

export interface LearnerStatus {
  /** Label of AdaptationStatus.state, e.g. `training`. */
  readonly state: string;
  readonly servingVersion: string;
  readonly candidateVersion?: string;
  readonly flaggedFrames: number;
  readonly storedSamples: number;
  readonly maxStoredSamples: number;
  readonly paused: boolean;
  readonly lastReason?: string;
  readonly error?: string;
  /** Milliseconds since the learner was last heard from (perception side); undefined when unknown. */
  readonly lastHeardMs?: number;
}

export interface DiagnosticsOptions {
  /** Node name without namespace, e.g. `perception`. */
  readonly nodeName: string;
  /** A camera silent for longer than this is STALE (default 2000 ms). */
  readonly staleAfterMs?: number;
  /** WARN when deadline misses exceed this share of processed frames (default 0.05). */
  readonly missWarnRatio?: number;
  /** A learner not heard from for this long is STALE (default 5000 ms). */
  readonly learnerStaleAfterMs?: number;
}

export interface DiagnosticsInput {
  readonly cameras?: readonly CameraStatus[];
  readonly model?: ModelStatus;
  readonly learner?: LearnerStatus;
}

/** Builds one DiagnosticArray for everything the node reports. */
export function buildDiagnostics(stamp: Time, input: DiagnosticsInput, options: DiagnosticsOptions): DiagnosticArray {
  const status: DiagnosticStatus[] = [];
  for (const cam of input.cameras ?? []) status.push(cameraDiagnostic(cam, options));
  if (input.model) status.push(modelDiagnostic(input.model, options));
  if (input.learner) status.push(learnerDiagnostic(input.learner, options));
  return { header: { stamp: { ...stamp }, frame_id: '' }, status };
}

/** Collects reasons per level; the message is the worst level's reasons (diagnostic_updater's mergeSummary). */
class Summary {
  level: Level = LEVEL.OK;
  readonly #reasons = new Map<Level, string[]>();
  add(level: Level, reason: string): void {
    const list = this.#reasons.get(level) ?? [];
    list.push(reason);
    this.#reasons.set(level, list);
    // Numeric max, as diagnostic_updater's mergeSummary does (so STALE outranks ERROR).
    if (level > this.level) this.level = level;
  }
  message(ok: string): string {
    return this.level === LEVEL.OK ? ok : (this.#reasons.get(this.level) ?? []).join('; ');
  }
}

const ms = (v: number) => v.toFixed(1);

export function cameraDiagnostic(cam: CameraStatus, options: DiagnosticsOptions): DiagnosticStatus {
  const staleAfter = options.staleAfterMs ?? 2000;
  const missRatio = options.missWarnRatio ?? 0.05;
  const s = new Summary();
  if (cam.lastFrameAgeMs === undefined) s.add(LEVEL.STALE, `no frames received on ${cam.topic}`);
  else if (cam.lastFrameAgeMs > staleAfter) s.add(LEVEL.STALE, `no frames for ${(cam.lastFrameAgeMs / 1000).toFixed(1)} s`);
  for (const p of cam.problems ?? []) {
    // Every frame refused (nothing processed): the camera is unusable, ERROR. Some refused: WARN.
    const level = cam.received > 0 && cam.processed === 0 ? LEVEL.ERROR : LEVEL.WARN;
    s.add(level, `${p.count} frame(s) rejected: ${p.message}`);
  }
  if (cam.processed > 0 && cam.deadlineMisses / cam.processed > missRatio) {
    s.add(LEVEL.WARN, `${cam.deadlineMisses} of ${cam.processed} frames missed the ${ms(cam.budgetMs)} ms budget`);
  }
  if (cam.latencyMs && cam.latencyMs.p99 > cam.budgetMs) s.add(LEVEL.WARN, `latency p99 ${ms(cam.latencyMs.p99)} ms exceeds budget ${ms(cam.budgetMs)} ms`);
  const values: KeyValue[] = [
    kv('topic', cam.topic),
    kv('frames received', cam.received),
    kv('frames processed', cam.processed),
    kv('latency p50 (ms)', cam.latencyMs ? ms(cam.latencyMs.p50) : 'n/a'),
    kv('latency p99 (ms)', cam.latencyMs ? ms(cam.latencyMs.p99) : 'n/a'),
    kv('budget (ms)', ms(cam.budgetMs)),
    kv('deadline misses', cam.deadlineMisses),
    ...Object.keys(cam.drops)
      .sort()
      .map((reason) => kv(`drops: ${reason}`, cam.drops[reason])),
    kv('input size', cam.input ? `${cam.input.width}x${cam.input.height} ${cam.input.encoding}` : 'n/a'),
    kv('model input size', cam.modelInput ? `${cam.modelInput.width}x${cam.modelInput.height}` : 'n/a'),
    ...(cam.frameId ? [kv('frame_id', cam.frameId)] : []),
    ...(cam.mount ? [kv(`height above ${cam.mount.groundFrame} (TF)`, cam.mount.heightM !== undefined ? `${cam.mount.heightM.toFixed(2)} m` : 'not in TF yet')] : []),
    ...(cam.depthScale ? [kv('depth scale', cam.depthScale.fromCameraInfo ? `${cam.depthScale.factor.toFixed(3)} (camera_info)` : `${cam.depthScale.factor.toFixed(3)} (no camera_info yet: the model's lens)`)] : []),
  ];
  for (const p of cam.problems ?? []) values.push(kv(`rejected: ${p.code}`, p.count));
  return { level: s.level, name: `${options.nodeName}: camera ${cam.camera}`, message: s.message('running'), hardware_id: cam.topic, values };
}

export function modelDiagnostic(model: ModelStatus, options: DiagnosticsOptions): DiagnosticStatus {
  const s = new Summary();
  if (!model.loaded) s.add(LEVEL.ERROR, `model not loaded: ${model.error ?? 'unknown reason'}`);
  else if (model.error) s.add(LEVEL.WARN, model.error);
  if (model.lastRejectedUpdate) s.add(LEVEL.WARN, `weight update refused: ${model.lastRejectedUpdate}`);
  const values = [
    kv('model', model.name),
    kv('version', model.version),
    kv('execution provider', model.executionProvider),
    kv('swaps', model.swaps),
    kv('rollbacks', model.rollbacks),
  ];
  if (model.servingWeights !== undefined) values.push(kv('serving weights', model.servingWeights));
  if (model.rejectedUpdates !== undefined) values.push(kv('rejected updates', model.rejectedUpdates));
  return { level: s.level, name: `${options.nodeName}: model`, message: s.message(`${model.name} ${model.version} on ${model.executionProvider}`), hardware_id: `${model.name}@${model.version}`, values };
}

export function learnerDiagnostic(learner: LearnerStatus, options: DiagnosticsOptions): DiagnosticStatus {
  const s = new Summary();
  const staleAfter = options.learnerStaleAfterMs ?? 5000;
  if (learner.lastHeardMs !== undefined && learner.lastHeardMs > staleAfter) s.add(LEVEL.STALE, `learner silent for ${(learner.lastHeardMs / 1000).toFixed(1)} s`);
  if (learner.error) s.add(LEVEL.ERROR, learner.error);
  if (learner.storedSamples >= learner.maxStoredSamples) s.add(LEVEL.WARN, `sample store full (${learner.storedSamples}/${learner.maxStoredSamples}); new flags are dropped`);
  if (learner.paused) s.add(LEVEL.OK, 'paused by operator');
  const values = [
    kv('state', learner.state),
    kv('serving version', learner.servingVersion),
    kv('candidate version', learner.candidateVersion ?? ''),
    kv('flagged frames', learner.flaggedFrames),
    kv('stored samples', `${learner.storedSamples}/${learner.maxStoredSamples}`),
    kv('paused', learner.paused),
    kv('last reason', learner.lastReason ?? ''),
  ];
  const ok = learner.paused ? `paused (${learner.state})` : learner.state;
  return { level: s.level, name: `${options.nodeName}: learner`, message: s.message(ok), hardware_id: 'learner', values };
}

function kv(key: string, value: string | number | boolean): KeyValue {
  return { key, value: String(value) };
}

export { LEVEL, type DiagnosticArray, type DiagnosticStatus, type KeyValue, type Level } from '../msgs/diagnostics.js';
