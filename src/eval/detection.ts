import { iou } from './boxes.js';
import { PerceptionError } from '../core/errors.js';

/** An axis-aligned box, `x1`/`y1` exclusive, in any consistent pixel frame. */
export interface EvalBox {
  readonly classIndex: number;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

export interface ScoredBox extends EvalBox {
  readonly score: number;
}

export interface ClassAP {
  readonly cls: string;
  /** Average precision, or null when the class has no ground truth (excluded from the mean). */
  readonly ap: number | null;
  readonly numGt: number;
  readonly numPred: number;
}

export interface DetectionResult {
  readonly perClass: readonly ClassAP[];
  /** Mean AP over classes that have ground truth; NaN when none has. */
  readonly mAP: number;
  readonly iouThreshold: number;
}

/** Intersection over union of two boxes (one definition, shared with the decoders' NMS). */
export const boxIoU: (a: EvalBox, b: EvalBox) => number = iou;

/**
 * mAP@IoU (default 0.5), Pascal VOC style, accumulated image by image:
 * - matching (per image, per class): predictions in descending score; each takes the ground
 *   truth box it overlaps most; IoU ≥ threshold and that box not yet taken → true positive,
 *   otherwise false positive (VOC devkit rule: a duplicate does not fall back to a second box);
 * - AP: all-point interpolation (area under the precision envelope over every recall step,
 *   VOC 2010+), not the 11-point variant;
 * - classes without any ground truth have AP null and are left out of the mean: there is
 *   nothing to recall, and counting them as 0 or 1 would only reflect the test set's make-up.
 *   Their false positives therefore do not lower mAP (they show in `numPred`).
 */
export class DetectionEvaluator {
  private readonly scores: number[][];
  private readonly tp: number[][];
  private readonly numGt: number[];

  constructor(
    private readonly classes: readonly string[],
    private readonly iouThreshold = 0.5,
  ) {
    if (classes.length === 0) throw new PerceptionError('INVALID_ARGUMENT', 'DetectionEvaluator needs at least one class', { field: 'classes' });
    if (!(iouThreshold > 0 && iouThreshold <= 1)) throw new PerceptionError('INVALID_ARGUMENT', `iouThreshold must be in (0, 1], got ${iouThreshold}`, { field: 'iouThreshold' });
    this.scores = classes.map(() => []);
    this.tp = classes.map(() => []);
    this.numGt = classes.map(() => 0);
  }

  /**
   * Adds one image's predictions and ground truth. `ignore` holds objects that are neither
   * required nor penalised (too small or too occluded to score fairly): a prediction that
   * misses every scored box but overlaps an ignored one of its class counts as neither TP nor FP.
   */
  add(preds: readonly ScoredBox[], gts: readonly EvalBox[], ignore: readonly EvalBox[] = []): void {
    const K = this.classes.length;
    for (const b of [...preds, ...gts, ...ignore]) {
      if (!(Number.isInteger(b.classIndex) && b.classIndex >= 0 && b.classIndex < K)) {
        throw new PerceptionError('INVALID_ARGUMENT', `classIndex ${b.classIndex} is outside 0..${K - 1}`, { field: 'classIndex' });
      }
    }
    for (let k = 0; k < K; k++) {
      const g = gts.filter((b) => b.classIndex === k);
      const p = preds.filter((b) => b.classIndex === k).sort((a, b) => b.score - a.score);
      this.numGt[k] += g.length;
      const taken = new Uint8Array(g.length);
      for (const pred of p) {
        let best = -1;
        let bestIoU = 0;
        g.forEach((gt, j) => {
          const v = boxIoU(pred, gt);
          if (v > bestIoU) [best, bestIoU] = [j, v];
        });
        const hit = best >= 0 && bestIoU >= this.iouThreshold && taken[best] === 0;
        if (hit) taken[best] = 1;
        else if (ignore.some((ig) => ig.classIndex === k && boxIoU(pred, ig) >= this.iouThreshold)) continue;
        this.scores[k].push(pred.score);
        this.tp[k].push(hit ? 1 : 0);
      }
    }
  }

  /**
   * Adds everything `other` has counted (images matched once, summed into several totals, as a
   * bootstrap of the images does). Both must score the same classes at the same IoU threshold.
   */
  merge(other: DetectionEvaluator): void {
    if (other.classes.length !== this.classes.length || other.iouThreshold !== this.iouThreshold) {
      throw new PerceptionError('INVALID_ARGUMENT', `cannot merge an evaluator of ${other.classes.length} classes at IoU ${other.iouThreshold} into one of ${this.classes.length} at ${this.iouThreshold}`, { field: 'other' });
    }
    for (let k = 0; k < this.classes.length; k++) {
      for (let i = 0; i < other.scores[k].length; i++) {
        this.scores[k].push(other.scores[k][i]);
        this.tp[k].push(other.tp[k][i]);
      }
      this.numGt[k] += other.numGt[k];
    }
  }

  result(): DetectionResult {
    const perClass = this.classes.map((cls, k) => ({
      cls,
      ap: this.numGt[k] === 0 ? null : averagePrecision(this.scores[k], this.tp[k], this.numGt[k]),
      numGt: this.numGt[k],
      numPred: this.scores[k].length,
    }));
    const aps = perClass.map((c) => c.ap).filter((a): a is number => a !== null);
    return { perClass, mAP: aps.length ? aps.reduce((a, b) => a + b, 0) / aps.length : NaN, iouThreshold: this.iouThreshold };
  }
}

/** All-point interpolated AP from per-prediction scores and TP flags over `numGt` positives. */
export function averagePrecision(scores: readonly number[], tp: readonly number[], numGt: number): number {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const rec = [0];
  const prec = [0];
  let ctp = 0;
  order.forEach((i, n) => {
    ctp += tp[i];
    rec.push(ctp / numGt);
    prec.push(ctp / (n + 1));
  });
  rec.push(1);
  prec.push(0);
  for (let i = prec.length - 2; i >= 0; i--) prec[i] = Math.max(prec[i], prec[i + 1]);
  let ap = 0;
  for (let i = 1; i < rec.length; i++) if (rec[i] !== rec[i - 1]) ap += (rec[i] - rec[i - 1]) * prec[i];
  return ap;
}
