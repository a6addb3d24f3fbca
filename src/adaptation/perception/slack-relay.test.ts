import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ToLearner } from '../protocol/channel-codec.js';
import type { RevokeReason, SlackGrant } from '../../scheduler/index.js';
import { SlackRelay } from './perception-parts.js';

/** A scheduler whose slack is on or off, and a channel that records what it sends. */
function rig() {
  const sent: ToLearner[] = [];
  const channel = {
    send: async (m: ToLearner) => {
      sent.push(m);
      return true;
    },
  };
  const sched = {
    idle: false,
    /** Milliseconds until the next frame is expected (as Scheduler.requestSlack sizes a grant). */
    gapMs: Infinity,
    asked: [] as { ms: number; minMs: number | undefined }[],
    revoke: undefined as undefined | (() => void),
    requestSlack(ms: number, onRevoke?: (reason: RevokeReason) => void, minMs?: number): SlackGrant | null {
      this.asked.push({ ms, minMs });
      if (!this.idle || this.gapMs < (minMs ?? ms)) return null;
      this.revoke = () => onRevoke?.('frame' as RevokeReason);
      return { ms: Math.min(ms, this.gapMs), release: () => undefined } as unknown as SlackGrant;
    },
  };
  const kinds = () => sent.map((m) => (m.kind === 'sample' ? `sample:${m.id}` : m.kind));
  return { sent, channel, sched, kinds };
}

const sample = (id: string): ToLearner => ({ kind: 'sample', id, camera: 'front', stampNs: 1n, reasons: [], tensors: {}, info: {} }) as unknown as ToLearner;

