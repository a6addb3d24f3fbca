import * as hdr from 'hdr-histogram-js';
import type { CostModelSnapshot } from './cost-model.js';
import type { SlackStats } from './slack.js';
import { DROP_REASONS, type DropReason, type InputSize } from './types.js';

export interface LatencySnapshot {
  count: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
}

export interface CameraSnapshot {
  offered: number;
  served: number;
  /** Served, but finished after the deadline. */
  deadline_misses: number;
  /**
   * Of the misses, frames started when their expected finish was already past their deadline:
   * a starving camera's frame run anyway (PlanInput.starving). The others started in time.
   */
  late_starts: number;
  dropped: Record<DropReason, number>;
  /** Arrival → result. */
  latency: LatencySnapshot | null;
}

/** JSON-able; goes into summary.json and ROS diagnostics as is. */
export interface SchedulerSnapshot {
  now_ms: number;
  input_size: [number, number];
  /** The current rung: `HxW`, or `HxW@variant`. */
  rung: string;
  /** The rungs on the ladder now, most expensive first (see ResolutionLadder.active). */
  ladder_rungs: string[];
  /** The current rung's position among the rungs given (0 = best). */
  ladder_rung: number;
  ladder_changes: number;
  /** Which run-time estimate a frame had to fit before its deadline to start (SchedulerOptions.admission). */
  admission: string;
  utilization: number;
  dispatches: number;
  /** Dispatches that ran more than one frame. */
  batches_formed: number;
  /** Dispatch count by batch size ("1", "2", …). */
  batch_sizes: Record<string, number>;
  in_flight: number;
  pending: number;
  errors: number;
  slack: SlackStats;
  cost_model: CostModelSnapshot;
  cameras: Record<string, CameraSnapshot>;
}

/** State the scheduler owns and hands in at snapshot time. */
export interface LiveState {
  readonly nowMs: number;
  readonly size: InputSize;
  readonly rung: string;
  readonly ladderRungs: string[];
  readonly ladderRung: number;
  readonly ladderChanges: number;
  readonly utilization: number;
  readonly inFlight: number;
  readonly pending: number;
  readonly slack: SlackStats;
  readonly cost: CostModelSnapshot;
  readonly admission: string;
}

class CameraMetrics {
  offered = 0;
  served = 0;
  misses = 0;
  lateStarts = 0;
  readonly dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  // HDR: bounded memory whatever the frame count, 3 significant digits; values in µs.
  readonly latencyUs = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

  snapshot(): CameraSnapshot {
    const h = this.latencyUs;
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      offered: this.offered,
      served: this.served,
      deadline_misses: this.misses,
      late_starts: this.lateStarts,
      dropped: { ...this.dropped },
      latency:
        h.totalCount === 0
          ? null
          : {
              count: h.totalCount,
              p50_ms: ms(h.getValueAtPercentile(50)),
              p90_ms: ms(h.getValueAtPercentile(90)),
              p99_ms: ms(h.getValueAtPercentile(99)),
              max_ms: ms(h.maxValue),
              mean_ms: ms(h.mean),
            },
    };
  }
}

/** Counters and per-camera latency histograms. */
export class SchedulerMetrics {
  private readonly cameras = new Map<string, CameraMetrics>();
  private dispatches = 0;
  private batchesFormed = 0;
  private readonly batchSizes = new Map<number, number>();
  private errors = 0;

  constructor(cameras: Iterable<string>) {
    for (const c of cameras) this.cameras.set(c, new CameraMetrics());
  }

  offered(camera: string): void {
    this.cam(camera).offered += 1;
  }

  dropped(camera: string, reason: DropReason): void {
    this.cam(camera).dropped[reason] += 1;
  }

  served(camera: string, latencyMs: number, missed: boolean, lateStart = false): void {
    const c = this.cam(camera);
    c.served += 1;
    if (missed) c.misses += 1;
    if (missed && lateStart) c.lateStarts += 1;
    c.latencyUs.recordValue(Math.min(3_600_000_000, Math.max(1, Math.round(latencyMs * 1000))));
  }

  dispatched(batch: number): void {
    this.dispatches += 1;
    if (batch > 1) this.batchesFormed += 1;
    this.batchSizes.set(batch, (this.batchSizes.get(batch) ?? 0) + 1);
  }

  error(): void {
    this.errors += 1;
  }

  snapshot(live: LiveState): SchedulerSnapshot {
    const cameras: Record<string, CameraSnapshot> = {};
    for (const [name, c] of this.cameras) cameras[name] = c.snapshot();
    const batchSizes: Record<string, number> = {};
    for (const [n, count] of [...this.batchSizes].sort((a, b) => a[0] - b[0])) batchSizes[String(n)] = count;
    return {
      now_ms: live.nowMs,
      input_size: [live.size[0], live.size[1]],
      rung: live.rung,
      ladder_rungs: live.ladderRungs,
      ladder_rung: live.ladderRung,
      ladder_changes: live.ladderChanges,
      admission: live.admission,
      utilization: Math.round(live.utilization * 1000) / 1000,
      dispatches: this.dispatches,
      batches_formed: this.batchesFormed,
      batch_sizes: batchSizes,
      in_flight: live.inFlight,
      pending: live.pending,
      errors: this.errors,
      slack: { ...live.slack },
      cost_model: live.cost,
      cameras,
    };
  }

  private cam(camera: string): CameraMetrics {
    const c = this.cameras.get(camera);
    if (c === undefined) throw new Error(`no metrics for camera ${camera}`);
    return c;
  }
}
