/** How one frame ended, for the recent-window miss rate. `sampled_out` is policy, not load. */
export type Outcome = 'ok' | 'miss' | 'dropped';

const MAX_INTERVALS = 1024;

/**
 * Recent load, in bounded memory: busy intervals over a wall-time window (utilization) and the
 * last N frame outcomes (miss + drop rate). Busy intervals of concurrent inferences are merged,
 * so utilization means "some inference was running", at most 1.
 */
export class LoadTracker {
  // Ring of merged busy intervals, oldest first from `head`.
  private readonly starts = new Float64Array(MAX_INTERVALS);
  private readonly ends = new Float64Array(MAX_INTERVALS);
  private head = 0;
  private size = 0;
  private readonly outcomes: Uint8Array;
  private outNext = 0;
  private outCount = 0;
  private bad = 0;
  private originMs: number | undefined;

  constructor(
    private readonly windowMs: number,
    outcomeWindow: number,
  ) {
    this.outcomes = new Uint8Array(outcomeWindow);
  }

  /** The first time anything happened; utilization is not measured over time before it. */
  touch(nowMs: number): void {
    if (this.originMs === undefined) this.originMs = nowMs;
  }

  /** Wall time the utilization window currently covers. */
  observedMs(nowMs: number): number {
    return this.originMs === undefined ? 0 : Math.min(this.windowMs, nowMs - this.originMs);
  }

  /** Forgets history (after a resolution change, the old size's load says nothing). */
  reset(nowMs: number): void {
    this.originMs = nowMs;
    this.head = 0;
    this.size = 0;
    this.outcomes.fill(0);
    this.outNext = 0;
    this.outCount = 0;
    this.bad = 0;
  }

  addBusy(startMs: number, endMs: number): void {
    this.touch(startMs);
    if (endMs <= startMs) return;
    if (this.size > 0) {
      const last = (this.head + this.size - 1) % MAX_INTERVALS;
      if (startMs <= this.ends[last]) {
        this.ends[last] = Math.max(this.ends[last], endMs);
        this.starts[last] = Math.min(this.starts[last], startMs);
        return;
      }
    }
    if (this.size === MAX_INTERVALS) {
      this.head = (this.head + 1) % MAX_INTERVALS;
      this.size -= 1;
    }
    const i = (this.head + this.size) % MAX_INTERVALS;
    this.starts[i] = startMs;
    this.ends[i] = endMs;
    this.size += 1;
  }

  /** Busy fraction over the last window; `runningSinceMs` counts an inference still in flight. */
  utilization(nowMs: number, runningSinceMs?: number): number {
    if (this.originMs === undefined) return 0;
    const from = Math.max(nowMs - this.windowMs, this.originMs);
    const span = nowMs - from;
    if (span <= 0) return runningSinceMs !== undefined ? 1 : 0;
    let busy = 0;
    let coveredTo = from;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) % MAX_INTERVALS;
      const s = Math.max(this.starts[i], coveredTo);
      const e = Math.min(this.ends[i], nowMs);
      if (e > s) {
        busy += e - s;
        coveredTo = e;
      }
    }
    if (runningSinceMs !== undefined) busy += Math.max(0, nowMs - Math.max(runningSinceMs, coveredTo));
    return Math.min(1, busy / span);
  }

  addOutcome(outcome: Outcome): void {
    const code = outcome === 'ok' ? 0 : 1;
    if (this.outCount === this.outcomes.length) this.bad -= this.outcomes[this.outNext];
    else this.outCount += 1;
    this.outcomes[this.outNext] = code;
    this.bad += code;
    this.outNext = (this.outNext + 1) % this.outcomes.length;
  }

  /** Misses and drops over the last outcomes; 0 before any. */
  badRate(): number {
    return this.outCount === 0 ? 0 : this.bad / this.outCount;
  }

  /** Any miss or drop among the last outcomes. */
  hasRecentTrouble(): boolean {
    return this.bad > 0;
  }
}
