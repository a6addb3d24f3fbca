import { describe, expect, it } from 'vitest';
import { renderReport } from './report.js';
import { LatencyRecorder, emptyMetrics, type ReplaySummary } from './summary.js';

function summary(): ReplaySummary {
  return {
    bag: 'bags/<day>.mcap',
    mode: 'rate 1',
    frames: 10,
    processed: 9,
    dropped: 1,
    drops_by_reason: { superseded: 1 },
    deadline_misses: 0,
    bad_frames: { BAD_IMAGE: 1 },
    latency_ms: { p50: 4, p90: 5, p99: 6, max: 7, mean: 4.2, count: 9 },
    dispatch_delay_ms: null,
    event_loop_delay_ms: { p50: 1, p99: 2, max: 3 },
    gc_ms: { major: { count: 1, total_ms: 2, max_ms: 2 }, minor: { count: 0, total_ms: 0, max_ms: 0 }, incremental: { count: 0, total_ms: 0, max_ms: 0 }, weak_callbacks: { count: 0, total_ms: 0, max_ms: 0 } },
    metrics: { ...emptyMetrics(), det_map50: 0.61 },
    timeline: [],
    model: { name: 'default', version: '1.0.0', input_size: [192, 384], provider: 'cpu' },
    per_camera: { front: { frames: 10, processed: 9, dropped: 1, drops_by_reason: { superseded: 1 }, deadline_misses: 0, bad_frames: 1, latency_ms: null, metrics: emptyMetrics() } },
    scheduler: { input_size: [192, 384], ladder_changes: 0, utilization: 0.5, batches_formed: 0, batch_sizes: {} },
    bag_duration_s: 1,
    wall_s: 2,
    outputs: { results: 'r', summary: 's', report: 'h' },
  };
}

describe('LatencyRecorder', () => {
  it('reports percentiles in ms and buckets that add up to the count', () => {
    const rec = new LatencyRecorder();
    for (let i = 1; i <= 100; i++) rec.recordMs(i);
    const s = rec.summary()!;
    expect(s.count).toBe(100);
    expect(s.p50).toBeCloseTo(50, 0);
    expect(s.p99).toBeCloseTo(99, 0);
    expect(s.max).toBeCloseTo(100, 0);
    const buckets = rec.buckets(10);
    expect(buckets.reduce((a, b) => a + b.count, 0)).toBe(100);
    expect(buckets[0].count).toBe(9); // 1..9 ms are below 10 ms
    expect(rec.countAbove(90.5)).toBe(10); // 91..100 (a sample at the threshold itself may count either way: 3 significant digits)
    expect(rec.countAbove(100.5)).toBe(0);
    expect(rec.countAbove(0.5)).toBe(100);
    expect(new LatencyRecorder().countAbove(1)).toBe(0);
    rec.destroy();
  });
  it('has no summary without samples', () => {
    expect(new LatencyRecorder().summary()).toBeNull();
  });
});

describe('renderReport', () => {
  it('shows cameras, metrics, bad frames and escapes user text', () => {
    const html = renderReport({
      summary: summary(),
      latencyBuckets: [{ fromMs: 0, count: 3 }, { fromMs: 1, count: 6 }],
      latencyBucketMs: 1,
      overlays: [{ camera: 'front', stampS: 0.5, png: new Uint8Array([137, 80, 78, 71]) }],
      timeline: [{ name: 'lane_iou', points: [{ t: 0, v: 0.2 }, { t: 5, v: 0.6 }] }],
      markers: [{ t: 3, label: 'swap v2' }],
    });
    expect(html).toContain('&#60;day&#62;.mcap');
    expect(html).not.toContain('<day>');
    expect(html).toContain('<td>front</td>');
    expect(html).toContain('0.610');
    expect(html).toContain('BAD_IMAGE: 1');
    expect(html).toContain('data:image/png;base64,iVBORw==');
    expect(html).toContain('swap v2');
    expect(html).toContain('aria-label="latency histogram"');
  });
});
