import { PerceptionError } from '../core/errors.js';
import { ADMISSIONS, type Admission, type InputSize, type Rung, type SchedulerOptions } from './types.js';

/** Options after validation, every default filled in. Built once, at construction. */
export interface ResolvedConfig {
  readonly cameras: ReadonlyMap<string, ResolvedCamera>;
  /** The distinct sizes of the rungs, largest first. */
  readonly sizes: readonly InputSize[];
  /** The rungs in order of preference, best first (from `rungs`, or one per size). */
  readonly rungs: readonly Rung[];
  readonly maxInFlight: number;
  readonly admission: Admission;
  readonly batching: { readonly enabled: boolean; readonly maxBatch: number; readonly threshold: number };
  readonly costModel: {
    readonly priorMs: number;
    readonly priorBatchFactor: number;
    readonly alpha: number;
    readonly ringSize: number;
    readonly quantile: number;
  };
  readonly ladder: {
    readonly highWater: number;
    readonly lowWater: number;
    readonly missRateHigh: number;
    readonly stepDownAfter: number;
    readonly stepUpAfter: number;
    readonly fitShare: number;
    readonly minSaving: number;
  };
  readonly window: { readonly utilizationMs: number; readonly outcomes: number };
}

export interface ResolvedCamera {
  readonly name: string;
  readonly budgetMs: number;
  readonly priority: number;
  readonly sampleEvery: number;
}

interface Range {
  readonly min: number;
  readonly max: number;
  /** Exclude `min` itself. */
  readonly openMin?: boolean;
  readonly integer?: boolean;
}

function fail(field: string, message: string): never {
  throw new PerceptionError('INVALID_CONFIG', `${field} ${message}`, { field });
}

function num(value: unknown, field: string, fallback: number | undefined, range: Range): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const kind = range.integer ? 'an integer' : 'a number';
  const lo = range.openMin ? `(${range.min}` : `[${range.min}`;
  const allowed = `${kind} in ${lo}, ${range.max}]`;
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(field, `must be ${allowed}, got ${String(value)}`);
  const below = range.openMin ? value <= range.min : value < range.min;
  if (below || value > range.max || (range.integer && !Number.isInteger(value))) {
    fail(field, `must be ${allowed}, got ${value}`);
  }
  return value;
}

function admissionOf(value: unknown): Admission {
  if (value === undefined) return 'expected';
  if (!(ADMISSIONS as readonly unknown[]).includes(value)) fail('admission', `must be one of ${ADMISSIONS.join(', ')}, got ${String(value)}`);
  return value as Admission;
}

function obj(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be an object');
  return value as Record<string, unknown>;
}

function sizesOf(value: unknown): InputSize[] {
  if (!Array.isArray(value) || value.length === 0) fail('sizes', 'must list at least one [height, width], largest first');
  return value.map((s: unknown, i) => {
    if (!Array.isArray(s) || s.length !== 2) fail(`sizes[${i}]`, 'must be a [height, width] pair');
    const h = num(s[0], `sizes[${i}][0]`, undefined, { min: 1, max: 16384, integer: true });
    const w = num(s[1], `sizes[${i}][1]`, undefined, { min: 1, max: 16384, integer: true });
    if (i > 0) {
      const prev = value[i - 1] as [number, number];
      if (h * w >= prev[0] * prev[1]) fail(`sizes[${i}]`, `must be smaller than sizes[${i - 1}] (largest first)`);
    }
    return [h, w] as const;
  });
}

function rungsOf(value: unknown): Rung[] {
  if (!Array.isArray(value) || value.length === 0) fail('rungs', 'must list at least one { size: [height, width], variant? }, best first');
  const seen = new Set<string>();
  return value.map((r: unknown, i) => {
    const o = obj(r, `rungs[${i}]`);
    for (const k of Object.keys(o)) if (k !== 'size' && k !== 'variant') fail(`rungs[${i}].${k}`, 'is not a field of a rung (allowed: size, variant)');
    const s = o.size;
    if (!Array.isArray(s) || s.length !== 2) fail(`rungs[${i}].size`, 'must be a [height, width] pair');
    const h = num(s[0], `rungs[${i}].size[0]`, undefined, { min: 1, max: 16384, integer: true });
    const w = num(s[1], `rungs[${i}].size[1]`, undefined, { min: 1, max: 16384, integer: true });
    const v = o.variant;
    if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > 64)) fail(`rungs[${i}].variant`, `must be a non-empty string of at most 64 characters, got ${JSON.stringify(v)}`);
    const key = rungKey({ size: [h, w], variant: v as string | undefined });
    if (seen.has(key)) fail(`rungs[${i}]`, `repeats the rung ${key}`);
    seen.add(key);
    return v === undefined ? { size: [h, w] as const } : { size: [h, w] as const, variant: v as string };
  });
}

/** A rung's name in snapshots and errors: `HxW`, or `HxW@variant`. */
export function rungKey(r: Rung): string {
  return r.variant === undefined ? `${r.size[0]}x${r.size[1]}` : `${r.size[0]}x${r.size[1]}@${r.variant}`;
}

