import type { GcSummary } from './gc-stats.js';
import * as hdr from 'hdr-histogram-js';

/** What `replay` writes to summary.json (and prints with --json). */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  count: number;
}

export interface MetricsSummary {
  det_map50: number | null;
  det_ap50_per_class: Record<string, number | null>;
  lane_iou: number | null;
  drivable_iou: number | null;
  depth_absrel: number | null;
  depth_rmse: number | null;
  depth_delta1: number | null;
  scored_frames: number;
}

export type DropCounts = Partial<Record<'superseded' | 'deadline' | 'sampled_out' | 'error' | 'shutdown', number>>;

export interface CameraSummary {
  frames: number;
  processed: number;
  /** Frames the scheduler did not run (see drops_by_reason). */
  dropped: number;
  drops_by_reason: DropCounts;
  /** Frames processed after their deadline. */
  deadline_misses: number;
  /** Of those, frames started although already expected to finish late (a starving camera's). */
  misses_started_late?: number;
  bad_frames: number;
  latency_ms: LatencySummary | null;
  metrics: MetricsSummary;
}

export interface ReplaySummary {
  bag: string;
  /** 'fast' or 'rate R'. */
  mode: string;
  frames: number;
  processed: number;
  dropped: number;
  drops_by_reason: DropCounts;
  deadline_misses: number;
  /** Of the misses, frames started although already expected to finish late; the rest started in time. */
  misses_started_late?: number;
  /** Frames that could not be used (corrupt, bad encoding, size mismatch), by reason code. */
  bad_frames: Record<string, number>;
  /** Message in → results ready. */
  latency_ms: LatencySummary | null;
  /** Message in → the scheduler starts it (queueing and event-loop blocking). */
  dispatch_delay_ms: LatencySummary | null;
  event_loop_delay_ms: { p50: number; p99: number; max: number };
  /** This (the replay's main) thread's garbage collections while frames ran, by kind. */
  gc_ms: GcSummary;
  metrics: MetricsSummary;
  /** Metrics per tenth of the bag's duration (t = window start, seconds); `score` = mean(mAP, lane IoU, 1 − AbsRel). */
  timeline: Array<{ t: number; metrics: MetricsSummary; score: number | null }>;
  model: { name: string; version: string; input_size: [number, number]; provider: string };
  per_camera: Record<string, CameraSummary>;
  /** `rung`: the ladder's rung at the end (`HxW` or `HxW@variant`); `ladder_rungs`: the rungs on it then, most expensive first. */
  scheduler: { input_size: readonly number[]; rung?: string; ladder_rungs?: readonly string[]; ladder_changes: number; utilization: number; batches_formed: number; batch_sizes: Record<string, number> };
  bag_duration_s: number;
  wall_s: number;
  outputs: { results: string; summary: string; report: string };
  /** Set when the bag ended early (truncated or corrupt): results cover what was read. */
  bag_error?: string;
}

/**
 * Latency in microseconds in an HDR histogram: bounded memory whatever the frame count,
 * and percentiles with 3 significant digits.
 */
export class LatencyRecorder {
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });

  recordMs(ms: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  /** Adds another recorder's samples (per-camera histograms into the overall one). */
  add(other: LatencyRecorder): void {
    this.histogram.add(other.histogram);
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** Samples above `ms` (to the histogram's 3 significant digits). */
  countAbove(ms: number): number {
    const h = this.histogram;
    if (h.totalCount === 0) return 0;
    return h.totalCount - countBelow(h, Math.round(ms * 1000));
  }

  summary(): LatencySummary | null {
    const h = this.histogram;
    if (h.totalCount === 0) return null;
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      max: ms(h.maxValue),
      mean: Math.round(h.mean) / 1000,
      count: h.totalCount,
    };
  }

  /** Counts per bucket of `bucketMs`, for the report's histogram plot. */
  buckets(bucketMs: number, maxBuckets = 60): Array<{ fromMs: number; count: number }> {
    const h = this.histogram;
    if (h.totalCount === 0) return [];
    const top = Math.min(h.maxValue / 1000, bucketMs * maxBuckets);
    const n = Math.max(1, Math.ceil(top / bucketMs));
    const out: Array<{ fromMs: number; count: number }> = [];
    let below = 0;
    for (let i = 1; i <= n; i++) {
      const edgeUs = i * bucketMs * 1000;
      const upTo = i === n ? h.totalCount : countBelow(h, edgeUs);
      out.push({ fromMs: (i - 1) * bucketMs, count: upTo - below });
      below = upTo;
    }
    return out;
  }

  destroy(): void {
    this.histogram.destroy();
  }
}

function countBelow(h: hdr.Histogram, valueUs: number): number {
  // hdr-histogram-js has no CDF accessor; the percentile of a value is found by bisection.
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (h.getValueAtPercentile(mid) <= valueUs) lo = mid;
    else hi = mid;
  }
  return Math.round((lo / 100) * h.totalCount);
}

export function emptyMetrics(): MetricsSummary {
  return {
    det_map50: null,
    det_ap50_per_class: {},
    lane_iou: null,
    drivable_iou: null,
    depth_absrel: null,
    depth_rmse: null,
    depth_delta1: null,
    scored_frames: 0,
  };
}
