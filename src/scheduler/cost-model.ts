import { rungKey, type ResolvedConfig } from './config.js';
import type { InputSize, Rung } from './types.js';

/** A rung, or a bare size (the rung of that size without a variant). */
export type RungLike = Rung | InputSize;

interface Entry {
  readonly batch: number;
  readonly rung: Rung;
  count: number;
  ewma: number;
  high: number;
  low: number;
  readonly ring: Float64Array;
  next: number;
}

export interface CostEstimate {
  /** EWMA of observed latency, or the prior. */
  readonly expectedMs: number;
  /** The tracked high quantile (never below the EWMA), or the prior. */
  readonly highMs: number;
  /** Samples behind the estimate; 0 means it is a prior. */
  readonly samples: number;
}

export interface CostModelSnapshot {
  readonly [key: string]: { samples: number; ewma_ms: number; high_ms: number };
}

/**
 * Learns inference latency per (batch size, rung) online — a rung is an input size and a model
 * variant (precision, width) — with an EWMA for the expectation and a quantile over a small ring
 * of recent samples for the pessimistic case. Before any sample of a key, it derives a prior
 * from what it knows: the same rung at batch 1; else the measured rung of the same variant
 * nearest in pixel count, scaled by pixels; else any measured rung nearest in pixel count
 * (another variant costs the same until measured), scaled; else `priorMs` at the largest size
 * scaled by pixel count.
 */
export class CostModel {
  private readonly entries = new Map<string, Entry>();
  // Reused by every quantile update so recording a sample allocates nothing.
  private readonly scratch: Float64Array;
  private readonly refPixels: number;

  constructor(
    private readonly cfg: ResolvedConfig['costModel'],
    largest: InputSize,
  ) {
    this.scratch = new Float64Array(cfg.ringSize);
    this.refPixels = largest[0] * largest[1];
  }

  record(batch: number, at: RungLike, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const rung = asRung(at);
    const key = keyOf(batch, rung);
    let e = this.entries.get(key);
    if (e === undefined) {
      e = { batch, rung, count: 0, ewma: ms, high: ms, low: ms, ring: new Float64Array(this.cfg.ringSize), next: 0 };
      this.entries.set(key, e);
    } else {
      e.ewma += this.cfg.alpha * (ms - e.ewma);
    }
    e.ring[e.next] = ms;
    e.next = (e.next + 1) % e.ring.length;
    e.count += 1;
    e.high = Math.max(e.ewma, this.quantileOf(e));
    e.low = Math.min(e.low, ms);
  }

  estimate(batch: number, at: RungLike): CostEstimate {
    const rung = asRung(at);
    const e = this.entries.get(keyOf(batch, rung));
    if (e !== undefined) return { expectedMs: e.ewma, highMs: e.high, samples: e.count };
    const one = batch === 1 ? undefined : this.entries.get(keyOf(1, rung));
    const single = one !== undefined ? { ewma: one.ewma, high: one.high } : this.singlePrior(rung);
    // Optimistic about batching on purpose: a prior of n × cost(1) would never let a batch be
    // tried, so its real cost would never be learned.
    const factor = 1 + (batch - 1) * this.cfg.priorBatchFactor;
    return { expectedMs: single.ewma * factor, highMs: single.high * factor, samples: 0 };
  }

  expected(batch: number, at: RungLike): number {
    return this.estimate(batch, at).expectedMs;
  }

  high(batch: number, at: RungLike): number {
    return this.estimate(batch, at).highMs;
  }

  /**
   * The lowest run ever seen of a batch at a rung, or the expectation when unmeasured: what the
   * rung costs without contention, for comparing rungs with each other. Another process, or the
   * replay's own reading on the other core, only ever adds to a run's time; comparing rungs by
   * their EWMA, or by the low of their recent runs, compared the load of the moments each was
   * last run at instead: a rung run only at warm-up (quiet) against rungs run all through an
   * overload (docs/experiments/2026-12-06-ladder-and-per-frame-path.md).
   */
  low(batch: number, at: RungLike): number {
    const e = this.entries.get(keyOf(batch, asRung(at)));
    return e !== undefined ? e.low : this.expected(batch, at);
  }

  /** Samples of this rung at batch 1 (0: its cost is a prior). */
  samples(at: RungLike): number {
    return this.entries.get(keyOf(1, asRung(at)))?.count ?? 0;
  }

  snapshot(): CostModelSnapshot {
    const out: Record<string, { samples: number; ewma_ms: number; high_ms: number }> = {};
    for (const [k, e] of this.entries) out[k] = { samples: e.count, ewma_ms: round3(e.ewma), high_ms: round3(e.high) };
    return out;
  }

  private singlePrior(rung: Rung): { ewma: number; high: number } {
    const pixels = rung.size[0] * rung.size[1];
    // The same variant scales best; any other variant is assumed to cost the same until measured.
    const best = this.nearest(rung, pixels, true) ?? this.nearest(rung, pixels, false);
    if (best !== undefined) return { ewma: (best.ewma * pixels) / best.pixels, high: (best.high * pixels) / best.pixels };
    const prior = (this.cfg.priorMs * pixels) / this.refPixels;
    return { ewma: prior, high: prior };
  }

  private nearest(rung: Rung, pixels: number, sameVariant: boolean): { ewma: number; high: number; pixels: number } | undefined {
    let best: { ewma: number; high: number; pixels: number } | undefined;
    for (const e of this.entries.values()) {
      if (e.batch !== 1 || (sameVariant && e.rung.variant !== rung.variant)) continue;
      const p = e.rung.size[0] * e.rung.size[1];
      // The measured size closest in pixel count scales best.
      if (best === undefined || Math.abs(Math.log(p / pixels)) < Math.abs(Math.log(best.pixels / pixels))) {
        best = { ewma: e.ewma, high: e.high, pixels: p };
      }
    }
    return best;
  }

  private quantileOf(e: Entry): number {
    const n = Math.min(e.count, e.ring.length);
    const s = this.scratch;
    // Unfilled slots sort last as +Infinity, so the first n of the sorted scratch are the samples.
    for (let i = 0; i < s.length; i++) s[i] = i < n ? e.ring[i] : Infinity;
    s.sort();
    return s[Math.min(n - 1, Math.ceil(this.cfg.quantile * n) - 1)];
  }
}

function asRung(at: RungLike): Rung {
  return Array.isArray(at) ? { size: at as InputSize } : (at as Rung);
}

/** `1x192x384` (batch × size), `1x192x384@int8` for a variant: the keys of `snapshot()`. */
function keyOf(batch: number, rung: Rung): string {
  return `${batch}x${rungKey(rung)}`;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
