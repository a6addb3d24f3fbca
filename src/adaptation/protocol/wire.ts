import { PerceptionError } from '../../core/errors.js';
import { HEADS, SERVED_EXTRAS, type HeadName, type ServedExtra } from '../../model/manifest.js';
import type { JsonValue, LabelMessage, SampleMessage, WireTensor } from './channel-codec.js';
import type { LabelEvent } from '../learner/labels.js';
import type { FeatureMap, FlaggedSample, FlagReasonKind, GtBox, ModelView, SampleLabels } from '../learner/store-types.js';

/**
 * Learner types ↔ channel messages. Feature maps, masks and depth travel as binary tensors;
 * everything small as JSON. Decoding checks shapes against byte counts so a malformed
 * message becomes a MESSAGE_DECODE error, never a bad sample in the store.
 */
const REASONS: readonly FlagReasonKind[] = ['uncertainty', 'entropy', 'temporal', 'drift', 'manual'];

export function sampleToMessage(s: FlaggedSample): SampleMessage {
  const tensors: Record<string, WireTensor> = {};
  for (const h of [...HEADS, ...SERVED_EXTRAS]) {
    const f = s.features[h];
    if (f) tensors[`feat_${h}`] = { dtype: 'float32', shape: [f.channels, f.height, f.width], data: f.data };
  }
  if (s.image) tensors.image = { dtype: 'uint8', shape: [s.image.length], data: s.image };
  const v = s.view;
  if (v) {
    tensors.view_depth = { dtype: 'float32', shape: [v.depth.height, v.depth.width], data: v.depth.data };
    tensors.view_seg = { dtype: 'uint8', shape: [v.seg.height, v.seg.width], data: v.seg.data };
  }
  return {
    kind: 'sample',
    id: `${s.camera}@${s.stampNs}`,
    camera: s.camera,
    stampNs: s.stampNs,
    reasons: [...s.reasons],
    tensors,
    info: {
      domain: s.domain,
      scores: { ...s.scores },
      input_size: [s.inputSize[0], s.inputSize[1]],
      camera_size: [s.cameraSize.width, s.cameraSize.height],
      predictions: { ...(s.predictions ?? {}) },
      ...(v ? { view: { camera_size: [v.cameraSize.width, v.cameraSize.height], k: [...v.k], depth_scale: v.depthScale, ...(v.heightM !== undefined ? { height_m: v.heightM } : {}), ...(v.pitchRad !== undefined ? { pitch_rad: v.pitchRad } : {}) } } : {}),
    },
  };
}

