/**
 * The latency–accuracy Pareto front of the size search (bench/pareto.ts): one accuracy score
 * per candidate and the rows no other row dominates.
 */
import type { Metrics } from './evaluate.js';

/** Mean of mAP@0.5, lane IoU, drivable IoU, δ<1.25 and 1 − AbsRel (the metrics present). */
export function score(m: Metrics): number {
  const parts = [m.det_map50, m.lane_iou, m.drivable_iou, m.depth_delta1, m.depth_absrel === null ? null : 1 - m.depth_absrel].filter((v): v is number => v !== null);
  return parts.length ? Math.round((parts.reduce((a, b) => a + b, 0) / parts.length) * 1e4) / 1e4 : 0;
}

/**
 * Sets `front` on each row that no other row dominates: none is at least as fast and at
 * least as accurate with one of the two strictly better. Ties (same ms and score) all stay.
 */
export function markFront<T extends { ms: number; score: number; front: boolean }>(rows: T[]): T[] {
  for (const r of rows) r.front = !rows.some((o) => o !== r && o.ms <= r.ms && o.score >= r.score && (o.ms < r.ms || o.score > r.score));
  return rows;
}
