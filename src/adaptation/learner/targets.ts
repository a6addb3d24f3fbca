import { PerceptionError } from '../../core/errors.js';
import { resizeLabels } from '../../eval/segmentation.js';
import type { InputSize } from '../../model/manifest.js';
import { isIgnoredBox } from '../../eval/ignore.js';
import type { GtBox, LabelImage } from './store-types.js';

/**
 * Labels → per-head training targets at each head's feature resolution, mirroring
 * training/data.py `det_targets` and the losses of training/train.py.
 */

export interface DetTargets {
  readonly K: number;
  readonly h: number;
  readonly w: number;
  /** Gaussian class-centre heat `[K, h, w]`, exactly 1 at centres. */
  readonly heat: Float32Array;
  /** `[4, h, w]`: off_x, off_y (cells, in 0..1), log w, log h (model-input pixels), at centres. */
  readonly reg: Float32Array;
  /** `[h, w]`: 1 at box centres (where reg is defined). */
  readonly mask: Uint8Array;
  /**
   * `[h, w]`: 1 over ignore regions (boxes too small or too hidden to count: eval/ignore.ts),
   * where no target is taken, positive or negative.
   */
  readonly ignore: Uint8Array;
}

export interface DetGeometry {
  readonly inputSize: InputSize;
  readonly cameraSize: { readonly width: number; readonly height: number };
  readonly stride: number;
  readonly numClasses: number;
}

/**
 * CenterNet targets from boxes in camera pixels (scaled to model input), as data.py does; boxes
 * that are ignore regions (in camera pixels, eval/ignore.ts) mark their cells ignored instead.
 */
export function detTargets(boxes: readonly GtBox[], g: DetGeometry): DetTargets {
  const [H, W] = g.inputSize;
  const sd = g.stride;
  const h = Math.floor(H / sd);
  const w = Math.floor(W / sd);
  const K = g.numClasses;
  const heat = new Float32Array(K * h * w);
  const reg = new Float32Array(4 * h * w);
  const mask = new Uint8Array(h * w);
  const ignore = new Uint8Array(h * w);
  const sx = W / g.cameraSize.width;
  const sy = H / g.cameraSize.height;
  const kept: GtBox[] = [];
  for (const b of boxes) {
    if (!(Number.isInteger(b.classIndex) && b.classIndex >= 0 && b.classIndex < K)) {
      throw new PerceptionError('INVALID_ARGUMENT', `box class ${b.classIndex} is outside 0..${K - 1}`, { field: 'boxes' });
    }
    if (!isIgnoredBox(b, g.cameraSize.height)) {
      kept.push(b);
      continue;
    }
    const x0 = Math.max(0, Math.floor((b.x0 * sx) / sd));
    const x1 = Math.min(w - 1, Math.floor((b.x1 * sx) / sd));
    const y0 = Math.max(0, Math.floor((b.y0 * sy) / sd));
    const y1 = Math.min(h - 1, Math.floor((b.y1 * sy) / sd));
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) ignore[y * w + x] = 1;
  }
  const scaled = kept.map((b) => ({ c: b.classIndex, x0: b.x0 * sx, y0: b.y0 * sy, x1: b.x1 * sx, y1: b.y1 * sy }));
  // large first, so small boxes own their centre cell
  scaled.sort((a, b) => (b.x1 - b.x0) * (b.y1 - b.y0) - (a.x1 - a.x0) * (a.y1 - a.y0));
  const plane = h * w;
  for (const b of scaled) {
    const bw = b.x1 - b.x0;
    const bh = b.y1 - b.y0;
    if (!(bw > 0 && bh > 0)) continue;
    const cx = (b.x0 + b.x1) / 2 / sd;
    const cy = (b.y0 + b.y1) / 2 / sd;
    const ix = Math.max(0, Math.min(Math.floor(cx), w - 1));
    const iy = Math.max(0, Math.min(Math.floor(cy), h - 1));
    const gx = Math.max(bw / sd / 6, 0.6);
    const gy = Math.max(bh / sd / 6, 0.6);
    const base = b.c * plane;
    for (let y = 0; y < h; y++) {
      const ey = ((y - iy) * (y - iy)) / (2 * gy * gy);
      for (let x = 0; x < w; x++) {
        const v = Math.exp(-((x - ix) * (x - ix)) / (2 * gx * gx) - ey);
        if (v > heat[base + y * w + x]) heat[base + y * w + x] = v;
      }
    }
    const i = iy * w + ix;
    heat[base + i] = 1;
    reg[i] = cx - ix;
    reg[plane + i] = cy - iy;
    reg[2 * plane + i] = Math.log(Math.max(bw, 1));
    reg[3 * plane + i] = Math.log(Math.max(bh, 1));
    mask[i] = 1;
    ignore[i] = 0; // a centre is a target even inside an ignored neighbour's cells
  }
  return { K, h, w, heat, reg, mask, ignore };
}

/** Lane/drivable labels resized (nearest) to the seg feature size; 255 stays "ignore". */
export function segTargets(lane: LabelImage<Uint8Array>, h: number, w: number): Uint8Array {
  return resizeLabels(lane.data, lane.width, lane.height, w, h);
}

export interface DepthTargets {
  /** ln(metres) per cell, the space the tail's value maps to before the graph exponentiates it. */
  readonly logDepth: Float32Array;
  /** 1 where 0 < depth < maxM (finite). */
  readonly valid: Uint8Array;
}

/**
 * Depth labels (metres, any resolution) sampled nearest at feature-cell centres. The tail's raw
 * value v maps to ln d = ln min + sigmoid(v)·ln(max/min) (training/model.py), so the loss is
 * an L1 on ln d against these targets.
 */
export function depthTargets(depth: LabelImage<Float32Array>, h: number, w: number, range: { minM: number; maxM: number }): DepthTargets {
  const { width: dw, height: dh, data } = depth;
  if (data.length !== dw * dh) throw new PerceptionError('INVALID_ARGUMENT', `depth label has ${data.length} values, ${dw}x${dh} needs ${dw * dh}`, { field: 'depth' });
  const logDepth = new Float32Array(h * w);
  const valid = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(dh - 1, Math.floor(((y + 0.5) * dh) / h));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(dw - 1, Math.floor(((x + 0.5) * dw) / w));
      const d = data[sy * dw + sx];
      if (!(d > 0 && d < range.maxM)) continue;
      valid[y * w + x] = 1;
      logDepth[y * w + x] = Math.log(Math.max(d, range.minM));
    }
  }
  return { logDepth, valid };
}