function distinctSizes(rungs: readonly Rung[]): InputSize[] {
  const out: InputSize[] = [];
  for (const r of rungs) if (!out.some((s) => s[0] === r.size[0] && s[1] === r.size[1])) out.push(r.size);
  return out.sort((a, b) => b[0] * b[1] - a[0] * a[1]);
}

function lowWaterOf(value: unknown, highWater: number): number {
  const v = num(value, 'ladder.lowWater', Math.min(0.5, highWater / 2), { min: 0, max: 1 });
  if (v >= highWater) fail('ladder.lowWater', `must be a number in [0, ladder.highWater = ${highWater}), got ${v}`);
  return v;
}

/** Validates scheduler options once; the error names the field and the allowed range. */
export function resolveConfig<T, R>(options: SchedulerOptions<T, R>): ResolvedConfig {
  const o = obj(options, 'options');
  if (typeof (o.runner as { run?: unknown } | undefined)?.run !== 'function') fail('runner', 'must have a run(frames, size) method');
  const clock = o.clock as { now?: unknown; setTimer?: unknown } | undefined;
  if (typeof clock?.now !== 'function' || typeof clock.setTimer !== 'function') fail('clock', 'must have now() and setTimer()');

  const cameraEntries = Object.entries(obj(o.cameras, 'cameras'));
  if (cameraEntries.length === 0) fail('cameras', 'must configure at least one camera');
  const cameras = new Map<string, ResolvedCamera>();
  for (const [name, raw] of cameraEntries) {
    const c = obj(raw, `cameras.${name}`);
    if (name.length === 0) fail('cameras', 'camera names must be non-empty');
    cameras.set(name, {
      name,
      budgetMs: num(c.budgetMs, `cameras.${name}.budgetMs`, undefined, { min: 0, max: 60_000, openMin: true }),
      priority: num(c.priority, `cameras.${name}.priority`, 0, { min: 0, max: 100, integer: true }),
      sampleEvery: num(c.sampleEvery, `cameras.${name}.sampleEvery`, 1, { min: 1, max: 1000, integer: true }),
    });
  }

  const b = obj(o.batching, 'batching');
  if (b.enabled !== undefined && typeof b.enabled !== 'boolean') fail('batching.enabled', 'must be a boolean');
  const cm = obj(o.costModel, 'costModel');
  const l = obj(o.ladder, 'ladder');
  const highWater = num(l.highWater, 'ladder.highWater', 0.9, { min: 0, max: 1, openMin: true });
  const stepDownAfter = num(l.stepDownAfter, 'ladder.stepDownAfter', 5, { min: 1, max: 10_000, integer: true });
  const w = obj(o.window, 'window');

  const rungs = o.rungs !== undefined ? rungsOf(o.rungs) : sizesOf(o.sizes).map((size) => ({ size }));
  return {
    cameras,
    sizes: distinctSizes(rungs),
    rungs,
    maxInFlight: num(o.maxInFlight, 'maxInFlight', 1, { min: 1, max: 16, integer: true }),
    admission: admissionOf(o.admission),
    batching: {
      enabled: (b.enabled as boolean | undefined) ?? true,
      maxBatch: num(b.maxBatch, 'batching.maxBatch', 1, { min: 1, max: 64, integer: true }),
      threshold: num(b.threshold, 'batching.threshold', 0.9, { min: 0, max: 1, openMin: true }),
    },
    costModel: {
      priorMs: num(cm.priorMs, 'costModel.priorMs', 10, { min: 0, max: 60_000, openMin: true }),
      priorBatchFactor: num(cm.priorBatchFactor, 'costModel.priorBatchFactor', 0.6, { min: 0, max: 1, openMin: true }),
      alpha: num(cm.alpha, 'costModel.alpha', 0.2, { min: 0, max: 1, openMin: true }),
      ringSize: num(cm.ringSize, 'costModel.ringSize', 32, { min: 4, max: 1024, integer: true }),
      quantile: num(cm.quantile, 'costModel.quantile', 0.9, { min: 0.5, max: 1, openMin: true }),
    },
    ladder: {
      highWater,
      lowWater: lowWaterOf(l.lowWater, highWater),
      missRateHigh: num(l.missRateHigh, 'ladder.missRateHigh', 0.1, { min: 0, max: 1 }),
      stepDownAfter,
      stepUpAfter: num(l.stepUpAfter, 'ladder.stepUpAfter', Math.max(30, stepDownAfter), {
        min: stepDownAfter,
        max: 100_000,
        integer: true,
      }),
      fitShare: num(l.fitShare, 'ladder.fitShare', 0.75, { min: 0, max: 1, openMin: true }),
      minSaving: num(l.minSaving, 'ladder.minSaving', 0.05, { min: 0, max: 0.9 }),
    },
    window: {
      utilizationMs: num(w.utilizationMs, 'window.utilizationMs', 1000, { min: 0, max: 600_000, openMin: true }),
      outcomes: num(w.outcomes, 'window.outcomes', 50, { min: 1, max: 10_000, integer: true }),
    },
  };
}
