import { describe, expect, it } from 'vitest';
import type { FrameResult } from '../pipeline/perception.js';
import { emptyMetrics } from './summary.js';
import { TimelineScorer, combinedScore } from './timeline.js';

function frame(lane: number[]): FrameResult {
  return {
    camera: 'front',
    stampNs: 0n,
    cameraSize: { width: 2, height: 1 },
    size: [1, 2],
    boxes: [],
    lane: { width: 2, height: 1, data: Uint8Array.from(lane) },
    depth: { width: 2, height: 1, data: Float32Array.of(10, 10) },
    segEntropy: 0,
    weights: 'w',
    tensors: {},
  };
}

describe('timeline', () => {
  it('combines mAP, lane IoU and 1 − AbsRel over the metrics present', () => {
    expect(combinedScore({ ...emptyMetrics(), det_map50: 0.6, lane_iou: 0.5, depth_absrel: 0.1 })).toBe(0.6667);
    expect(combinedScore({ ...emptyMetrics(), lane_iou: 0.5 })).toBe(0.5);
    expect(combinedScore(emptyMetrics())).toBeNull();
  });
  it('scores each window of bag time on its own', () => {
    const S = 1_000_000_000n;
    const t = new TimelineScorer(['car'], S, 10n * S, 5);
    expect([t.bucketOf(S), t.bucketOf(3n * S - 1n), t.bucketOf(3n * S), t.bucketOf(11n * S), t.bucketOf(99n * S)]).toEqual([0, 0, 1, 4, 4]);
    t.add(S + 1n, frame([1, 1]), { lane: { kind: 'lane', width: 2, height: 1, data: Uint8Array.of(1, 1) } });
    t.add(10n * S, frame([1, 0]), { lane: { kind: 'lane', width: 2, height: 1, data: Uint8Array.of(1, 1) } });
    const s = t.series();
    expect(s.map((p) => [p.t, p.metrics.lane_iou, p.score])).toEqual([
      [0, 1, 1],
      [8, 0.5, 0.5],
    ]);
  });
});
