import { describe, expect, it } from 'vitest';
import { DepthEvaluator } from './depth.js';

describe('DepthEvaluator', () => {
  it('hand-computed metrics over valid pixels, averaged per pixel across frames', () => {
    const ev = new DepthEvaluator({ maxDepth: 80 });
    // valid: (2.2 vs 2): rel .1, sq .04, ratio 1.1 ✓ ; (3 vs 4): rel .25, sq 1, ratio 1.33 ✗
    // skipped: gt 0, gt 100 ≥ max, prediction NaN
    ev.add(Float32Array.of(2.2, 3, 5, 50, NaN), Float32Array.of(2, 4, 0, 100, 10));
    let r = ev.result();
    expect(r.pixels).toBe(2);
    expect(r.absRel).toBeCloseTo(0.175, 6);
    expect(r.rmse).toBeCloseTo(Math.sqrt(0.52), 6);
    expect(r.delta1).toBe(0.5);
    ev.add(Float32Array.of(1), Float32Array.of(1));
    r = ev.result();
    expect(r.pixels).toBe(3);
    expect(r.absRel).toBeCloseTo(0.35 / 3, 6);
    expect(r.rmse).toBeCloseTo(Math.sqrt(1.04 / 3), 6);
    expect(r.delta1).toBeCloseTo(2 / 3, 12);
  });

  it('no valid pixels → NaN metrics; BAD CALL range', () => {
    expect(new DepthEvaluator().result().absRel).toBeNaN();
    expect(() => new DepthEvaluator({ minDepth: 5, maxDepth: 5 })).toThrow(/minDepth < maxDepth/);
  });
});
