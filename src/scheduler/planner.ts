import type { CostModel, RungLike } from './cost-model.js';
import type { Admission, PendingFrame } from './types.js';

export interface PlanInput<T> {
  /** The head frame of every non-empty mailbox. */
  readonly pending: readonly PendingFrame<T>[];
  /** Cameras with a frame in flight: their next frame waits, so results stay in stamp order. */
  readonly busy?: ReadonlySet<string>;
  readonly nowMs: number;
  /** The rung the batch will run at (a bare size: the rung without a variant). */
  readonly size: RungLike;
  readonly cost: CostModel;
  /** 1 when batching is off. */
  readonly maxBatch: number;
  readonly threshold: number;
  /**
   * Cameras whose last frame was dropped for its deadline. When every pending frame is late,
   * nothing runs, and the expected cost alone exceeds such a camera's whole budget, its earliest
   * frame runs anyway (a miss, counted): no frame of that camera could ever be planned, and
   * without a run the cost model never learns that the load has passed — a one-off slow frame
   * would otherwise starve the camera for good. A frame that is late only because it waited is
   * dropped like any other: the camera's next frame can still make its deadline. (Rescuing
   * those too ran frames after their deadline: docs/experiments/2026-11-29-realtime-scheduling.md.)
   */
  readonly starving?: (camera: string) => boolean;
  /** Nothing is in flight. */
  readonly idle?: boolean;
  /** The cost a frame must still fit before its deadline to start (SchedulerOptions.admission; default 'expected'). */
  readonly admission?: Admission;
}

export interface Plan<T> {
  /** Frames that can no longer meet their deadline: drop them (`deadline`). */
  readonly late: PendingFrame<T>[];
  /** The next batch, earliest deadline first; empty when nothing is left to run. */
  readonly batch: PendingFrame<T>[];
  /** The batch is a starving camera's late frame run anyway (see PlanInput.starving). */
  readonly rescue?: boolean;
}

/** Earliest deadline first; higher priority, then older arrival, breaks ties. */
export function edfOrder<T>(a: PendingFrame<T>, b: PendingFrame<T>): number {
  return a.deadlineMs - b.deadlineMs || b.priority - a.priority || a.arrivalMs - b.arrivalMs || cmp(a.camera, b.camera);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sameSize(a: PendingFrame<unknown>, b: PendingFrame<unknown>): boolean {
  const x = a.sourceSize;
  const y = b.sourceSize;
  return x !== undefined && y !== undefined && x[0] === y[0] && x[1] === y[1];
}

/**
 * Decides the next dispatch from the mailbox heads. A frame whose finish (now + the EWMA cost,
 * or its high quantile with `admission: 'high'`) is past its deadline is dropped rather than
 * run: running it would only delay frames that can still make theirs. The head of the EDF order then leads the batch; another frame
 * joins only if it has the same raw size, the bigger batch is cheaper than running the frames
 * one by one (by `threshold`), and every frame in it still meets its deadline at the batch's
 * pessimistic (high-quantile) cost.
 */
export function plan<T>(input: PlanInput<T>): Plan<T> {
  const { nowMs, size, cost } = input;
  const late: PendingFrame<T>[] = [];
  const live: PendingFrame<T>[] = [];
  const single = cost.expected(1, size);
  const admit = input.admission === 'expected' ? single : cost.high(1, size);
  for (const f of input.pending) {
    if (nowMs + admit > f.deadlineMs) late.push(f);
    else if (input.busy === undefined || !input.busy.has(f.camera)) live.push(f);
  }
  if (live.length === 0) {
    if (input.idle && input.starving && late.length > 0) {
      const rescue = [...late].sort(edfOrder).find((f) => input.starving!(f.camera) && single > f.deadlineMs - f.arrivalMs && (input.busy === undefined || !input.busy.has(f.camera)));
      if (rescue) return { late: late.filter((f) => f !== rescue), batch: [rescue], rescue: true };
    }
    return { late, batch: [] };
  }
  live.sort(edfOrder);
  const batch = [live[0]];
  if (input.maxBatch > 1 && live[0].sourceSize !== undefined) {
    let earliest = live[0].deadlineMs;
    for (let i = 1; i < live.length && batch.length < input.maxBatch; i++) {
      const f = live[i];
      if (!sameSize(live[0], f)) continue;
      const n = batch.length + 1;
      const pays = cost.expected(n, size) < n * single * input.threshold;
      const fits = nowMs + cost.high(n, size) <= Math.min(earliest, f.deadlineMs);
      if (pays && fits) {
        batch.push(f);
        earliest = Math.min(earliest, f.deadlineMs);
      }
    }
  }
  return { late, batch };
}
