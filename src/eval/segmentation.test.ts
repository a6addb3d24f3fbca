import { describe, expect, it } from 'vitest';
import { resizeLabels, SegmentationEvaluator } from './segmentation.js';

describe('SegmentationEvaluator', () => {
  it('hand-computed IoU with an ignored pixel', () => {
    const ev = new SegmentationEvaluator();
    ev.add(Uint8Array.of(0, 1, 1, 2), Uint8Array.of(0, 1, 2, 2));
    ev.add(Uint8Array.of(2, 2, 0, 1), Uint8Array.of(2, 255, 0, 0));
    // (gt,pred): (0,0)x2 (0,1) (1,1) (2,1) (2,2)x2
    const r = ev.result();
    expect(r.confusion).toEqual([[2, 1, 0], [0, 1, 0], [0, 1, 2]]);
    expect(r.pixels).toBe(7);
    expect(r.iou.background).toBeCloseTo(2 / 3, 12);
    expect(r.iou.lane).toBeCloseTo(1 / 3, 12);
    expect(r.iou.drivable).toBeCloseTo(2 / 3, 12);
  });

  it('a class absent from both is null, not 0 or 1', () => {
    const ev = new SegmentationEvaluator();
    ev.add(Uint8Array.of(0, 2), Uint8Array.of(0, 2));
    expect(ev.result().iou).toEqual({ background: 1, lane: null, drivable: 1 });
  });

  it('BAD CALL: sizes differ, labels out of range', () => {
    const ev = new SegmentationEvaluator();
    expect(() => ev.add(new Uint8Array(2), new Uint8Array(3))).toThrow(/resize the ground truth first/);
    expect(() => ev.add(Uint8Array.of(3), Uint8Array.of(0))).toThrow(/label 3 at pixel 0/);
  });

  it('resizeLabels: nearest, both directions', () => {
    const src = Uint8Array.of(0, 1, 2, 0, 1, 1, 2, 2); // 4x2
    expect([...resizeLabels(src, 4, 2, 2, 1)]).toEqual([1, 2]); // samples (1,1) and (3,1)
    expect([...resizeLabels(Uint8Array.of(1, 2), 2, 1, 4, 2)]).toEqual([1, 1, 2, 2, 1, 1, 2, 2]);
  });
});
