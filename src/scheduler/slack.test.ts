import { describe, expect, it } from 'vitest';
import { harness, type Harness } from './test-helpers.js';
import { stepOnce } from './testing.js';

/** Camera `a` delivers at 0, 30, 60 (period 30); each frame takes 5 ms; then time is 70. */
function idleAt70(): Harness {
  const h = harness({ cameras: { a: { budgetMs: 100 }, b: { budgetMs: 100, sampleEvery: 2 } } });
  for (const t of [0, 30, 60]) {
    h.clock.set(t);
    h.offer('a', `f${t}`);
    stepOnce(h.s, h.clock, h.runner);
  }
  h.clock.set(70);
  return h;
}

describe('slack for training', () => {
  it('is granted when idle and the next frame is far enough away', () => {
    const h = idleAt70();
    expect(h.s.requestSlack(25)).toBeNull(); // next frame expected at 90: only 20 ms idle
    const g = h.s.requestSlack(15);
    expect(g).not.toBeNull();
    expect(g).toMatchObject({ ms: 15, startMs: 70, endMs: 85, revoked: false });
    expect(h.s.requestSlack(1)).toBeNull(); // one grant at a time
    const stats = h.s.snapshot().slack;
    expect(stats).toMatchObject({ grants: 1, refusals: 2, granted_ms: 15 });
  });

  it('with a minimum, grants the gap until the next frame, up to the maximum; refuses a gap under the minimum', () => {
    const h = idleAt70(); // next frame expected at 90
    expect(h.s.requestSlack(100, undefined, 25)).toBeNull(); // 20 ms idle < 25
    const g = h.s.requestSlack(100, undefined, 10)!;
    expect(g).toMatchObject({ ms: 20, startMs: 70, endMs: 90 });
    g.release();
    expect(h.s.requestSlack(12, undefined, 10)).toMatchObject({ ms: 12 }); // the maximum, where the gap is longer
  });

  it('BAD CALL: a minimum above the maximum, or not positive, is refused by name', () => {
    const h = idleAt70();
    expect(() => h.s.requestSlack(10, undefined, 20)).toThrow(/minMs/);
    expect(() => h.s.requestSlack(10, undefined, 0)).toThrow(/minMs/);
  });

  it('a camera silent for ten of its periods (and ≥ 500 ms) is no longer expected; its next frame revokes', () => {
    const h = idleAt70(); // period 30 ms: a 40 ms slice never fits between its frames
    const refusedAt = (t: number, ms = 40) => {
      h.clock.set(t);
      const g = h.s.requestSlack(ms);
      g?.release();
      return g === null;
    };
    expect(refusedAt(70)).toBe(true);
    expect(refusedAt(400)).toBe(true); // 11 periods, but under 500 ms
    expect(refusedAt(561)).toBe(false); // silent: the bag ended, the camera stopped
    h.clock.set(600);
    const g = h.s.requestSlack(40)!;
    h.offer('a', 'back'); // the camera comes back
    expect(g.revoked).toBe(true);
    stepOnce(h.s, h.clock, h.runner);
    // Expected again: its period is now 132 ms (EWMA with the 540 ms gap), next frame due at 732.
    expect(refusedAt(610, 130)).toBe(true);
    expect(refusedAt(610, 100)).toBe(false);
  });

  it('is refused while a frame waits or runs', () => {
    const h = idleAt70();
    h.offer('a', 'waiting');
    expect(h.s.requestSlack(1)).toBeNull();
    const d = h.s.poll();
    expect(d).not.toBeNull();
    expect(h.s.requestSlack(1)).toBeNull();
  });

  it('is refused after a recent deadline drop', () => {
    const h = harness({ cameras: { a: { budgetMs: 3 } } }); // prior cost 10 ms > 3 ms budget
    h.offer('a', 'doomed');
    expect(h.s.poll()).toBeNull();
    expect(h.drops[0].reason).toBe('deadline');
    h.clock.advance(500);
    expect(h.s.requestSlack(1)).toBeNull();
  });

  it('is revoked synchronously, inside offer, when a frame arrives', () => {
    const h = idleAt70();
    const events: string[] = [];
    const g = h.s.requestSlack(15, (reason) => events.push(`revoked:${reason}`));
    h.clock.set(80);
    h.offer('a', 'early');
    events.push('offer returned');
    expect(events).toEqual(['revoked:arrival', 'offer returned']);
    expect(g?.revoked).toBe(true);
    expect(h.s.snapshot().slack).toMatchObject({ revocations: 1, granted_ms: 15, revoked_ms: 5 });
    // A listener added after the fact hears about it at once.
    let late = '';
    g?.onRevoke((r) => (late = r));
    expect(late).toBe('arrival');
  });

  it('is not revoked by a frame that sampling skips', () => {
    const h = idleAt70();
    h.offer('b', 'b0'); // kept (first), takes the CPU: run it before asking
    stepOnce(h.s, h.clock, h.runner);
    h.clock.set(76);
    const g = h.s.requestSlack(10);
    expect(g).not.toBeNull();
    h.offer('b', 'b1'); // sampled out
    expect(g?.revoked).toBe(false);
  });

  it('can be released early, after which a new grant is possible', () => {
    const h = idleAt70();
    const g = h.s.requestSlack(10);
    g?.release();
    g?.release();
    expect(g?.revoked).toBe(false);
    expect(h.s.requestSlack(10)).not.toBeNull();
  });

  it('ends with dispose, and a throwing listener is reported, not thrown', () => {
    const h = idleAt70();
    const g = h.s.requestSlack(10, () => {
      throw new Error('trainer bug');
    });
    h.s.dispose();
    expect(g?.revoked).toBe(true);
    expect(h.errors).toHaveLength(1);
  });

  it('rejects a non-positive request', () => {
    const h = idleAt70();
    expect(() => h.s.requestSlack(0)).toThrow(/positive/);
  });
});
