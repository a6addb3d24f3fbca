import { describe, expect, it } from 'vitest';
import { checkGolden, formatFailures, parseGolden } from './golden.js';
import { emptyMetrics } from './summary.js';

describe('golden thresholds', () => {
  const metrics = { ...emptyMetrics(), det_map50: 0.55, lane_iou: 0.6, depth_absrel: 0.15 };
  it('passes metrics on the right side of each bound', () => {
    expect(checkGolden('a.mcap', metrics, { det_map50: 0.5, lane_iou: 0.6, depth_absrel: 0.2 })).toEqual([]);
  });
  it('names the bag, the metric and the difference of each failure', () => {
    const f = checkGolden('a.mcap', metrics, { det_map50: 0.6, depth_absrel: 0.12, drivable_iou: 0.9 });
    expect(f).toEqual([
      { bag: 'a.mcap', metric: 'det_map50', expected: '≥ 0.6', found: 0.55, difference: -0.05 },
      { bag: 'a.mcap', metric: 'depth_absrel', expected: '≤ 0.12', found: 0.15, difference: -0.03 },
      { bag: 'a.mcap', metric: 'drivable_iou', expected: '≥ 0.9', found: null, difference: null },
    ]);
    expect(formatFailures(f)).toBe(
      'a.mcap: det_map50 = 0.55, expected ≥ 0.6 (off by 0.05)\na.mcap: depth_absrel = 0.15, expected ≤ 0.12 (off by 0.03)\na.mcap: drivable_iou = missing, expected ≥ 0.9',
    );
  });
  it('BAD CALL: malformed golden files name the field', () => {
    expect(() => parseGolden({ model: 'm', bags: { 'a.mcap': { speed: 1 } } }, 'g.json')).toThrow(/bags\.a\.mcap\.speed is not a metric/);
    expect(() => parseGolden({ model: 'm', bags: { 'a.mcap': { lane_iou: -1 } } }, 'g.json')).toThrow(/must be a finite number/);
    expect(() => parseGolden({ bags: {} }, 'g.json')).toThrow(/model must be a string/);
  });
});
