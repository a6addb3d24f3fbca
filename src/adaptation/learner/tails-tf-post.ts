import type { FloatMap } from '../../engine/decode.js';

/**
 * The graph's post-processing of the tails' raw maps (training/model.py `postprocess`),
 * replicated in JavaScript for the parity test and the validation gate. Raw maps come from
 * `TfTails.applyMap`: pixel-major `[h·w, channels]`.
 */

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** det raw → `det_heat` `[K,h,w]` (sigmoid, zero where not a 3×3 local max) and `det_box` `[4,h,w]`. */
export function detOutputs(raw: Float32Array, K: number, h: number, w: number): { heat: FloatMap; box: FloatMap } {
  const C = K + 4;
  const plane = h * w;
  const heat = new Float32Array(K * plane);
  for (let p = 0; p < plane; p++) for (let k = 0; k < K; k++) heat[k * plane + p] = sigmoid(raw[p * C + k]);
  const sup = peaksOnly(heat, K, h, w);
  const box = new Float32Array(4 * plane);
  for (let p = 0; p < plane; p++) {
    box[p] = sigmoid(raw[p * C + K]);
    box[plane + p] = sigmoid(raw[p * C + K + 1]);
    box[2 * plane + p] = Math.exp(Math.min(7, Math.max(-2, raw[p * C + K + 2])));
    box[3 * plane + p] = Math.exp(Math.min(7, Math.max(-2, raw[p * C + K + 3])));
  }
  return { heat: { dims: [K, h, w], data: sup }, box: { dims: [4, h, w], data: box } };
}

/** `[K,h,w]` heat with every value that is not a 3×3 local maximum of its class set to zero (ties kept). */
export function peaksOnly(heat: Float32Array, K: number, h: number, w: number): Float32Array {
  const plane = h * w;
  const sup = new Float32Array(K * plane);
  for (let k = 0; k < K; k++) {
    const b = k * plane;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = heat[b + y * w + x];
        let peak = true;
        for (let dy = -1; dy <= 1 && peak; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= h) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx >= 0 && xx < w && heat[b + yy * w + xx] > v) {
              peak = false;
              break;
            }
          }
        }
        if (peak) sup[b + y * w + x] = v;
      }
    }
  }
  return sup;
}

/**
 * What a package that merges a second detector serves (training/coco_head.py, step 4): per
 * cell, the source whose best class scores higher — the tails' peaks (`detOutputs`) or the
 * detector's (`coco_heat` / `coco_box`, on the same grid) — then the merged heat's 3×3 peaks.
 */
export function mergeServed(det: { heat: FloatMap; box: FloatMap }, coco: { heat: FloatMap; box: FloatMap }): { heat: FloatMap; box: FloatMap } {
  const [K, h, w] = det.heat.dims;
  const plane = h * w;
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  if (!same(coco.heat.dims, det.heat.dims) || !same(coco.box.dims, det.box.dims)) {
    throw new Error(`mergeServed: coco maps [${coco.heat.dims.join(', ')}] / [${coco.box.dims.join(', ')}] do not match the tails' [${det.heat.dims.join(', ')}] / [${det.box.dims.join(', ')}]`);
  }
  const heat = new Float32Array(K * plane);
  const box = new Float32Array(4 * plane);
  for (let p = 0; p < plane; p++) {
    let bestDet = -Infinity;
    let bestCoco = -Infinity;
    for (let k = 0; k < K; k++) {
      bestDet = Math.max(bestDet, det.heat.data[k * plane + p]);
      bestCoco = Math.max(bestCoco, coco.heat.data[k * plane + p]);
    }
    const src = bestCoco > bestDet ? coco : det;
    for (let k = 0; k < K; k++) heat[k * plane + p] = src.heat.data[k * plane + p];
    for (let c = 0; c < 4; c++) box[c * plane + p] = src.box.data[c * plane + p];
  }
  return { heat: { dims: [K, h, w], data: peaksOnly(heat, K, h, w) }, box: { dims: [4, h, w], data: box } };
}

/** Per-pixel argmax of seg logits `[h·w, 3]`. */
export function segArgmax(raw: Float32Array, classes = 3): Uint8Array {
  const n = raw.length / classes;
  const out = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (raw[p * classes + c] > raw[p * classes + best]) best = c;
    out[p] = best;
  }
  return out;
}

/** Mean per-pixel softmax entropy (nats), the graph's `seg_entropy`. */
export function segEntropy(raw: Float32Array, classes = 3): number {
  const n = raw.length / classes;
  let sum = 0;
  for (let p = 0; p < n; p++) {
    let m = -Infinity;
    for (let c = 0; c < classes; c++) m = Math.max(m, raw[p * classes + c]);
    let z = 0;
    for (let c = 0; c < classes; c++) z += Math.exp(raw[p * classes + c] - m);
    const lz = Math.log(z);
    for (let c = 0; c < classes; c++) {
      const lp = raw[p * classes + c] - m - lz;
      sum -= Math.exp(lp) * lp;
    }
  }
  return sum / n;
}

/** Depth tail value → metres: min · (max/min)^sigmoid(v). */
export function depthFromRaw(v: number, minM: number, maxM: number): number {
  return minM * Math.exp(sigmoid(v) * Math.log(maxM / minM));
}

/**
 * Bilinear upsampling of a `[c, h, w]` planar map by an integer factor, half-pixel centres
 * (PyTorch `interpolate(..., align_corners=False)`, ONNX Resize `half_pixel`), edges clamped.
 */
export function upsampleBilinear(src: Float32Array, c: number, h: number, w: number, s: number): Float32Array {
  const H = h * s;
  const W = w * s;
  const out = new Float32Array(c * H * W);
  const ix0 = new Int32Array(W);
  const ix1 = new Int32Array(W);
  const fx = new Float32Array(W);
  for (let X = 0; X < W; X++) {
    const x = Math.max(0, (X + 0.5) / s - 0.5);
    ix0[X] = Math.min(Math.floor(x), w - 1);
    ix1[X] = Math.min(ix0[X] + 1, w - 1);
    fx[X] = x - Math.floor(x);
  }
  for (let k = 0; k < c; k++) {
    const b = k * h * w;
    for (let Y = 0; Y < H; Y++) {
      const y = Math.max(0, (Y + 0.5) / s - 0.5);
      const y0 = Math.min(Math.floor(y), h - 1);
      const y1 = Math.min(y0 + 1, h - 1);
      const fy = y - Math.floor(y);
      const o = k * H * W + Y * W;
      for (let X = 0; X < W; X++) {
        const a = src[b + y0 * w + ix0[X]] * (1 - fx[X]) + src[b + y0 * w + ix1[X]] * fx[X];
        const d = src[b + y1 * w + ix0[X]] * (1 - fx[X]) + src[b + y1 * w + ix1[X]] * fx[X];
        out[o + X] = a * (1 - fy) + d * fy;
      }
    }
  }
  return out;
}

/** Pixel-major `[P, C]` → planar `[C, P]`. */
export function toPlanar(raw: Float32Array, C: number): Float32Array {
  const P = raw.length / C;
  const out = new Float32Array(raw.length);
  for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) out[c * P + p] = raw[p * C + c];
  return out;
}