export function sampleFromMessage(m: SampleMessage): FlaggedSample {
  const bad = (why: string) => new PerceptionError('MESSAGE_DECODE', `sample message: ${why}`, { camera: m.camera, field: 'sample' });
  const info = (m.info ?? {}) as Record<string, JsonValue>;
  const pair = (v: JsonValue | undefined, name: string): [number, number] => {
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0)) throw bad(`${name} must be two positive integers`);
    return [v[0] as number, v[1] as number];
  };
  const features = {} as Record<HeadName | ServedExtra, FeatureMap>;
  for (const h of [...HEADS, ...SERVED_EXTRAS.filter((k) => m.tensors[`feat_${k}`] !== undefined)]) {
    const t = m.tensors[`feat_${h}`];
    if (!t || t.dtype !== 'float32' || t.shape.length !== 3) throw bad(`feat_${h} must be a float32 [C, H, W] tensor`);
    const [channels, height, width] = t.shape;
    if (t.data.length !== channels * height * width) throw bad(`feat_${h} has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    features[h] = { channels, height, width, data: t.data as Float32Array };
  }
  const domain = info.domain === 'old' ? 'old' : 'new';
  const reasons = m.reasons.filter((r): r is FlagReasonKind => (REASONS as readonly string[]).includes(r));
  const [cw, ch] = pair(info.camera_size, 'camera_size');
  const image = m.tensors.image?.dtype === 'uint8' ? (m.tensors.image.data as Uint8Array) : undefined;
  return {
    camera: m.camera,
    stampNs: m.stampNs,
    domain,
    reasons,
    scores: numbers(info.scores),
    inputSize: pair(info.input_size, 'input_size'),
    cameraSize: { width: cw, height: ch },
    features,
    ...(image ? { image } : {}),
    predictions: numbers(info.predictions),
    ...(info.view !== undefined ? { view: viewFromMessage(m, info.view, bad, pair) } : {}),
  };
}

/** A sample's ModelView: both maps 2-D and filled, four positive intrinsics, a positive depth scale, a positive height if any. */
function viewFromMessage(m: SampleMessage, v: JsonValue, bad: (why: string) => PerceptionError, pair: (v: JsonValue | undefined, name: string) => [number, number]): ModelView {
  const o = (v ?? {}) as Record<string, JsonValue>;
  const map = <T extends 'float32' | 'uint8'>(name: string, dtype: T) => {
    const t = m.tensors[name];
    if (!t || t.dtype !== dtype || t.shape.length !== 2 || t.data.length !== t.shape[0] * t.shape[1] || t.data.length === 0) throw bad(`${name} must be a non-empty ${dtype} [H, W] tensor`);
    return { height: t.shape[0], width: t.shape[1], data: t.data };
  };
  const k = o.k;
  if (!Array.isArray(k) || k.length !== 4 || !k.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) throw bad('view.k must be four positive numbers [fx, fy, cx, cy]');
  const scale = o.depth_scale;
  if (typeof scale !== 'number' || !(Number.isFinite(scale) && scale > 0)) throw bad('view.depth_scale must be a positive number');
  const [width, height] = pair(o.camera_size, 'view.camera_size');
  const h = o.height_m;
  if (h !== undefined && (typeof h !== 'number' || !(Number.isFinite(h) && h > 0))) throw bad('view.height_m must be a positive number (metres)');
  const pitch = o.pitch_rad;
  if (pitch !== undefined && (typeof pitch !== 'number' || !(Math.abs(pitch) <= Math.PI / 2))) throw bad('view.pitch_rad must be an angle in [-pi/2, pi/2] (rad)');
  return {
    depth: map('view_depth', 'float32') as ModelView['depth'],
    seg: map('view_seg', 'uint8') as ModelView['seg'],
    cameraSize: { width, height },
    k: k as [number, number, number, number],
    depthScale: scale,
    ...(h !== undefined ? { heightM: h } : {}),
    ...(pitch !== undefined ? { pitchRad: pitch } : {}),
  };
}

export function labelToMessage(ev: LabelEvent): LabelMessage {
  const tensors: Record<string, WireTensor> = {};
  const l = ev.labels;
  if (l.lane) tensors.lane = { dtype: 'uint8', shape: [l.lane.height, l.lane.width], data: l.lane.data };
  if (l.depth) tensors.depth = { dtype: 'float32', shape: [l.depth.height, l.depth.width], data: l.depth.data };
  const label: JsonValue = l.boxes ? { boxes: l.boxes.map((b) => [b.classIndex, b.x0, b.y0, b.x1, b.y1]) } : {};
  return { kind: 'label', camera: ev.camera, stampNs: ev.stampNs, label, tensors };
}

export function labelFromMessage(m: LabelMessage): LabelEvent {
  const bad = (why: string) => new PerceptionError('MESSAGE_DECODE', `label message: ${why}`, { camera: m.camera, field: 'label' });
  const labels: { boxes?: GtBox[]; lane?: SampleLabels['lane']; depth?: SampleLabels['depth'] } = {};
  const boxes = (m.label as { boxes?: unknown })?.boxes;
  if (boxes !== undefined) {
    if (!Array.isArray(boxes)) throw bad('boxes must be an array');
    labels.boxes = boxes.map((b) => {
      if (!Array.isArray(b) || b.length !== 5 || !b.every((x) => typeof x === 'number' && Number.isFinite(x))) throw bad('each box must be [class, x0, y0, x1, y1]');
      return { classIndex: b[0], x0: b[1], y0: b[2], x1: b[3], y1: b[4] };
    });
  }
  const image = <T extends Uint8Array | Float32Array>(name: string, dtype: string) => {
    const t = m.tensors?.[name];
    if (!t) return undefined;
    if (t.dtype !== dtype || t.shape.length !== 2 || t.data.length !== t.shape[0] * t.shape[1]) throw bad(`${name} must be a ${dtype} [H, W] tensor`);
    return { width: t.shape[1], height: t.shape[0], data: t.data as T };
  };
  const lane = image<Uint8Array>('lane', 'uint8');
  const depth = image<Float32Array>('depth', 'float32');
  if (lane) labels.lane = lane;
  if (depth) labels.depth = depth;
  return { camera: m.camera, stampNs: m.stampNs, labels };
}

function numbers(v: JsonValue | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'number') out[k] = x;
  return out;
}
