import { PerceptionError } from '../core/errors.js';
import type { MetricsSummary } from './summary.js';

/**
 * Golden thresholds for regression replays (config/golden.json): per bag, per metric, a
 * bound the replayed metric must stay on the right side of.
 */
export type GoldenMetric = 'det_map50' | 'lane_iou' | 'drivable_iou' | 'depth_absrel' | 'depth_delta1';
const HIGHER_IS_BETTER: Record<GoldenMetric, boolean> = {
  det_map50: true,
  lane_iou: true,
  drivable_iou: true,
  depth_absrel: false,
  depth_delta1: true,
};

export interface GoldenFile {
  /** The model the thresholds were set for (name@version); a different model is reported, not compared silently. */
  model: string;
  /** sha256 of the model's files the bounds were set for (from its manifest). */
  model_sha256?: string;
  tails_sha256?: string;
  /** How the bounds were set (free text). */
  note?: string;
  bags: Record<string, Partial<Record<GoldenMetric, number>>>;
}

export interface GoldenFailure {
  bag: string;
  metric: GoldenMetric;
  expected: string;
  found: number | null;
  difference: number | null;
}

export function parseGolden(json: unknown, file: string): GoldenFile {
  const bad = (field: string, why: string) => new PerceptionError('INVALID_CONFIG', `${field} ${why}`, { file, field });
  if (typeof json !== 'object' || json === null) throw bad('(root)', 'must be an object');
  const g = json as Record<string, unknown>;
  if (typeof g.model !== 'string') throw bad('model', 'must be a string name@version');
  if (typeof g.bags !== 'object' || g.bags === null) throw bad('bags', 'must be an object of bag → thresholds');
  if (g.note !== undefined && typeof g.note !== 'string') throw bad('note', 'must be a string');
  for (const [bag, t] of Object.entries(g.bags as Record<string, unknown>)) {
    if (typeof t !== 'object' || t === null) throw bad(`bags.${bag}`, 'must be an object of metric → bound');
    for (const [k, v] of Object.entries(t)) {
      if (!(k in HIGHER_IS_BETTER)) throw bad(`bags.${bag}.${k}`, `is not a metric (allowed: ${Object.keys(HIGHER_IS_BETTER).join(', ')})`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`bags.${bag}.${k}`, `must be a finite number ≥ 0, got ${String(v)}`);
    }
  }
  return g as unknown as GoldenFile;
}

/** Every threshold a replay's metrics break, with the difference (negative = worse). */
export function checkGolden(bag: string, metrics: MetricsSummary, thresholds: Partial<Record<GoldenMetric, number>>): GoldenFailure[] {
  const failures: GoldenFailure[] = [];
  for (const [metric, bound] of Object.entries(thresholds) as Array<[GoldenMetric, number]>) {
    const found = metrics[metric];
    const higher = HIGHER_IS_BETTER[metric];
    const expected = `${higher ? '≥' : '≤'} ${bound}`;
    if (found === null) {
      failures.push({ bag, metric, expected, found: null, difference: null });
      continue;
    }
    const difference = higher ? found - bound : bound - found;
    if (difference < 0) failures.push({ bag, metric, expected, found, difference: Math.round(difference * 1e4) / 1e4 });
  }
  return failures;
}

export function formatFailures(failures: readonly GoldenFailure[]): string {
  return failures
    .map((f) => `${f.bag}: ${f.metric} = ${f.found ?? 'missing'}, expected ${f.expected}${f.difference === null ? '' : ` (off by ${Math.abs(f.difference)})`}`)
    .join('\n');
}
