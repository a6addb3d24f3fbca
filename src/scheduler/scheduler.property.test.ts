import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Scheduler } from './scheduler.js';
import { BIG, SMALL } from './test-helpers.js';
import { FakeClock, FakeRunner, simulate, type Arrival, type CostFn, type FakeResult } from './testing.js';
import type { DropReason, InputSize } from './types.js';

const NAMES = ['a', 'b', 'c', 'd'];
const RAW: InputSize[] = [
  [720, 1280],
  [480, 640],
];

const scenario = fc.record({
  cams: fc.array(
    fc.record({
      budgetMs: fc.integer({ min: 1, max: 200 }),
      priority: fc.integer({ min: 0, max: 3 }),
      sampleEvery: fc.integer({ min: 1, max: 3 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  maxBatch: fc.integer({ min: 1, max: 4 }),
  maxInFlight: fc.integer({ min: 1, max: 2 }),
  base: fc.integer({ min: 1, max: 30 }),
  perFrame: fc.integer({ min: 0, max: 10 }),
  // Per-dispatch noise, so that concurrent dispatches can finish out of start order.
  jitter: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 8 }),
  arrivals: fc.array(
    fc.record({
      cam: fc.nat(3),
      dtMs: fc.integer({ min: 0, max: 30 }),
      // Occasionally a stamp older than earlier frames: transports reorder.
      back: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4 })),
      raw: fc.nat(1),
    }),
    { maxLength: 80 },
  ),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

function run(sc: Scenario) {
  const cameras = Object.fromEntries(sc.cams.map((c, i) => [NAMES[i], c]));
  let calls = 0;
  const cost: CostFn = (n, size) =>
    (sc.base + sc.perFrame * n) * (size[0] === BIG[0] ? 1 : 0.25) + sc.jitter[calls++ % sc.jitter.length];
  const clock = new FakeClock();
  const served = new Map<string, { camera: string; stamp: bigint }>();
  const dropped = new Map<string, DropReason>();
  const resultStamps = new Map<string, bigint[]>();
  const problems: string[] = [];
  const s = new Scheduler<string, FakeResult<string>>({
    cameras,
    sizes: [BIG, SMALL],
    runner: new FakeRunner<string>({ cost }),
    clock,
    maxInFlight: sc.maxInFlight,
    batching: { maxBatch: sc.maxBatch },
    window: { utilizationMs: 100, outcomes: 10 },
    ladder: { stepDownAfter: 2, stepUpAfter: 4 },
    onResult: (camera, payload, result, timing) => {
      if (served.has(payload) || dropped.has(payload)) problems.push(`${payload} accounted twice`);
      if (result.payload !== payload) problems.push(`${payload} got the result of ${result.payload}`);
      served.set(payload, { camera, stamp: timing.stampNs });
      const list = resultStamps.get(camera) ?? [];
      list.push(timing.stampNs);
      resultStamps.set(camera, list);
    },
    onDrop: (_camera, reason, payload) => {
      if (served.has(payload) || dropped.has(payload)) problems.push(`${payload} accounted twice`);
      dropped.set(payload, reason);
    },
  });

  // The newest stamp accepted per camera, and the last one dispatched.
  const newest = new Map<string, bigint>();
  const lastDispatched = new Map<string, bigint>();
  const poll = s.poll.bind(s);
  s.poll = () => {
    const d = poll();
    for (const f of d?.frames ?? []) {
      if (newest.get(f.camera) !== f.stampNs) problems.push(`${f.camera} served ${f.stampNs} after a newer frame arrived`);
      const prev = lastDispatched.get(f.camera);
      if (prev !== undefined && f.stampNs <= prev) problems.push(`${f.camera} served ${f.stampNs} after ${prev}`);
      lastDispatched.set(f.camera, f.stampNs);
    }
    if (d !== null && new Set(d.frames.map((f) => `${f.sourceSize}`)).size > 1) problems.push('mixed raw sizes in a batch');
    return d;
  };
  const offer = s.offer.bind(s);
  s.offer = (camera, payload, meta) => {
    const outcome = offer(camera, payload, meta);
    if (outcome === 'queued') newest.set(camera, meta.stampNs);
    return outcome;
  };

  let t = 0;
  const arrivals: Arrival<string>[] = sc.arrivals.map((a, i) => {
    t += a.dtMs;
    return {
      atMs: t,
      camera: NAMES[a.cam % sc.cams.length],
      stampNs: BigInt(Math.max(0, i - a.back) * 10 + 1),
      payload: `p${i}`,
      sourceSize: RAW[a.raw],
    };
  });
  simulate(s, clock, arrivals, cost, () => {
    if (s.pending > sc.cams.length) problems.push(`${s.pending} pending for ${sc.cams.length} cameras`);
    if (s.inFlightCount > sc.maxInFlight) problems.push(`${s.inFlightCount} in flight`);
  });
  return { s, arrivals, served, dropped, resultStamps, problems };
}

describe('scheduler properties (any arrival pattern, cameras and costs)', () => {
  it('serves each camera in stamp order, never after a newer frame, and accounts every frame once, in bounded memory', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const { s, arrivals, served, dropped, resultStamps, problems } = run(sc);
        expect(problems).toEqual([]);
        for (const a of arrivals) expect(served.has(a.payload) !== dropped.has(a.payload)).toBe(true);
        for (const stamps of resultStamps.values()) {
          for (let i = 1; i < stamps.length; i++) expect(stamps[i] > stamps[i - 1]).toBe(true);
        }
        expect(s.pending).toBe(0);
        expect(s.inFlightCount).toBe(0);
        const snap = s.snapshot();
        for (const c of Object.values(snap.cameras)) {
          const drops = Object.values(c.dropped).reduce((x, y) => x + y, 0);
          expect(c.served + drops).toBe(c.offered);
        }
      }),
      { numRuns: 150, seed: 20261128 },
    );
  });
});
