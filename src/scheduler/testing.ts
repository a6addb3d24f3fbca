/**
 * Deterministic fakes for the scheduler's ports, for this folder's tests and for anyone testing
 * code built on the scheduler (replay, nodes): a manual clock, a runner whose cost per
 * (batch, size) is a function, and a discrete-event driver over the synchronous API.
 */
import type { Scheduler } from './scheduler.js';
import type { BatchRunner, CancelTimer, Clock, Dispatch, InputSize } from './types.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** Time moves only when told. Zero-delay timers run as microtasks, so async code settles without advancing. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimer(delayMs: number, fn: () => void): CancelTimer {
    const timer: Timer = { at: this.t + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    if (delayMs <= 0) queueMicrotask(() => timer.cancelled || fn());
    else this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Moves time forward by `ms`, firing due timers in time order. */
  advance(ms: number): void {
    this.set(this.t + ms);
  }

  /** Moves time forward to `ms` (never back). */
  set(ms: number): void {
    if (ms < this.t) throw new RangeError(`FakeClock cannot go back from ${this.t} to ${ms}`);
    for (;;) {
      this.timers = this.timers.filter((x) => !x.cancelled);
      const due = this.timers.filter((x) => x.at <= ms).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.t = due.at;
      due.cancelled = true;
      due.fn();
    }
    this.t = ms;
  }
}

export interface FakeResult<T> {
  readonly payload: T;
  readonly size: InputSize;
  readonly batch: number;
}

export type CostFn = (batch: number, size: InputSize, variant?: string) => number;

export interface FakeRunnerOptions {
  /** Latency of a batch; default 1 ms per frame at any size. */
  readonly cost?: CostFn;
  /** When given, `run` advances it by the cost before resolving (the runner "blocks"). */
  readonly clock?: FakeClock;
  /** Makes the n-th call (0-based) reject. */
  readonly failOn?: (call: number) => boolean;
}

/** A runner that echoes its payloads and takes `cost(batch, size)` ms of fake time. */
export class FakeRunner<T> implements BatchRunner<T, FakeResult<T>> {
  readonly calls: { frames: T[]; size: InputSize; variant?: string }[] = [];
  readonly cost: CostFn;

  constructor(private readonly opts: FakeRunnerOptions = {}) {
    this.cost = opts.cost ?? ((batch) => batch);
  }

  results(frames: readonly T[], size: InputSize): FakeResult<T>[] {
    return frames.map((payload) => ({ payload, size, batch: frames.length }));
  }

  run(frames: readonly T[], size: InputSize, variant?: string): Promise<readonly FakeResult<T>[]> {
    const call = this.calls.length;
    this.calls.push({ frames: [...frames], size, variant });
    this.opts.clock?.advance(this.cost(frames.length, size, variant));
    if (this.opts.failOn?.(call)) return Promise.reject(new Error(`fake failure on call ${call}`));
    return Promise.resolve(this.results(frames, size));
  }
}

/**
 * One synchronous step: poll, let fake time pass for the batch's cost, complete. Returns the
 * dispatch, or null when nothing was ready.
 */
export function stepOnce<T>(s: Scheduler<T, FakeResult<T>>, clock: FakeClock, runner: FakeRunner<T>): Dispatch<T> | null {
  const d = s.poll();
  if (d === null) return null;
  const payloads = d.frames.map((f) => f.payload);
  runner.calls.push({ frames: payloads, size: d.size, variant: d.variant });
  clock.advance(runner.cost(d.frames.length, d.size, d.variant));
  s.complete(d, runner.results(payloads, d.size));
  return d;
}

export interface Arrival<T> {
  readonly atMs: number;
  readonly camera: string;
  readonly stampNs: bigint;
  readonly payload: T;
  readonly sourceSize?: InputSize;
}

/**
 * Discrete-event run of the synchronous API: frames arrive at their times, dispatches finish
 * `cost` ms after they start, and the scheduler is polled whenever it could start one. The
 * `after` hook runs after every event (for invariant checks).
 */
export function simulate<T>(
  s: Scheduler<T, FakeResult<T>>,
  clock: FakeClock,
  arrivals: readonly Arrival<T>[],
  cost: CostFn,
  after?: () => void,
): void {
  const running: { d: Dispatch<T>; endMs: number }[] = [];
  const fill = () => {
    for (let d = s.poll(); d !== null; d = s.poll()) running.push({ d, endMs: clock.now() + cost(d.frames.length, d.size, d.variant) });
    after?.();
  };
  const drainUntil = (t: number) => {
    for (;;) {
      running.sort((a, b) => a.endMs - b.endMs || a.d.id - b.d.id);
      const next = running[0];
      if (next === undefined || next.endMs > t) return;
      running.shift();
      clock.set(Math.max(clock.now(), next.endMs));
      const payloads = next.d.frames.map((f) => f.payload);
      s.complete(next.d, payloads.map((payload) => ({ payload, size: next.d.size, batch: payloads.length })));
      fill();
    }
  };
  const ordered = [...arrivals].sort((a, b) => a.atMs - b.atMs);
  for (const a of ordered) {
    drainUntil(a.atMs);
    clock.set(Math.max(clock.now(), a.atMs));
    s.offer(a.camera, a.payload, { stampNs: a.stampNs, arrivalMs: clock.now(), sourceSize: a.sourceSize });
    after?.();
    fill();
  }
  drainUntil(Infinity);
}
