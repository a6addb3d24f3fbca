import { describe, expect, it } from 'vitest';
import { BIG, harness } from './test-helpers.js';
import { simulate, type Arrival, type CostFn } from './testing.js';
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
