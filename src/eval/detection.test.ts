import { describe, expect, it } from 'vitest';
import { isPerceptionError } from '../core/errors.js';
import { averagePrecision, DetectionEvaluator } from './detection.js';

const box = (classIndex: number, x0: number, y0: number, x1: number, y1: number, score = 1) => ({ classIndex, x0, y0, x1, y1, score });

describe('DetectionEvaluator (VOC all-point AP@0.5)', () => {
  it('hand-computed two-image case', () => {
    const ev = new DetectionEvaluator(['car', 'pedestrian', 'cyclist']);
    ev.add(
      [
        box(0, 0, 0, 10, 10, 0.9), // TP on A
        box(0, 1, 0, 11, 10, 0.8), // best match A (IoU 90/110) already taken → FP
        box(0, 50, 50, 60, 60, 0.7), // FP
        box(1, 0, 20, 5, 25, 0.5), // IoU 25/50 = 0.5 → TP (≥)
        box(2, 0, 0, 4, 4, 0.4), // cyclist has no GT anywhere
      ],
      [box(0, 0, 0, 10, 10), box(0, 20, 0, 30, 10), box(1, 0, 20, 5, 30)],
    );
    ev.add([box(0, 0, 0, 10, 10, 0.6)], [box(0, 0, 0, 10, 10)]);
    // car: ranked TP FP FP TP over 3 GT → recall 1/3 at precision 1, 2/3 at 0.5 → AP = 1/3 + 1/3·0.5 = 0.5
    const r = ev.result();
    expect(r.perClass[0]).toEqual({ cls: 'car', ap: expect.closeTo(0.5, 12), numGt: 3, numPred: 4 });
    expect(r.perClass[1].ap).toBeCloseTo(1, 12);
    expect(r.perClass[2]).toEqual({ cls: 'cyclist', ap: null, numGt: 0, numPred: 1 });
    expect(r.mAP).toBeCloseTo(0.75, 12); // cyclist excluded from the mean
  });

  it('merge: images matched apart and merged score as images added to one evaluator', () => {
    const images: [ReturnType<typeof box>[], ReturnType<typeof box>[]][] = [
      [[box(0, 0, 0, 10, 10, 0.9), box(0, 1, 0, 11, 10, 0.8), box(1, 0, 20, 5, 25, 0.5)], [box(0, 0, 0, 10, 10), box(1, 0, 20, 5, 30)]],
      [[box(0, 0, 0, 10, 10, 0.6), box(0, 40, 40, 50, 50, 0.95)], [box(0, 0, 0, 10, 10), box(0, 20, 0, 30, 10)]],
    ];
    const all = new DetectionEvaluator(['car', 'pedestrian']);
    const merged = new DetectionEvaluator(['car', 'pedestrian']);
    for (const [p, g] of [...images, images[0]]) {
      all.add(p, g);
      const one = new DetectionEvaluator(['car', 'pedestrian']);
      one.add(p, g);
      merged.merge(one);
    }
    expect(merged.result()).toEqual(all.result());
    expect(() => merged.merge(new DetectionEvaluator(['car']))).toThrow(/1 classes at IoU 0.5 into one of 2/);
  });

  it('no predictions → AP 0; no ground truth at all → mAP NaN', () => {
    const ev = new DetectionEvaluator(['car']);
    expect(ev.result().mAP).toBeNaN();
    ev.add([], [box(0, 0, 0, 1, 1)]);
    expect(ev.result().mAP).toBe(0);
  });

  it('averagePrecision: precision envelope is taken from the right', () => {
    // FP then TP, TP over 2 GT: precisions 0, .5, .667 at recalls 0, .5, 1 → envelope .667 → AP .667
    expect(averagePrecision([0.9, 0.8, 0.7], [0, 1, 1], 2)).toBeCloseTo(2 / 3, 12);
  });

  it('BAD CALL: class index out of range', () => {
    const ev = new DetectionEvaluator(['car']);
    try {
      ev.add([box(1, 0, 0, 1, 1)], []);
      throw new Error('expected failure');
    } catch (e) {
      expect(isPerceptionError(e, 'INVALID_ARGUMENT')).toBe(true);
      expect((e as Error).message).toMatch(/classIndex 1 is outside 0\.\.0/);
    }
  });
  it('ignore regions: a detection on an ignored object is neither TP nor FP', () => {
    const ev = new DetectionEvaluator(['car']);
    const gt = { classIndex: 0, x0: 0, y0: 0, x1: 10, y1: 10 };
    const tiny = { classIndex: 0, x0: 50, y0: 50, x1: 54, y1: 53 };
    // Scored box found at 0.9; the tiny (ignored) one "found" at 0.95 would otherwise be a false positive ranked first.
    ev.add([{ ...tiny, score: 0.95 }, { ...gt, score: 0.9 }], [gt], [tiny]);
    expect(ev.result().perClass[0]).toMatchObject({ ap: 1, numGt: 1, numPred: 1 });
    const strict = new DetectionEvaluator(['car']);
    strict.add([{ ...tiny, score: 0.95 }, { ...gt, score: 0.9 }], [gt]);
    expect(strict.result().perClass[0].ap).toBeCloseTo(0.5, 6);
  });
});
