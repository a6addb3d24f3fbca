import { describe, expect, it } from 'vitest';
import type { BagInfo } from '../bag/types.js';
import type { TopicRole } from '../msgs/topics.js';
import { behind, stepReads } from './source.js';

const CAMS = ['front', 'left', 'rear', 'right'];
const base = { nowMs: 1000, dueMs: 1000, budgetMs: 16.7, readMs: 2, queue: { freeInMs: 0, runMs: 7 }, cameras: CAMS, priority: () => 0, lastRead: () => -1 };

describe('stepReads: which frames of a time step a reader behind its rate reads', () => {
  it('reads as many as can be read, queued and run before their deadline', () => {
    expect(stepReads({ ...base, queue: { freeInMs: 0, runMs: 3 } })).toHaveLength(4);
    expect(stepReads(base)).toHaveLength(2); // 1000 + 2 → 7 + 7 ends at 1016 ≤ 1016.7
    expect(stepReads({ ...base, queue: { freeInMs: 5, runMs: 7 } })).toHaveLength(1);
    expect(stepReads({ ...base, nowMs: 1010 })).toEqual([]); // 10 ms late: read + run misses
  });

  it('takes turns: the cameras read longest ago first, so four cameras with room for one rotate', () => {
    const last = new Map<string, number>();
    const order: string[] = [];
    for (let k = 0; k < 8; k++) {
      const read = stepReads({ ...base, queue: { freeInMs: 0, runMs: 12 }, lastRead: (c) => last.get(c) ?? -1 });
      expect(read).toHaveLength(1);
      last.set(read[0], k);
      order.push(read[0]);
    }
    expect(order).toEqual([...CAMS, ...CAMS]);
  });

  it('serves higher priority first', () => {
    const read = stepReads({ ...base, queue: { freeInMs: 0, runMs: 12 }, priority: (c) => (c === 'rear' ? 5 : 0), lastRead: (c) => (c === 'rear' ? 100 : -1) });
    expect(read).toEqual(['rear']);
  });

  it('still reads one frame when not even an idle machine meets the budget at this rung (the ladder must see it run or drop)', () => {
    expect(stepReads({ ...base, queue: { freeInMs: 0, runMs: 20 } })).toHaveLength(1);
    // …but not when the queue alone is the reason.
    expect(stepReads({ ...base, queue: { freeInMs: 30, runMs: 7 } })).toEqual([]);
  });
});

describe('behind: the reader\'s skip at a rate (which frames a reader behind its rate leaves unread)', () => {
  const MS = 1_000_000n;
  function decider(cameras: string[], queue: { freeInMs: number; runMs: number }) {
    let now = 0;
    const roles = new Map<string, TopicRole>(cameras.flatMap((c) => [[`/${c}/image_raw`, { role: 'camera', camera: c, compressed: false }], [`/gt/${c}/depth`, { role: 'gt_depth', camera: c }]] as [string, TopicRole][]));
    const skipped: string[] = [];
    const o = {
      roles,
      info: { startNs: 0n } as BagInfo,
      cameras: Object.fromEntries(cameras.map((c) => [c, { budgetMs: 16.7 }])),
      rate: 1,
      onSkipped: (c: string) => void skipped.push(c),
      scheduler: { expectedQueue: () => queue },
    };
    const skip = behind(o, 0, () => {}, { ms: 0 }, () => now);
    return { skip, skipped, at: (ms: number) => void (now = ms) };
  }

  it('synchronised cameras with room for one frame a step take turns; a frame and its ground truth go together', () => {
    const d = decider(['a', 'b'], { freeInMs: 0, runMs: 12 });
    const read: string[] = [];
    for (let k = 0; k < 6; k++) {
      const t = BigInt(k * 100) * MS;
      d.at(k * 100);
      for (const c of ['a', 'b']) {
        const gtSkipped = d.skip(`/gt/${c}/depth`, t);
        expect(d.skip(`/${c}/image_raw`, t)).toBe(gtSkipped);
        if (!gtSkipped) read.push(c);
      }
    }
    expect(read).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    expect(d.skipped).toEqual(['b', 'a', 'b', 'a', 'b', 'a']);
  });

  it('cameras on their own clocks are each a step of one: neither yields to the other', () => {
    // a at 30 Hz, b at 10 Hz, never at the same time; room for one frame whenever one comes.
    const d = decider(['a', 'b'], { freeInMs: 0, runMs: 12 });
    const events: [number, string][] = [];
    for (let k = 0; k < 30; k++) events.push([k * 33 + 1, 'a']);
    for (let k = 0; k < 10; k++) events.push([k * 100 + 17, 'b']);
    events.sort((x, y) => x[0] - y[0]);
    const read = { a: 0, b: 0 } as Record<string, number>;
    for (const [ms, c] of events) {
      d.at(ms);
      if (!d.skip(`/${c}/image_raw`, BigInt(ms) * MS)) read[c]++;
    }
    // The very first step cannot know b runs on its own clock: at most one frame is lost.
    expect(read.a).toBeGreaterThanOrEqual(29);
    expect(read.b).toBeGreaterThanOrEqual(9);
  });

  it('reads frames far ahead of their time, and frames that fit, whatever the step', () => {
    const d = decider(['a', 'b'], { freeInMs: 0, runMs: 12 });
    d.at(0);
    expect(d.skip('/a/image_raw', 500n * MS)).toBe(false); // due in 500 ms: unknown queue then
    const roomy = decider(['a', 'b'], { freeInMs: 0, runMs: 3 });
    roomy.at(100);
    expect(roomy.skip('/a/image_raw', 100n * MS)).toBe(false);
    expect(roomy.skip('/b/image_raw', 100n * MS)).toBe(false);
  });
});
