import { PerceptionError } from '../core/errors.js';
import type { InputSize } from '../model/manifest.js';
import type { RunnerTensor } from './runner.js';
import { iou } from '../eval/boxes.js';

/** A float map with its dims, batch dimension already dropped (e.g. `[K, h, w]`). */
export interface FloatMap {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** A fetched float32 output as a FloatMap; INVALID_ARGUMENT if it was not fetched or is not float32. */
export function asFloatMap(t: RunnerTensor | undefined, name: string): FloatMap {
  if (t === undefined || t.type !== 'float32') {
    throw new PerceptionError('INVALID_ARGUMENT', `output '${name}' is ${t ? t.type : 'not fetched'}, expected float32`, { field: name });
  }
  return t;
}

/** A detection in camera pixels, clipped to the image. `x1`, `y1` are exclusive edges. */
export interface Detection {
  readonly cls: string;
  readonly classIndex: number;
  readonly score: number;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

export interface DecodeOptions {
  /** Minimum heat, in (0, 1]. */
  readonly threshold: number;
  readonly maxDetections: number;
  /** `strides.det` of the manifest. */
  readonly stride: number;
  /** Model-input size `[H, W]` the frame ran at. */
  readonly inputSize: InputSize;
  readonly cameraSize: { readonly width: number; readonly height: number };
  readonly classes: readonly string[];
  /** Class-wise NMS IoU (default 0.6). The graph already suppresses non-peaks; this is a safety net. */
  readonly nmsIou?: number;
}

/**
 * Turns `det_heat` `[K, h, w]` and `det_box` `[4, h, w]` (contract: offsets in cells, sizes in
 * model-input pixels) into boxes in camera pixels, best first, at most `maxDetections`.
 */
export function decodeDetections(heat: FloatMap, box: FloatMap, o: DecodeOptions): Detection[] {
  const [K, h, w] = heat.dims;
  const bad = (field: string, msg: string) => new PerceptionError('INVALID_ARGUMENT', `decodeDetections: ${msg}`, { field });
  if (heat.dims.length !== 3 || heat.data.length !== K * h * w) throw bad('heat', `det_heat dims [${heat.dims.join(', ')}] do not match ${heat.data.length} values`);
  if (box.dims.length !== 3 || box.dims[0] !== 4 || box.dims[1] !== h || box.dims[2] !== w || box.data.length !== 4 * h * w) {
    throw bad('box', `det_box dims [${box.dims.join(', ')}] must be [4, ${h}, ${w}]`);
  }
  if (K !== o.classes.length) throw bad('classes', `det_heat has ${K} classes, ${o.classes.length} names given`);
  if (!(o.threshold > 0 && o.threshold <= 1)) throw bad('threshold', `threshold must be in (0, 1], got ${o.threshold}`);
  if (!(Number.isInteger(o.maxDetections) && o.maxDetections >= 0)) throw bad('maxDetections', `maxDetections must be a non-negative integer, got ${o.maxDetections}`);
  const [H, W] = o.inputSize;
  const { width: Wc, height: Hc } = o.cameraSize;
  const sd = o.stride;
  if (h * sd !== H || w * sd !== W) throw bad('stride', `grid ${h}x${w} × stride ${sd} is not the input size ${H}x${W}`);
  const sx = Wc / W;
  const sy = Hc / H;
  const plane = h * w;

  const cand: Detection[] = [];
  for (let k = 0; k < K; k++) {
    const base = k * plane;
    for (let i = 0; i < plane; i++) {
      const score = heat.data[base + i];
      if (!(score >= o.threshold)) continue; // also skips NaN
      const x = i % w;
      const y = (i - x) / w;
      const cx = (x + box.data[i]) * sd;
      const cy = (y + box.data[plane + i]) * sd;
      const bw = box.data[2 * plane + i];
      const bh = box.data[3 * plane + i];
      const x0 = clip((cx - bw / 2) * sx, Wc);
      const x1 = clip((cx + bw / 2) * sx, Wc);
      const y0 = clip((cy - bh / 2) * sy, Hc);
      const y1 = clip((cy + bh / 2) * sy, Hc);
      if (!(x1 > x0 && y1 > y0)) continue;
      cand.push({ cls: o.classes[k], classIndex: k, score, x0, y0, x1, y1 });
    }
  }
  cand.sort((a, b) => b.score - a.score);
  return nms(cand, o.nmsIou ?? 0.6, o.maxDetections);
}

const clip = (v: number, max: number) => (v < 0 ? 0 : v > max ? max : v);

/** Greedy class-wise NMS over detections sorted best first. */
export function nms(sorted: readonly Detection[], iouThreshold: number, max: number): Detection[] {
  const kept: Detection[] = [];
  for (const d of sorted) {
    if (kept.length >= max) break;
    if (!kept.some((k) => k.classIndex === d.classIndex && iou(k, d) > iouThreshold)) kept.push(d);
  }
  return kept;
}


/** Source index of each destination column/row for nearest sampling (pixel centres aligned). */
export function nearestIndex(src: number, dst: number): Int32Array {
  const idx = new Int32Array(dst);
  for (let i = 0; i < dst; i++) idx[i] = Math.min(src - 1, Math.floor(((i + 0.5) * src) / dst));
  return idx;
}

function checkDims(len: number, w: number, h: number, W: number, H: number, out: { length: number } | undefined, what: string): void {
  if (len !== w * h) throw new PerceptionError('INVALID_ARGUMENT', `${what} has ${len} values, ${w}x${h} needs ${w * h}`, { field: what });
  if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0)) throw new PerceptionError('INVALID_ARGUMENT', `${what}: target ${W}x${H} must be positive integers`, { field: what });
  if (out && out.length !== W * H) throw new PerceptionError('INVALID_ARGUMENT', `${what}: out has ${out.length} values, ${W}x${H} needs ${W * H}`, { field: 'out' });
}

