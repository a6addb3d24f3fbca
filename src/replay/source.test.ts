import { describe, expect, it } from 'vitest';
import { stepReads } from './source.js';

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
