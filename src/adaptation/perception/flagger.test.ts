import { describe, expect, it } from 'vitest';
import { Flagger, flicker, type FlagDetection } from './flagger.js';

const box = (score: number, x = 10, cls = 0): FlagDetection => ({ classIndex: cls, score, x0: x, y0: 10, x1: x + 20, y1: 30 });
const S = 1_000_000_000n; // one second in ns

describe('Flagger', () => {
  it('BAD CALL: rejects an inverted ambiguous band, naming the field', () => {
    expect(() => new Flagger({ ambiguousBand: [0.6, 0.3] })).toThrow(/ambiguousBand/);
  });

  it('flags ambiguous scores and high entropy, not confident frames', () => {
    const f = new Flagger({ burst: 100 });
    expect(f.observe({ camera: 'a', stampNs: 0n, detections: [box(0.9), box(0.95, 50)], segEntropy: 0.1 })).toBeNull();
    const d = f.observe({ camera: 'a', stampNs: S, detections: [box(0.9), box(0.95, 50), box(0.4, 90), box(0.45, 130)], segEntropy: 0.1 });
    expect(d?.reasons).toEqual(['uncertainty']);
    expect(d?.scores.ambiguousFraction).toBe(0.5);
    const e = f.observe({ camera: 'a', stampNs: 2n * S, detections: [box(0.9), box(0.95, 50), box(0.4, 90), box(0.45, 130)], segEntropy: 0.9 });
    expect(e?.reasons).toEqual(['uncertainty', 'entropy']);
  });

  it('counts confident detections that appear or vanish between frames (greedy IoU)', () => {
    expect(flicker([box(0.9)], [box(0.9, 12)], 0.6, 0.3)).toBe(0);
    expect(flicker([box(0.9)], [], 0.6, 0.3)).toBe(1);
    expect(flicker([], [box(0.9), box(0.2, 80)], 0.6, 0.3)).toBe(1);
    expect(flicker([box(0.9)], [box(0.9, 12, 1)], 0.6, 0.3)).toBe(2); // class change = vanish + appear
    const f = new Flagger({ burst: 10 });
    f.observe({ camera: 'a', stampNs: 0n, detections: [box(0.9)] });
    expect(f.observe({ camera: 'b', stampNs: 0n, detections: [] })).toBeNull(); // cameras are separate
    expect(f.observe({ camera: 'a', stampNs: S, detections: [] })?.reasons).toEqual(['temporal']);
  });

  it('flags smoothed feature drift against feature_stats', () => {
    const f = new Flagger({ featureStats: { mean: [0, 0], std: [1, 1] }, driftThreshold: 2, driftSmoothing: 0.5, burst: 10 });
    expect(f.observe({ camera: 'a', stampNs: 0n, detections: [], featMean: [0.5, -0.5] })).toBeNull();
    expect(f.observe({ camera: 'a', stampNs: S, detections: [], featMean: [3, -3] })).toBeNull(); // EMA 0.5·3 + 0.5·0.5 = 1.75
    const d = f.observe({ camera: 'a', stampNs: 2n * S, detections: [], featMean: [5, 5] });
    expect(d?.reasons).toEqual(['drift']);
    expect(d?.scores.drift).toBeCloseTo(0.5 * 5 + 0.5 * 1.75);
  });

  it('rate-limits with a token bucket and a total cap; manual flags bypass the bucket only', () => {
    const f = new Flagger({ perMinute: 6, burst: 2, maxTotal: 4 });
    const amb = [box(0.4)];
    const got = [];
    const triggered = [];
    for (let i = 0; i < 6; i++) {
      got.push(f.observe({ camera: 'a', stampNs: BigInt(i) * S, detections: amb }) !== null);
      triggered.push(f.triggered);
    }
    expect(got).toEqual([true, true, false, false, false, false]); // burst 2, refill 1 per 10 s
    expect(triggered).toEqual([true, true, true, true, true, true]); // the trigger, before the limit (health signal)
    f.observe({ camera: 'a', stampNs: 6n * S, detections: [box(0.95)] });
    expect(f.triggered).toBe(false);
    expect(f.observe({ camera: 'a', stampNs: 15n * S, detections: amb })).not.toBeNull(); // refilled
    f.requestManual('a', 16n * S);
    expect(f.observe({ camera: 'a', stampNs: 16n * S, detections: [] })?.reasons).toEqual(['manual']);
    expect(f.stats.suppressedByRate).toBe(4);
    f.requestManual('a', 17n * S);
    expect(f.observe({ camera: 'a', stampNs: 17n * S, detections: [] })).toBeNull(); // cap of 4 reached
    expect(f.stats.suppressedByCap).toBe(1);
  });

  it('expires a manual request whose frame never came', () => {
    const f = new Flagger({ manualWaitNs: S });
    f.requestManual('a', 0n);
    f.requestManual('a', 9n * S);
    f.requestManual('b', 0n); // a camera that never sends
    expect(f.pendingManual).toBe(3);
    expect(f.observe({ camera: 'a', stampNs: 3n * S, detections: [] })).toBeNull();
    expect(f.stats.manualExpired).toBe(1);
    expect(f.pendingManual).toBe(2); // a's later request and b's still wait
    expect(f.observe({ camera: 'a', stampNs: 9n * S, detections: [] })?.reasons).toEqual(['manual']);
    expect(f.pendingManual).toBe(1);
  });
});
