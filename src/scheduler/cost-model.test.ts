import { describe, expect, it } from 'vitest';
import { CostModel } from './cost-model.js';
import { BIG, SMALL } from './test-helpers.js';

const cfg = { priorMs: 10, priorBatchFactor: 0.6, alpha: 0.2, ringSize: 32, quantile: 0.9 };

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('cost model', () => {
  it('has a prior before any sample, scaled by pixels and batch', () => {
    const m = new CostModel(cfg, BIG);
    expect(m.estimate(1, BIG)).toEqual({ expectedMs: 10, highMs: 10, samples: 0 });
    expect(m.expected(1, SMALL)).toBeCloseTo(2.5);
    expect(m.expected(2, BIG)).toBeCloseTo(16);
  });

  it('converges to the mean, with the high quantile near p90', () => {
    const m = new CostModel(cfg, BIG);
    const rand = lcg(1);
    for (let i = 0; i < 500; i++) m.record(1, BIG, 5 + 2 * rand()); // uniform [5, 7): mean 6, p90 6.8
    const e = m.estimate(1, BIG);
    expect(e.samples).toBe(500);
    expect(e.expectedMs).toBeGreaterThan(5.6);
    expect(e.expectedMs).toBeLessThan(6.4);
    expect(e.highMs).toBeGreaterThan(6.4);
    expect(e.highMs).toBeLessThanOrEqual(7);
  });

  it('follows a level shift within a few dozen samples', () => {
    const m = new CostModel(cfg, BIG);
    for (let i = 0; i < 50; i++) m.record(1, BIG, 5);
    for (let i = 0; i < 40; i++) m.record(1, BIG, 10);
    expect(m.expected(1, BIG)).toBeGreaterThan(9.9);
    expect(m.high(1, BIG)).toBe(10);
  });

  it('derives unmeasured sizes and batches from what it measured', () => {
    const m = new CostModel(cfg, BIG);
    for (let i = 0; i < 10; i++) m.record(1, SMALL, 4);
    expect(m.expected(1, BIG)).toBeCloseTo(16); // 4 × 4 pixels
    expect(m.expected(3, SMALL)).toBeCloseTo(4 * 2.2);
    for (let i = 0; i < 10; i++) m.record(3, SMALL, 7);
    expect(m.expected(3, SMALL)).toBeCloseTo(7);
  });

  it('ignores samples that are not a duration', () => {
    const m = new CostModel(cfg, BIG);
    m.record(1, BIG, NaN);
    m.record(1, BIG, -1);
    expect(m.estimate(1, BIG).samples).toBe(0);
    expect(m.snapshot()).toEqual({});
  });
});

describe('cost model per rung (size × variant)', () => {
  it('keeps each variant apart and derives an unmeasured one from what it measured', () => {
    const m = new CostModel(cfg, BIG);
    for (let i = 0; i < 10; i++) m.record(1, BIG, 20);
    // Unmeasured variant: as much as the same size of another variant until measured.
    expect(m.estimate(1, { size: BIG, variant: 'int8' })).toMatchObject({ expectedMs: 20, samples: 0 });
    for (let i = 0; i < 10; i++) m.record(1, { size: BIG, variant: 'int8' }, 15);
    expect(m.expected(1, { size: BIG, variant: 'int8' })).toBeCloseTo(15);
    expect(m.expected(1, BIG)).toBeCloseTo(20);
    expect(m.samples({ size: BIG, variant: 'int8' })).toBe(10);
    // Another size of a measured variant scales that variant's cost by pixels.
    expect(m.expected(1, { size: SMALL, variant: 'int8' })).toBeCloseTo(15 / 4);
    expect(m.expected(1, SMALL)).toBeCloseTo(5);
    expect(m.expected(2, { size: BIG, variant: 'int8' })).toBeCloseTo(15 * 1.6);
    expect(Object.keys(m.snapshot()).sort()).toEqual(['1x256x512', '1x256x512@int8']);
  });

  it('keeps the lowest run of each rung: its cost without contention', () => {
    const m = new CostModel(cfg, BIG);
    expect(m.low(1, { size: BIG, variant: 'int8' })).toBe(10); // unmeasured: the prior
    for (const ms of [8, 30, 25, 28]) m.record(1, { size: BIG, variant: 'int8' }, ms);
    expect(m.low(1, { size: BIG, variant: 'int8' })).toBe(8);
    expect(m.expected(1, { size: BIG, variant: 'int8' })).toBeGreaterThan(15);
    for (let i = 0; i < 40; i++) m.record(1, { size: BIG, variant: 'int8' }, 30); // the 8 is out of the ring now
    expect(m.low(1, { size: BIG, variant: 'int8' })).toBe(8);
  });
});
