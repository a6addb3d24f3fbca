import type { FrameResult } from '../pipeline/perception.js';
import { CameraScorer, type FrameScore, type Truth } from './scoring.js';
import type { MetricsSummary } from './summary.js';

/** One number for "how good": mean of det mAP@0.5, lane IoU and 1 − depth AbsRel (those present). */
export function combinedScore(m: MetricsSummary): number | null {
  const parts = [m.det_map50, m.lane_iou, m.depth_absrel === null ? null : 1 - m.depth_absrel].filter((v): v is number => v !== null);
  return parts.length === 0 ? null : Math.round((parts.reduce((a, b) => a + b, 0) / parts.length) * 1e4) / 1e4;
}

/**
 * Metrics over bag time: the bag is cut into `buckets` equal windows, each scored on its own,
 * for plots of accuracy over time (adaptation) and for the first and last fifth of a run.
 */
export class TimelineScorer {
  private readonly scorers: CameraScorer[];

  constructor(
    private readonly classes: readonly string[],
    private readonly startNs: bigint,
    private readonly durationNs: bigint,
    readonly buckets = 10,
  ) {
    this.scorers = Array.from({ length: buckets }, () => new CameraScorer(classes));
  }

  bucketOf(stampNs: bigint): number {
    if (this.durationNs <= 0n) return 0;
    const f = Number(stampNs - this.startNs) / Number(this.durationNs);
    return Math.min(this.buckets - 1, Math.max(0, Math.floor(f * this.buckets)));
  }

  add(stampNs: bigint, prediction: FrameResult, truth: Partial<Record<'detections' | 'lane' | 'depth', Truth>>): void {
    this.scorers[this.bucketOf(stampNs)].add(prediction, truth);
  }

  /** A frame already scored (scoreFrame), stamped `stampNs`. */
  addScore(stampNs: bigint, score: FrameScore): void {
    this.scorers[this.bucketOf(stampNs)].addScore(score);
  }

  /** The metrics of window `i` (0-based). */
  bucket(i: number): MetricsSummary {
    return this.scorers[i].result();
  }

  /** Metrics per window, with the window's start in seconds from the bag's start. */
  series(): Array<{ t: number; metrics: MetricsSummary; score: number | null }> {
    const width = Number(this.durationNs) / 1e9 / this.buckets;
    return this.scorers
      .map((s, i) => ({ t: Math.round(i * width * 1000) / 1000, metrics: s.result(), score: null as number | null }))
      .filter((p) => p.metrics.scored_frames > 0)
      .map((p) => ({ ...p, score: combinedScore(p.metrics) }));
  }
}