/**
 * Nearest-neighbour resize of a class mask `w×h` → `W×H` (labels must not blend). Pass `out`
 * to reuse a buffer across frames. Dense outputs stay at model resolution unless a consumer
 * asks for camera size: publishing them large costs a copy of megabytes per frame.
 */
export function upscaleMask(mask: Uint8Array, w: number, h: number, W: number, H: number, out?: Uint8Array): Uint8Array {
  checkDims(mask.length, w, h, W, H, out, 'mask');
  const dst = out ?? new Uint8Array(W * H);
  const xs = nearestIndex(w, W);
  const ys = nearestIndex(h, H);
  for (let Y = 0; Y < H; Y++) {
    const row = ys[Y] * w;
    const o = Y * W;
    for (let X = 0; X < W; X++) dst[o + X] = mask[row + xs[X]];
  }
  return dst;
}

/** Resize of a depth map `w×h` → `W×H`; bilinear (half-pixel centres, edge-clamped) or nearest. */
export function upscaleDepth(
  depth: Float32Array,
  w: number,
  h: number,
  W: number,
  H: number,
  options: { mode?: 'bilinear' | 'nearest'; out?: Float32Array } = {},
): Float32Array {
  checkDims(depth.length, w, h, W, H, options.out, 'depth');
  const dst = options.out ?? new Float32Array(W * H);
  if (options.mode === 'nearest') {
    const xs = nearestIndex(w, W);
    const ys = nearestIndex(h, H);
    for (let Y = 0; Y < H; Y++) for (let X = 0; X < W; X++) dst[Y * W + X] = depth[ys[Y] * w + xs[X]];
    return dst;
  }
  const fx = w / W;
  const fy = h / H;
  for (let Y = 0; Y < H; Y++) {
    const sy = Math.min(Math.max((Y + 0.5) * fy - 0.5, 0), h - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, h - 1);
    const ty = sy - y0;
    for (let X = 0; X < W; X++) {
      const sx = Math.min(Math.max((X + 0.5) * fx - 0.5, 0), w - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, w - 1);
      const tx = sx - x0;
      const top = depth[y0 * w + x0] * (1 - tx) + depth[y0 * w + x1] * tx;
      const bot = depth[y1 * w + x0] * (1 - tx) + depth[y1 * w + x1] * tx;
      dst[Y * W + X] = top * (1 - ty) + bot * ty;
    }
  }
  return dst;
}
