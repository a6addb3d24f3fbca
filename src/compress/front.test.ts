import { describe, expect, it } from 'vitest';
import { markFront, score } from './front.js';

const row = (ms: number, s: number) => ({ ms, score: s, front: false });

describe('Pareto front', () => {
  it('keeps the rows nothing is both faster and better than', () => {
    const rows = markFront([row(10, 0.6), row(5, 0.5), row(7, 0.4), row(12, 0.7), row(12, 0.65), row(3, 0.5)]);
    expect(rows.map((r) => r.front)).toEqual([true, false, false, true, false, true]);
  });
  it('keeps exact ties', () => {
    expect(markFront([row(5, 0.5), row(5, 0.5)]).every((r) => r.front)).toBe(true);
  });
  it('scores the mean of the metrics, AbsRel as 1 - AbsRel, skipping missing ones', () => {
    expect(score({ det_map50: 0.5, lane_iou: 0.7, drivable_iou: 0.9, depth_absrel: 0.2, depth_delta1: 0.7, frames: 1 })).toBeCloseTo(0.72, 6);
    expect(score({ det_map50: null, lane_iou: 0.6, drivable_iou: null, depth_absrel: null, depth_delta1: null, frames: 1 })).toBe(0.6);
  });
});
