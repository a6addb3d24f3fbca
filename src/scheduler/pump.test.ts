import { describe, expect, it } from 'vitest';
import { isPerceptionError } from '../core/errors.js';
import { Scheduler } from './scheduler.js';
import { BIG, harness } from './test-helpers.js';
import { FakeClock, FakeRunner, stepOnce, type FakeResult } from './testing.js';
import type { DropReason } from './types.js';

/** Lets microtasks and zero-delay fake timers settle. */
const settle = () => new Promise<void>((r) => setTimeout(r, 0));

describe('async pump', () => {
  it('runs offered frames on the runner and emits results with timing', async () => {
    const h = harness({ cameras: { a: { budgetMs: 100 }, b: { budgetMs: 50 } }, cost: () => 7 });
    h.s.start();
    h.s.start(); // idempotent
    h.offer('a', 'a1');
    h.offer('b', 'b1');
    await settle();
    expect(h.served.map((x) => x.payload)).toEqual(['b1', 'a1']);
    expect(h.served[0].timing).toMatchObject({ arrivalMs: 0, startMs: 0, endMs: 7, size: BIG, batch: 1, deadlineMs: 50 });
    expect(h.served[1].timing).toMatchObject({ startMs: 7, endMs: 14 });
    expect(h.runner.calls.map((c) => c.frames)).toEqual([['b1'], ['a1']]);
    h.clock.advance(20);
    h.offer('a', 'a2');
    await settle();
    expect(h.served.map((x) => x.payload)).toEqual(['b1', 'a1', 'a2']);
    await h.s.stop();
    h.offer('a', 'a3');
    await settle();
    expect(h.served).toHaveLength(3); // stopped: the frame waits
    expect(h.s.pending).toBe(1);
  });

  it('keeps up to maxInFlight runner calls outstanding, one per camera', async () => {
    const clock = new FakeClock();
    const pending: { frames: readonly string[]; resolve: (r: readonly FakeResult<string>[]) => void }[] = [];
    const runner = {
      run: (frames: readonly string[]) =>
        new Promise<readonly FakeResult<string>[]>((resolve) => pending.push({ frames, resolve })),
    };
    const served: string[] = [];
    const s = new Scheduler<string, FakeResult<string>>({
      cameras: { a: { budgetMs: 100 }, b: { budgetMs: 100 } },
      sizes: [BIG],
      runner,
      clock,
      maxInFlight: 2,
      onResult: (_c, p) => served.push(p),
    });
    s.start();
    s.offer('a', 'a1', { stampNs: 1n });
    s.offer('b', 'b1', { stampNs: 1n });
    await settle();
    s.offer('a', 'a2', { stampNs: 2n }); // a is busy: waits even though a slot is free after b
    await settle();
    expect(pending.map((p) => p.frames)).toEqual([['a1'], ['b1']]);
    clock.advance(5);
    pending[1].resolve([{ payload: 'b1', size: BIG, batch: 1 }]);
    await settle();
    expect(pending).toHaveLength(2);
    pending[0].resolve([{ payload: 'a1', size: BIG, batch: 1 }]);
    await settle();
    expect(pending.map((p) => p.frames)).toEqual([['a1'], ['b1'], ['a2']]);
    pending[2].resolve([{ payload: 'a2', size: BIG, batch: 1 }]);
    await s.stop();
    expect(served).toEqual(['b1', 'a1', 'a2']);
    s.dispose();
  });

  it('drops a failed batch as error, reports it, and keeps going', async () => {
    const clock = new FakeClock();
    const runner = new FakeRunner<string>({ clock, failOn: (n) => n === 0 });
    const drops: [string, DropReason][] = [];
    const errors: unknown[] = [];
    const s = new Scheduler<string, FakeResult<string>>({
      cameras: { a: { budgetMs: 100 } },
      sizes: [BIG],
      runner,
      clock,
      onDrop: (c, r) => drops.push([c, r]),
      onError: (e, site) => errors.push([site.phase, (e as Error).message]),
    });
    s.start();
    s.offer('a', 'x', { stampNs: 1n });
    await settle();
    s.offer('a', 'y', { stampNs: 2n });
    await settle();
    expect(drops).toEqual([['a', 'error']]);
    expect(errors).toEqual([['run', 'fake failure on call 0']]);
    expect(s.snapshot().cameras.a.served).toBe(1);
    await s.stop();
  });

  it('treats a wrong result count as a model runtime error', () => {
    const h = harness();
    h.offer('a', 'x');
    const d = h.s.poll()!;
    h.s.complete(d, []);
    expect(h.drops.map((x) => x.reason)).toEqual(['error']);
    expect(isPerceptionError(h.errors[0], 'MODEL_RUNTIME')).toBe(true);
    h.s.complete(d, h.runner.results(['x'], BIG)); // already settled: ignored
    expect(h.served).toHaveLength(0);
  });

  it('survives a throwing onResult callback with its accounting intact', () => {
    const h = harness({
      onResult: () => {
        throw new Error('subscriber bug');
      },
    });
    h.offer('a', 'x');
    stepOnce(h.s, h.clock, h.runner);
    expect(h.errors).toHaveLength(1);
    expect(h.s.snapshot().cameras.a.served).toBe(1);
  });

  it('dispose drops waiting and running frames once, and is idempotent', () => {
    const h = harness({ cameras: { a: { budgetMs: 100 }, b: { budgetMs: 100 } } });
    h.offer('a', 'running');
    const d = h.s.poll()!;
    h.offer('b', 'waiting');
    h.s.dispose();
    h.s.dispose();
    expect(h.drops.map((x) => [x.payload, x.reason]).sort()).toEqual([
      ['running', 'shutdown'],
      ['waiting', 'shutdown'],
    ]);
    h.s.complete(d, h.runner.results(['running'], BIG));
    expect(h.served).toHaveLength(0);
    expect(h.s.offer('a', 'late', { stampNs: 99n })).toBe('shutdown');
    expect(h.s.poll()).toBeNull();
    expect(() => h.s.start()).toThrow(/disposed/);
  });
});

describe('metrics snapshot', () => {
  it('is JSON-able and carries latency, drops, batches, size and utilization', () => {
    const h = harness({ cameras: { a: { budgetMs: 100 }, b: { budgetMs: 100 } }, cost: () => 4 });
    h.offer('a', 'a1');
    h.offer('a', 'a2'); // supersedes a1
    stepOnce(h.s, h.clock, h.runner);
    h.offer('b', 'b1');
    h.clock.advance(2);
    stepOnce(h.s, h.clock, h.runner);
    const snap = h.s.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    expect(snap.input_size).toEqual([256, 512]);
    expect(snap.dispatches).toBe(2);
    expect(snap.batch_sizes).toEqual({ '1': 2 });
    expect(snap.cameras.a).toMatchObject({ offered: 2, served: 1, deadline_misses: 0 });
    expect(snap.cameras.a.dropped.superseded).toBe(1);
    expect(snap.cameras.a.latency?.p50_ms).toBeCloseTo(4, 1);
    expect(snap.cameras.b.latency?.max_ms).toBeCloseTo(6, 1);
    expect(snap.utilization).toBeCloseTo(8 / 10, 2);
    expect(snap.cost_model['1x256x512']).toMatchObject({ samples: 2, ewma_ms: 4 });
  });
});
