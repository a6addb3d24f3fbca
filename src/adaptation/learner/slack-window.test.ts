import { describe, expect, it } from 'vitest';
import { runNow, runPaced, type Paced } from './paced.js';
import { SlackClosedError, SlackWindow } from './slack-window.js';

/** A window on a fake clock; `turn` counts event-loop turns instead of taking them. */
function fakeWindow() {
  const clock = { t: 0 };
  const turns = { n: 0 };
  const w = new SlackWindow({ now: () => clock.t, yieldEveryMs: 4, turn: async () => void turns.n++ });
  return { w, clock, turns };
}

/** Lets pending promise callbacks run (the fake turn resolves at once). */
const settle = () => new Promise<void>((r) => setImmediate(r));

/** Work of `n` pieces, each advancing the fake clock by `ms` and logging its start time. */
function* pieces(clock: { t: number }, n: number, ms: number, log: number[]): Paced<string> {
  for (let i = 0; i < n; i++) {
    log.push(clock.t);
    clock.t += ms;
    if (i < n - 1) yield;
  }
  return 'done';
}

describe('SlackWindow', () => {
  it('a grant is a window from now; a newer grant replaces it; a pause closes it', () => {
    const { w, clock } = fakeWindow();
    expect(w.remainingMs()).toBe(0);
    w.grant(40);
    clock.t = 15;
    expect(w.remainingMs()).toBe(25);
    w.grant(40); // replaces, from now
    expect(w.remainingMs()).toBe(40);
    w.revoke();
    expect(w.remainingMs()).toBe(0);
    w.grant(0); // not a grant
    expect(w.remainingMs()).toBe(0);
  });

  it('grants do not queue: two grants while busy are worth one window, measured from the newest', async () => {
    const { w, clock } = fakeWindow();
    w.grant(40);
    w.grant(40);
    clock.t = 100; // the learner was busy for 100 ms: both grants are spent
    let got: number | undefined;
    void w.next().then((ms) => (got = ms));
    await settle();
    expect(got).toBeUndefined();
    w.grant(30);
    await settle();
    expect(got).toBe(30);
  });

  it('pace() waits for a window with room for one more piece and learns how long pieces take', async () => {
    const { w, clock } = fakeWindow();
    const starts: number[] = [];
    w.grant(40);
    const done = runPaced(pieces(clock, 6, 15, starts), w);
    await settle();
    // 0, 15 fit in the first window; at 30 only 10 ms are left for a 15 ms piece: it waits.
    expect(starts).toEqual([0, 15]);
    clock.t = 200;
    w.grant(40);
    await settle();
    expect(starts).toEqual([0, 15, 200, 215]);
    // A pause right after a grant closes its window before waiting work gets to it.
    clock.t = 300;
    w.grant(40);
    w.revoke();
    await settle();
    expect(starts).toHaveLength(4);
    clock.t = 400;
    w.grant(40);
    await expect(done).resolves.toBe('done');
    expect(starts).toEqual([0, 15, 200, 215, 400, 415]);
  });

  it('a fresh window always takes one piece, however long pieces are (work goes on)', async () => {
    const { w, clock } = fakeWindow();
    const starts: number[] = [];
    w.grant(10);
    const done = runPaced(pieces(clock, 3, 30, starts), w);
    await settle();
    expect(starts).toEqual([0]);
    clock.t = 100;
    w.grant(10);
    await settle();
    expect(starts).toEqual([0, 100]);
    clock.t = 200;
    w.grant(10);
    await expect(done).resolves.toBe('done');
    expect(starts).toEqual([0, 100, 200]);
  });

  it('gives the event loop a turn every yieldEveryMs of work', async () => {
    const { w, clock, turns } = fakeWindow();
    w.grant(1000);
    await runPaced(pieces(clock, 10, 1, []), w); // 10 ms of 1 ms pieces, a turn every 4 ms
    expect(turns.n).toBeGreaterThanOrEqual(2);
    expect(turns.n).toBeLessThanOrEqual(3);
  });

  it('close() abandons waiting work: it rejects, and the work’s finally blocks run', async () => {
    const { w, clock } = fakeWindow();
    let cleaned = false;
    function* work(): Paced<void> {
      try {
        clock.t += 50;
        yield;
        throw new Error('must not get here');
      } finally {
        cleaned = true;
      }
    }
    w.grant(40);
    const done = runPaced(work(), w);
    await settle();
    w.close();
    await expect(done).rejects.toBeInstanceOf(SlackClosedError);
    expect(cleaned).toBe(true);
    await expect(w.next()).rejects.toBeInstanceOf(SlackClosedError);
    w.grant(40); // ignored once closed
    expect(w.remainingMs()).toBe(0);
  });

  it('runNow drains the same work at once', () => {
    const clock = { t: 0 };
    const starts: number[] = [];
    expect(runNow(pieces(clock, 3, 5, starts))).toBe('done');
    expect(starts).toEqual([0, 5, 10]);
  });
});
