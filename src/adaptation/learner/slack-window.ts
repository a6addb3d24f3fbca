/**
 * The learner's side of the scheduler's slack (perception's `slack` and `pause` messages): a
 * window of compute time that opens when a grant arrives and closes when it runs out, when a
 * pause arrives, or when a newer grant replaces it.
 *
 * Grants never queue. A grant is for *now*: perception gives one only while no frame is due
 * before it ends. Queued behind a busy learner and run later, it would overlap frames, and the
 * frames it overlapped were slower (traced: docs/experiments/2026-11-29-latency-and-swaps.md).
 *
 * Long work (the gate, a router fit) runs in pieces and calls `pace()` between them: it gives
 * the event loop a turn (so a pause can arrive) and waits for a window with room for one more
 * piece (the pieces' duration is learned), so that work too stays inside the granted slack.
 */

import type { Pacer } from './paced.js';

/** `pace()` or `next()` on a closed window: the learner is stopping. */
export class SlackClosedError extends Error {
  constructor() {
    super('the slack window is closed (the learner is stopping)');
    this.name = 'SlackClosedError';
  }
}

export interface SlackWindowOptions {
  /** Milliseconds, monotonic (default performance.now). */
  readonly now?: () => number;
  /** Give the event loop a turn after this much work in `pace()` (default 4 ms). */
  readonly yieldEveryMs?: number;
  /** Macrotask turn (default setImmediate); tests pass their own. */
  readonly turn?: () => Promise<void>;
}

export class SlackWindow implements Pacer {
  private until = -Infinity;
  private closed = false;
  private grantedMs = 0;
  /** Learned duration of one piece of paced work (EWMA), ms. */
  private pieceMs = 0;
  private lastReturn: number | undefined;
  private lastTurn: number;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly now: () => number;
  private readonly yieldEveryMs: number;
  private readonly turn: () => Promise<void>;

  constructor(options: SlackWindowOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.yieldEveryMs = options.yieldEveryMs ?? 4;
    if (!(this.yieldEveryMs >= 0)) throw new RangeError(`yieldEveryMs must be ≥ 0, got ${this.yieldEveryMs}`);
    this.turn = options.turn ?? (() => new Promise<void>((r) => setImmediate(r)));
    this.lastTurn = this.now();
  }

  /** A grant of `ms` from now: opens a window, replacing any open one. Ignored once closed. */
  grant(ms: number): void {
    if (this.closed || !(ms > 0)) return;
    this.until = this.now() + ms;
    this.grantedMs = ms;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w.resolve();
  }

  /** A pause: the open window closes now. */
  revoke(): void {
    this.until = -Infinity;
  }

  /** No more windows: everything waiting for one rejects with SlackClosedError. */
  close(): void {
    this.closed = true;
    this.until = -Infinity;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w.reject(new SlackClosedError());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Milliseconds left in the open window (0 when none is open). */
  remainingMs(): number {
    return Math.max(0, this.until - this.now());
  }

  /** Resolves with the open window's remaining time, waiting for a grant if none is open. */
  async next(): Promise<number> {
    while (this.remainingMs() <= 0) await this.waitForGrant();
    return this.remainingMs();
  }

  /**
   * Between two pieces of long work: the event loop gets a turn every `yieldEveryMs`, then this
   * waits until a window is open with room for one more piece (a window with three quarters of
   * its grant left always has room, however long pieces are: work must go on). Rejects with
   * SlackClosedError once the window is closed.
   */
  async pace(): Promise<void> {
    const t = this.now();
    if (this.lastReturn !== undefined) {
      const piece = t - this.lastReturn;
      this.pieceMs = this.pieceMs === 0 ? piece : this.pieceMs + 0.2 * (piece - this.pieceMs);
    }
    if (t - this.lastTurn >= this.yieldEveryMs) {
      await this.turn();
      this.lastTurn = this.now();
    }
    for (;;) {
      if (this.closed) throw new SlackClosedError();
      const left = this.remainingMs();
      if (left > 0 && (left >= this.pieceMs || left >= 0.75 * this.grantedMs)) break;
      await this.waitForGrant();
      this.lastTurn = this.now();
    }
    this.lastReturn = this.now();
  }

  /**
   * Marks the start of a run of paced work (its first piece is timed from here). Without it,
   * the time between the previous run's last piece and this run's first would count as a piece.
   */
  begin(): void {
    this.lastReturn = this.now();
  }

  private waitForGrant(): Promise<void> {
    if (this.closed) return Promise.reject(new SlackClosedError());
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}
