import { describe, expect, it } from 'vitest';
import type { FrameResult } from '../pipeline/perception.js';
import { CameraScorer, scoreFrame } from './scoring.js';

function result(boxes: FrameResult['boxes']): FrameResult {
  return {
    camera: 'front',
    stampNs: 1n,
    cameraSize: { width: 400, height: 200 },
    size: [100, 200], // the rung a frame ran at: ignore regions do not depend on it (eval/ignore.ts)
    boxes,
    lane: { width: 2, height: 1, data: Uint8Array.of(1, 2) },
    depth: { width: 2, height: 1, data: Float32Array.of(10, 20) },
    segEntropy: 0,
    weights: 'w',
    tensors: {},
  };
}

describe('CameraScorer', () => {
  it('leaves tiny and mostly hidden objects out of detection scoring', () => {
    const s = new CameraScorer(['car', 'truck']);
    const big = { cls: 'car', score: 1, x0: 0, y0: 0, x1: 40, y1: 40 };
    const small = { cls: 'car', score: 1, x0: 100, y0: 100, x1: 106, y1: 106 }; // 6 camera px < 8/192 of 200
    const hidden = { cls: 'car', score: 0.2, x0: 200, y0: 0, x1: 260, y1: 60 }; // 20 % visible
    const det = (b: typeof big, score: number) => ({ cls: b.cls, classIndex: 0, score, x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 });
    s.add(result([det(small, 0.99), det(hidden, 0.98), det(big, 0.9)]), { detections: { kind: 'detections', boxes: [big, small, hidden] } });
    const m = s.result();
    expect(m.det_map50).toBe(1);
    expect(m.det_ap50_per_class).toEqual({ car: 1, truck: null });
  });
  it('compares dense ground truth at the prediction size, nearest-sampled', () => {
    const s = new CameraScorer(['car']);
    s.add(result([]), {
      lane: { kind: 'lane', width: 4, height: 2, data: Uint8Array.of(1, 1, 2, 2, 1, 1, 2, 2) },
      depth: { kind: 'depth', width: 4, height: 2, data: Float32Array.of(10, 10, 25, 25, 10, 10, 25, 25) },
    });
    const m = s.result();
    expect([m.lane_iou, m.drivable_iou]).toEqual([1, 1]);
    expect(m.depth_absrel).toBeCloseTo((0 + 5 / 25) / 2, 4);
    expect(m.det_map50).toBeNull();
  });
});

describe('scoreFrame', () => {
  it('splits ground truth into boxes and ignore regions the same way at every rung of the ladder (camera pixels)', () => {
    const truth = { detections: { kind: 'detections' as const, boxes: [{ cls: 'car', score: 1, x0: 0, y0: 0, x1: 20, y1: 9 }, { cls: 'car', score: 1, x0: 50, y0: 50, x1: 60, y1: 57 }] } };
    const split = (size: [number, number]) => {
      const r = result([]);
      r.size = size;
      const d = scoreFrame(['car'], r, truth).det!;
      return [d.gts.length, d.ignore.length];
    };
    expect(split([192, 384])).toEqual([1, 1]);
    expect(split([128, 256])).toEqual(split([192, 384]));
    expect(split([96, 192])).toEqual(split([192, 384]));
  });
});

describe('scoreFrame on a fixed grid (dense metrics independent of the rung)', () => {
  // Labels 2x8: a lane one pixel wide at column 5, drivable right of it. A smaller rung (1x4)
  // sees the lane at its column 2, which covers columns 4-5 of the full grid.
  const truth = {
    lane: { kind: 'lane' as const, width: 8, height: 2, data: Uint8Array.of(0, 0, 0, 0, 0, 1, 2, 2, 0, 0, 0, 0, 0, 1, 2, 2) },
    depth: { kind: 'depth' as const, width: 8, height: 2, data: Float32Array.of(10, 10, 10, 10, 20, 20, 20, 20, 10, 10, 10, 10, 20, 20, 20, 20) },
  };
  const small = (): FrameResult => ({ ...result([]), size: [1, 4], lane: { width: 4, height: 1, data: Uint8Array.of(0, 0, 1, 2) }, depth: { width: 4, height: 1, data: Float32Array.of(10, 10, 20, 20) } });
  const lane = (score: ReturnType<typeof scoreFrame>) => {
    const s = new CameraScorer(['car']);
    s.addScore(score);
    return s.result();
  };

  it('at the prediction\'s own size a coarse rung is scored against coarsened labels: the lane looks perfect', () => {
    expect(lane(scoreFrame(['car'], small(), truth)).lane_iou).toBe(1);
  });

  it('on the full-size grid the same prediction is brought up to it (mask nearest) and scored as a full-size one would be', () => {
    const onGrid = lane(scoreFrame(['car'], small(), truth, { width: 8, height: 2 }));
    expect(onGrid.lane_iou).toBe(0.5); // columns 4-5 predicted, column 5 true
    const full: FrameResult = { ...result([]), size: [2, 8], lane: { width: 8, height: 2, data: Uint8Array.of(0, 0, 0, 0, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 2, 2) }, depth: { width: 8, height: 2, data: truth.depth.data } };
    expect(lane(scoreFrame(['car'], full, truth, { width: 8, height: 2 })).lane_iou).toBe(onGrid.lane_iou);
    expect(lane(scoreFrame(['car'], full, truth)).lane_iou).toBe(onGrid.lane_iou); // at its own size: nothing moves
  });

  it('brings depth to the grid too (bilinear, as decodeFrame does for camera size), labels nearest', () => {
    const m = lane(scoreFrame(['car'], small(), truth, { width: 8, height: 2 }));
    expect(m.depth_absrel).toBeGreaterThan(0); // the step between 10 m and 20 m is blended at the grid's size
    expect(m.depth_absrel).toBeLessThan(0.2);
  });
});

describe('scoreFrame + addScore', () => {
  it('a frame scored once and summed into a total gives the same metrics as adding it frame by frame', () => {
    const frames = [0, 1, 2].map((k) => {
      const r = result([{ cls: 'car', classIndex: 0, score: 0.9 - k * 0.2, x0: 0, y0: 0, x1: 40 + k * 10, y1: 40 }]);
      r.lane = { width: 2, height: 1, data: Uint8Array.of(k % 3, 1) };
      r.depth = { width: 2, height: 1, data: Float32Array.of(10 + k, 20 - k) };
      const truth = {
        detections: { kind: 'detections' as const, boxes: [{ cls: 'car', score: 1, x0: 0, y0: 0, x1: 50, y1: 40 }] },
        lane: { kind: 'lane' as const, width: 4, height: 2, data: Uint8Array.of(1, 1, 2, 2, 1, 1, 0, 0) },
        depth: { kind: 'depth' as const, width: 4, height: 2, data: Float32Array.of(10, 10, 25, 25, 12, 12, 90, 90) },
      };
      return { r, truth };
    });
    const direct = new CameraScorer(['car', 'truck']);
    const summed = new CameraScorer(['car', 'truck']);
    const other = new CameraScorer(['car', 'truck']);
    for (const { r, truth } of frames) {
      direct.add(r, truth);
      const score = scoreFrame(['car', 'truck'], r, truth);
      summed.addScore(score);
      other.addScore(score); // one score may be summed into several totals
    }
    expect(summed.result()).toEqual(direct.result());
    expect(other.result()).toEqual(direct.result());
    expect(direct.result().scored_frames).toBe(3);
    expect(direct.result().lane_iou).not.toBeNull();
  });
});
