import { describe, expect, it } from 'vitest';
import { BIG, SMALL, harness } from './test-helpers.js';
import { simulate, stepOnce, type Arrival, type CostFn } from './testing.js';
import { rungKey } from './config.js';
import type { InputSize } from './types.js';

const isBig = (size: InputSize) => size[0] === BIG[0];

function periodic(fromMs: number, count: number, periodMs: number, firstStamp = 1): Arrival<string>[] {
  return Array.from({ length: count }, (_, i) => ({
    atMs: fromMs + i * periodMs,
    camera: 'a',
    stampNs: BigInt(firstStamp + i),
    payload: `f${firstStamp + i}`,
  }));
}

/** Seeded LCG: the same "random" jitter on every run. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const opts = { cameras: { a: { budgetMs: 100 } }, window: { utilizationMs: 300 } };

describe('resolution ladder', () => {
  it('steps down under sustained overload, and stays down while the big size would not fit', () => {
    const cost: CostFn = (_n, size) => (isBig(size) ? 40 : 10);
    const h = harness({ ...opts, cost });
    const sizes: InputSize[] = [];
    simulate(h.s, h.clock, periodic(0, 200, 33), cost, () => sizes.push(h.s.inputSize));
    expect(h.s.inputSize).toEqual([128, 256]);
    const snap = h.s.snapshot();
    expect(snap.ladder_changes).toBe(1);
    expect(snap.input_size).toEqual([128, 256]);
    // It did not step down on the first overloaded dispatch.
    expect(isBig(sizes[10])).toBe(true);
  });

  it('steps back up when load falls and the big size is predicted to fit', () => {
    const cost: CostFn = (_n, size) => (isBig(size) ? 40 : 10);
    const h = harness({ ...opts, cost });
    simulate(h.s, h.clock, periodic(0, 100, 33), cost);
    expect(h.s.inputSize).toEqual([128, 256]);
    // Now one frame every 200 ms: 10/200 × 4 = 0.2 predicted utilization at the big size.
    const arrivals = periodic(h.clock.now() + 200, 60, 200, 1000);
    const changesAt: number[] = [];
    const servedBefore = h.s.snapshot().cameras.a.served;
    let last = h.s.snapshot().ladder_changes;
    simulate(h.s, h.clock, arrivals, cost, () => {
      const snap = h.s.snapshot();
      if (snap.ladder_changes !== last) changesAt.push(snap.cameras.a.served - servedBefore);
      last = snap.ladder_changes;
    });
    expect(h.s.inputSize).toEqual(BIG);
    expect(changesAt).toHaveLength(1);
    // Hysteresis: it waited at least stepUpAfter (30) underloaded dispatches at the small size.
    expect(changesAt[0]).toBeGreaterThanOrEqual(30);
  });

  it('does not flap under borderline load', () => {
    const rand = lcg(7);
    // Around the high-water mark at the big size: 27–34 ms every 33 ms.
    const cost: CostFn = (_n, size) => (isBig(size) ? 27 + 7 * rand() : (27 + 7 * rand()) / 4);
    const h = harness({ ...opts, cost });
    simulate(h.s, h.clock, periodic(0, 600, 33), cost);
    expect(h.s.snapshot().ladder_changes).toBeLessThanOrEqual(1);
  });

  it('does not move at all under light load', () => {
    const cost: CostFn = (_n, size) => (isBig(size) ? 10 : 3);
    const h = harness({ ...opts, cost });
    simulate(h.s, h.clock, periodic(0, 300, 33), cost);
    expect(h.s.snapshot().ladder_changes).toBe(0);
    expect(h.s.inputSize).toEqual(BIG);
  });

  it('steps down on a sustained miss rate even when utilization looks fine', () => {
    // 25 ms per frame every 100 ms (25% busy) but a 20 ms budget: every frame misses.
    const cost: CostFn = (_n, size) => (isBig(size) ? 25 : 8);
    const h = harness({ cameras: { a: { budgetMs: 20 } }, window: { utilizationMs: 300 }, costModel: { priorMs: 1 }, cost });
    simulate(h.s, h.clock, periodic(0, 60, 100), cost);
    expect(h.s.inputSize).toEqual([128, 256]);
  });
});

describe('ladder over rungs (size × model variant)', () => {
  // Preference order, best first: size-major, then precision.
  const rungs = [{ size: BIG }, { size: BIG, variant: 'int8' }, { size: SMALL }, { size: SMALL, variant: 'int8' }];
  const costOf = (size: InputSize, variant?: string) => (isBig(size) ? 40 : 12) * (variant === 'int8' ? 0.75 : 1);
  const cost: CostFn = (_n, size, variant) => costOf(size, variant);

  it('steps down one rung at a time through the variants, and learns the cost of each', () => {
    const h = harness({ ...opts, rungs, cost });
    const seen: string[] = [];
    simulate(h.s, h.clock, periodic(0, 400, 25), cost, () => {
      const r = rungKey(h.s.rung);
      if (seen[seen.length - 1] !== r) seen.push(r);
    });
    // 40 ms every 25 ms is overload; 30 ms (int8) still is; 12 ms (small) is not.
    expect(seen.slice(0, 3)).toEqual(['256x512', '256x512@int8', '128x256']);
    expect(h.s.rung).toEqual({ size: SMALL });
    const snap = h.s.snapshot();
    expect(snap.cost_model['1x256x512@int8'].samples).toBeGreaterThan(0);
    expect(snap.cost_model['1x256x512'].ewma_ms).toBeCloseTo(40);
  });

  it('learns each rung apart: a variant measured no cheaper than a better rung leaves the ladder', () => {
    const h = harness({ ...opts, rungs: [{ size: BIG }, { size: BIG, variant: 'fp16' }, { size: SMALL }] });
    expect(h.s.snapshot().ladder_rungs).toEqual(['256x512', '256x512@fp16', '128x256']); // unmeasured: kept, to be tried
    h.s.learnCost(1, BIG, 20);
    h.s.learnCost(1, BIG, 19.8, 'fp16'); // 1 % cheaper: saves nothing worth a worse model
    h.s.learnCost(1, SMALL, 6);
    expect(h.s.snapshot().ladder_rungs).toEqual(['256x512', '256x512@fp16', '128x256']); // one run each: not yet measured
    h.s.learnCost(1, BIG, 21);
    h.s.learnCost(1, BIG, 20.5, 'fp16');
    h.s.learnCost(1, SMALL, 6.5);
    expect(h.s.snapshot().ladder_rungs).toEqual(['256x512', '128x256']);
    expect(h.s.expectedCost(1, { size: BIG, variant: 'fp16' }).samples).toBe(2);
    expect(() => h.s.learnCost(1, BIG, 5, 'int4')).toThrow(/variant 'int4' is not on the ladder/);
    // Runs under contention (another process, the bag read) raise its expectation, not its place:
    // the ladder compares each rung's lowest run.
    for (let i = 0; i < 10; i++) h.s.learnCost(1, SMALL, 30);
    expect(h.s.expectedCost(1, SMALL).expectedMs).toBeGreaterThan(20);
    expect(h.s.snapshot().ladder_rungs).toEqual(['256x512', '128x256']);
  });

  it('skips a dominated rung when stepping down, and hands the variant to the runner', () => {
    const dominated: CostFn = (_n, size, variant) => (isBig(size) ? (variant === 'fp16' ? 40 : 40) : 10);
    const h = harness({ ...opts, rungs: [{ size: BIG }, { size: BIG, variant: 'fp16' }, { size: SMALL }], cost: dominated });
    for (let k = 0; k < 2; k++) {
      h.s.learnCost(1, BIG, 40);
      h.s.learnCost(1, BIG, 40, 'fp16');
      h.s.learnCost(1, SMALL, 10);
    }
    for (let i = 0; i < 60; i++) {
      h.clock.set(Math.max(h.clock.now(), i * 25));
      h.offer('a', `f${i}`, i + 1);
      for (let d = stepOnce(h.s, h.clock, h.runner); d !== null; d = stepOnce(h.s, h.clock, h.runner));
    }
    expect(h.s.rung).toEqual({ size: SMALL });
    expect(h.runner.calls.some((c) => c.variant === 'fp16')).toBe(false);
    expect(h.runner.calls[0]).toMatchObject({ size: BIG, variant: undefined });
    expect(h.s.snapshot().ladder_changes).toBe(1);
  });

  it('steps back up through every rung when the load falls', () => {
    const h = harness({ ...opts, rungs, cost });
    simulate(h.s, h.clock, periodic(0, 300, 25), cost);
    expect(h.s.rung).toEqual({ size: SMALL });
    simulate(h.s, h.clock, periodic(h.clock.now() + 300, 400, 300, 1000), cost);
    expect(h.s.rung).toEqual({ size: BIG });
    expect(h.s.snapshot().ladder_changes).toBeGreaterThanOrEqual(4);
  });

  it('does not step down for misses while the frame cost fits the budget with margin', () => {
    // One frame in five arrives with 30 of its 33 ms already gone (a blocked event loop, a late
    // transport): it is dropped for its deadline, a 20 % bad rate. A smaller rung would not save it.
    const run = (frameMs: number) => {
      const h = harness({ cameras: { a: { budgetMs: 33 } }, window: { utilizationMs: 300 }, cost: (_n, size) => (isBig(size) ? frameMs : frameMs / 4) });
      for (let i = 0; i < 200; i++) {
        h.clock.set(i * 33);
        h.s.offer('a', `f${i}`, { stampNs: BigInt(i + 1), arrivalMs: h.clock.now() - (i % 5 === 0 ? 30 : 0) });
        stepOnce(h.s, h.clock, h.runner);
      }
      return h.s.snapshot();
    };
    const fits = run(10); // 10 ms ≤ 0.75 × 33
    expect(fits.cameras.a.dropped.deadline).toBeGreaterThan(30);
    expect(fits.ladder_changes).toBe(0);
    expect(fits.input_size).toEqual(BIG);
    // The same misses with a frame cost near the budget do step down.
    expect(run(28).input_size).toEqual(SMALL);
  });

  it('judges the fit by a round of every delivering camera: two cameras that arrive together step down when only one frame fits', () => {
    // 30 ms a frame fits a 50 ms budget with margin on its own, but the second camera's frame
    // waits 30 ms for the first and is always late: that must step down, not starve it.
    const cost: CostFn = (n, size) => n * (isBig(size) ? 30 : 8);
    const h = harness({ cameras: { front: { budgetMs: 50 }, left: { budgetMs: 50 } }, window: { utilizationMs: 300 }, cost });
    for (let i = 0; i < 100; i++) {
      h.clock.set(i * 100);
      h.offer('front', `f${i}`, i + 1);
      h.offer('left', `l${i}`, i + 1);
      for (let k = 0; k < 4; k++) stepOnce(h.s, h.clock, h.runner);
    }
    const snap = h.s.snapshot();
    expect(snap.input_size).toEqual(SMALL);
    expect(snap.cameras.left.served).toBeGreaterThan(80);
    expect(snap.cameras.front.served).toBeGreaterThan(80);
    // One camera alone at the same cost stays at the big size.
    const one = harness({ cameras: { front: { budgetMs: 50 } }, window: { utilizationMs: 300 }, cost });
    for (let i = 0; i < 100; i++) {
      one.clock.set(i * 100);
      one.offer('front', `f${i}`, i + 1);
      stepOnce(one.s, one.clock, one.runner);
    }
    expect(one.s.snapshot().input_size).toEqual(BIG);
  });

  it('refuses bad rungs with an error naming the field', () => {
    expect(() => harness({ rungs: [{ size: BIG }, { size: BIG }] })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', context: expect.objectContaining({ field: 'rungs[1]' }) }));
    expect(() => harness({ rungs: [{ size: BIG, variant: '' }] })).toThrow(/rungs\[0\]\.variant must be a non-empty string/);
    expect(() => harness({ rungs: [{ size: [0, 5] }] })).toThrow(/rungs\[0\]\.size\[0\]/);
    expect(() => harness({ rungs: [] })).toThrow(/rungs must list at least one/);
    expect(() => harness({ ladder: { fitShare: 0 } })).toThrow(/ladder\.fitShare/);
  });
});
