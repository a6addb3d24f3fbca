import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ToLearner } from '../learner/channel-codec.js';
import type { RevokeReason, SlackGrant } from '../scheduler/index.js';
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
    revoke: undefined as undefined | (() => void),
    requestSlack(_ms: number, onRevoke?: (reason: RevokeReason) => void): SlackGrant | null {
      if (!this.idle) return null;
      this.revoke = () => onRevoke?.('frame' as RevokeReason);
      return { release: () => undefined } as unknown as SlackGrant;
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
});
