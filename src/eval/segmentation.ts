import { PerceptionError } from '../core/errors.js';

/** Labels of the contract's seg_mask; ground truth uses the same values, 255 = ignore. */
export const SEG_CLASSES = ['background', 'lane', 'drivable'] as const;
export const IGNORE_LABEL = 255;

export interface SegmentationResult {
  /** IoU per class, null where the class appears in neither prediction nor ground truth. */
  readonly iou: Readonly<Record<(typeof SEG_CLASSES)[number], number | null>>;
  /** Row = ground truth, column = prediction, pixel counts. */
  readonly confusion: readonly (readonly number[])[];
  readonly pixels: number;
}

/**
 * Per-class IoU = TP / (TP + FP + FN) from a confusion matrix summed over all frames (pixels
 * of every frame weigh the same; this is the usual dataset-level IoU, not a mean of per-frame
 * IoUs). Prediction and ground truth must be the same size: resize the ground truth to the
 * prediction's size with `resizeLabels` (nearest) first.
 */
export class SegmentationEvaluator {
  private readonly conf = new Float64Array(SEG_CLASSES.length ** 2);
  private pixels = 0;

  add(pred: Uint8Array, gt: Uint8Array): void {
    if (pred.length !== gt.length) {
      throw new PerceptionError('INVALID_ARGUMENT', `prediction has ${pred.length} pixels, ground truth ${gt.length}: resize the ground truth first (resizeLabels)`, { field: 'gt' });
    }
    const C = SEG_CLASSES.length;
    for (let i = 0; i < pred.length; i++) {
      const g = gt[i];
      if (g === IGNORE_LABEL) continue;
      const p = pred[i];
      if (g >= C || p >= C) {
        throw new PerceptionError('INVALID_ARGUMENT', `label ${g >= C ? g : p} at pixel ${i} is not one of 0..${C - 1} (or ${IGNORE_LABEL} in ground truth)`, { field: g >= C ? 'gt' : 'pred', index: i });
      }
      this.conf[g * C + p]++;
      this.pixels++;
    }
  }

  /** Adds everything `other` has counted (frames scored once, summed into several totals). */
  merge(other: SegmentationEvaluator): void {
    for (let i = 0; i < this.conf.length; i++) this.conf[i] += other.conf[i];
    this.pixels += other.pixels;
  }

  result(): SegmentationResult {
    const C = SEG_CLASSES.length;
    const iou = {} as Record<(typeof SEG_CLASSES)[number], number | null>;
    SEG_CLASSES.forEach((name, c) => {
      let row = 0;
      let col = 0;
      for (let j = 0; j < C; j++) {
        row += this.conf[c * C + j];
        col += this.conf[j * C + c];
      }
      const tp = this.conf[c * C + c];
      const union = row + col - tp;
      iou[name] = union === 0 ? null : tp / union;
    });
    const confusion = SEG_CLASSES.map((_, g) => Array.from(this.conf.subarray(g * C, (g + 1) * C)));
    return { iou, confusion, pixels: this.pixels };
  }
}

/** Nearest-neighbour resize of a label image (either direction), pixel centres aligned. */
export function resizeLabels(src: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
  if (src.length !== w * h) throw new PerceptionError('INVALID_ARGUMENT', `labels have ${src.length} values, ${w}x${h} needs ${w * h}`, { field: 'labels' });
  if (w === W && h === H) return src;
  const out = new Uint8Array(W * H);
  const xs = new Int32Array(W);
  for (let X = 0; X < W; X++) xs[X] = Math.min(w - 1, Math.floor(((X + 0.5) * w) / W));
  for (let Y = 0; Y < H; Y++) {
    const row = Math.min(h - 1, Math.floor(((Y + 0.5) * h) / H)) * w;
    for (let X = 0; X < W; X++) out[Y * W + X] = src[row + xs[X]];
  }
  return out;
}