describe('SlackRelay', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('holds samples until the next grant and sends them right after it', () => {
    const { channel, sched, kinds } = rig();
    const relay = new SlackRelay(channel, 40, { now: () => Date.now() });
    relay.attach(sched);
    relay.sendInSlack(sample('a'));
    relay.sendInSlack(sample('b'));
    vi.advanceTimersByTime(50); // busy: no grant, nothing sent
    expect(kinds()).toEqual([]);
    expect(relay.deferred).toBe(2);
    sched.idle = true;
    vi.advanceTimersByTime(5);
    expect(kinds()).toEqual(['slack', 'sample:a', 'sample:b']);
    expect(relay.deferred).toBe(0);
    relay.stop();
  });

  it('lends the gap until the next frame (at most sliceMs, at least 40 ms) and tells the learner its length', () => {
    const { channel, sched, sent } = rig();
    const relay = new SlackRelay(channel, 100, { now: () => Date.now() });
    relay.attach(sched);
    sched.idle = true;
    sched.gapMs = 65;
    vi.advanceTimersByTime(5);
    expect(sched.asked.at(-1)).toEqual({ ms: 100, minMs: 40 });
    expect(sent).toEqual([{ kind: 'slack', grantMs: 65 }]);
    vi.advanceTimersByTime(60); // the grant still runs: no second one
    expect(sent).toHaveLength(1);
    sched.gapMs = 30; // too short a gap: nothing lent
    vi.advanceTimersByTime(10);
    expect(sent).toHaveLength(1);
    relay.stop();
  });

  it('sends a sample that waited maxDeferMs without a grant (overload never has slack)', () => {
    const { channel, sched, kinds } = rig();
    const relay = new SlackRelay(channel, 40, { maxDeferMs: 200, now: () => Date.now() });
    relay.attach(sched);
    relay.sendInSlack(sample('a'));
    vi.advanceTimersByTime(150);
    relay.sendInSlack(sample('b'));
    vi.advanceTimersByTime(45);
    expect(kinds()).toEqual([]);
    vi.advanceTimersByTime(10); // a has waited 200 ms: it goes, and b with it (order kept)
    expect(kinds()).toEqual(['sample:a', 'sample:b']);
    relay.stop();
  });

  it('runs on its default clock', () => {
    vi.useRealTimers();
    const { channel, sched, kinds } = rig();
    const relay = new SlackRelay(channel);
    relay.attach(sched);
    relay.sendInSlack(sample('a'));
    expect(relay.deferred).toBe(1);
    relay.stop();
    expect(kinds()).toEqual(['sample:a']);
  });

  it('sends at once when no scheduler is attached, and flushes what waits when stopped', () => {
    const { channel, sched, kinds } = rig();
    const relay = new SlackRelay(channel, 40, { now: () => Date.now() });
    relay.sendInSlack(sample('early'));
    expect(kinds()).toEqual(['sample:early']);
    relay.attach(sched);
    relay.sendInSlack(sample('held'));
    expect(kinds()).toEqual(['sample:early']);
    relay.stop();
    expect(kinds()).toEqual(['sample:early', 'sample:held']);
    relay.sendInSlack(sample('late'));
    expect(kinds()).toEqual(['sample:early', 'sample:held', 'sample:late']);
  });

  it('a revoked grant sends pause, and the next grant carries the samples flagged meanwhile', () => {
    const { channel, sched, kinds } = rig();
    const relay = new SlackRelay(channel, 40, { now: () => Date.now() });
    sched.idle = true;
    relay.attach(sched);
    vi.advanceTimersByTime(5);
    expect(kinds()).toEqual(['slack']);
    sched.idle = false;
    sched.revoke?.();
    relay.sendInSlack(sample('x'));
    vi.advanceTimersByTime(20);
    expect(kinds()).toEqual(['slack', 'pause']);
    sched.idle = true;
    vi.advanceTimersByTime(5);
    expect(kinds()).toEqual(['slack', 'pause', 'slack', 'sample:x']);
    relay.stop();
  });

  it("runs perception's own work in the next window instead of lending it to the learner", async () => {
    const { channel, sched, kinds } = rig();
    const released: number[] = [];
    let grants = 0;
    const request = sched.requestSlack.bind(sched);
    sched.requestSlack = (ms, onRevoke) => {
      const g = request(ms, onRevoke);
      if (!g) return null;
      const id = ++grants;
      return { release: () => released.push(id) } as unknown as SlackGrant;
    };
    const relay = new SlackRelay(channel, 40, { now: () => Date.now() });
    relay.attach(sched);
    const ran: string[] = [];
    let finish!: () => void;
    const job = relay.runInSlack(async () => {
      ran.push('bundle');
      await new Promise<void>((r) => (finish = r));
      return 7;
    });
    relay.sendInSlack(sample('a'));
    await vi.advanceTimersByTimeAsync(50); // busy: nothing runs, nothing sent
    expect(ran).toEqual([]);
    expect(relay.pendingWork).toBe(1);
    sched.idle = true;
    await vi.advanceTimersByTimeAsync(5);
    expect(ran).toEqual(['bundle']); // the window went to the job…
    expect(kinds()).toEqual([]); // …not to the learner, whose sample still waits
    await vi.advanceTimersByTimeAsync(20); // the job still runs: no window for the learner meanwhile
    expect(kinds()).toEqual([]);
    expect(relay.pendingWork).toBe(1);
    finish();
    await expect(job).resolves.toBe(7);
    expect(released).toEqual([1]); // its grant is handed back when it is done
    expect(relay.pendingWork).toBe(0);
    await vi.advanceTimersByTimeAsync(5);
    expect(kinds()).toEqual(['slack', 'sample:a']);
    relay.stop();
  });

  it('a revoked window does not pause the learner for a job, and a job waits at most maxDeferMs', async () => {
    const { channel, sched, kinds } = rig();
    const relay = new SlackRelay(channel, 40, { maxDeferMs: 100, now: () => Date.now() });
    sched.idle = true;
    relay.attach(sched);
    const ran: string[] = [];
    const first = relay.runInSlack(async () => {
      ran.push('first');
      sched.revoke?.(); // a frame arrives while it runs
    });
    await vi.advanceTimersByTimeAsync(5);
    await first;
    expect(ran).toEqual(['first']);
    expect(kinds()).toEqual([]); // no pause: the learner had no window
    sched.idle = false; // overload: no slack from now on
    const second = relay.runInSlack(async () => {
      ran.push('second');
    });
    await vi.advanceTimersByTimeAsync(95);
    expect(ran).toEqual(['first']);
    await vi.advanceTimersByTimeAsync(10);
    await second;
    expect(ran).toEqual(['first', 'second']);
    relay.stop();
  });

  it('runs jobs at once without a scheduler and after stop, and passes their errors on', async () => {
    const { channel, sched } = rig();
    const relay = new SlackRelay(channel, 40, { now: () => Date.now() });
    await expect(relay.runInSlack(async () => 'now')).resolves.toBe('now');
    await expect(
      relay.runInSlack(() => {
        throw new Error('bad bundle');
      }),
    ).rejects.toThrow('bad bundle');
    relay.attach(sched);
    const order: string[] = [];
    const a = relay.runInSlack(async () => void order.push('a'));
    const b = relay.runInSlack(async () => void order.push('b'));
    expect(order).toEqual([]);
    relay.stop();
    await relay.idle(); // both have run by the time it resolves
    expect(order).toEqual(['a', 'b']);
    expect(relay.pendingWork).toBe(0);
    await Promise.all([a, b]);
  });
});
