import { PerceptionError } from '../core/errors.js';

export interface DepthResult {
  /** mean |pred − gt| / gt */
  readonly absRel: number;
  /** sqrt(mean (pred − gt)²), metres */
  readonly rmse: number;
  /** fraction of pixels with max(pred/gt, gt/pred) < 1.25 */
  readonly delta1: number;
  /** valid pixels counted; the metrics are NaN when 0 */
  readonly pixels: number;
}

/**
 * Monocular depth metrics over valid pixels (ground truth finite, > minDepth and < maxDepth,
 * prediction finite), averaged per pixel over all frames added — a frame with more valid
 * pixels weighs more, as in the KITTI/NYU evaluation code. Prediction and ground truth must
 * be the same size (resize the prediction, e.g. `upscaleDepth`, or the ground truth first).
 */
export class DepthEvaluator {
  private absRel = 0;
  private sqErr = 0;
  private good = 0;
  private n = 0;
  private readonly minDepth: number;
  private readonly maxDepth: number;

  constructor(options: { minDepth?: number; maxDepth?: number } = {}) {
    this.minDepth = options.minDepth ?? 0;
    this.maxDepth = options.maxDepth ?? 80;
    if (!(this.minDepth >= 0 && this.maxDepth > this.minDepth)) {
      throw new PerceptionError('INVALID_ARGUMENT', `depth range must satisfy 0 ≤ minDepth < maxDepth, got ${this.minDepth}..${this.maxDepth}`, { field: 'maxDepth' });
    }
  }

  add(pred: Float32Array, gt: Float32Array): void {
    if (pred.length !== gt.length) throw new PerceptionError('INVALID_ARGUMENT', `prediction has ${pred.length} pixels, ground truth ${gt.length}`, { field: 'gt' });
    for (let i = 0; i < gt.length; i++) {
      const g = gt[i];
      const p = pred[i];
      if (!(g > this.minDepth && g < this.maxDepth) || !Number.isFinite(p)) continue;
      const d = p - g;
      this.absRel += Math.abs(d) / g;
      this.sqErr += d * d;
      if (p > 0 && Math.max(p / g, g / p) < 1.25) this.good++;
      this.n++;
    }
  }

  /** Adds everything `other` has counted (same depth range assumed: the caller built both). */
  merge(other: DepthEvaluator): void {
    this.absRel += other.absRel;
    this.sqErr += other.sqErr;
    this.good += other.good;
    this.n += other.n;
  }

  result(): DepthResult {
    const n = this.n;
    return { absRel: this.absRel / n, rmse: Math.sqrt(this.sqErr / n), delta1: this.good / n, pixels: n };
  }
}
