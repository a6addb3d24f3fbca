import type { ResolvedConfig } from './config.js';
import type { Rung } from './types.js';

/** What the ladder sees after each finished dispatch. */
export interface LoadSample {
  /** Busy fraction over the utilization window. */
  readonly utilization: number;
  /** Misses + drops over the outcome window. */
  readonly badRate: number;
  /** Expected cost at the next larger rung ÷ at the current rung (≥ 1). */
  readonly upCostRatio: number;
  /** Whether the largest budget-critical frame would still fit at the next larger rung. */
  readonly upFits: boolean;
  /**
   * Whether one frame's high-quantile cost at the current rung is within `ladder.fitShare` of
   * the smallest budget. While it is, and utilization is below high-water, misses and drops do
   * not step the ladder down: a smaller rung would not have prevented them. Default true.
   */
  readonly fits?: boolean;
}

/** Runs of a rung before its cost can take it off the ladder. */
const MIN_SAMPLES = 2;

export type LadderChange = { readonly from: Rung; readonly to: Rung; readonly direction: 'down' | 'up' };

/** What the ladder needs to know of each rung's cost (the scheduler's CostModel). */
export interface RungCosts {
  /** The rung's cost without contention (its lowest run; see CostModel.low). */
  low(batch: number, rung: Rung): number;
  /** Samples behind the rung's batch-1 cost; 0: a prior. */
  samples(rung: Rung): number;
}

/**
 * The ladder over rungs (input size × model variant), in the order of preference the caller
 * gives (best first). Which rungs are on it is decided by measured cost (each rung's lowest
 * run, robust to contention): a measured rung counts only if it is cheaper, by
 * `minSaving`, than every measured rung kept before it, so the ladder
 * is ordered by cost and never steps "down" to a worse rung that costs as much (FP16 on a CPU,
 * say). A rung not yet measured (fewer than two runs) is kept, at its prior, so that it is tried
 * and learned.
 *
 * Steps down one rung after `stepDownAfter` consecutive overloaded dispatches (or deadline
 * drops), and back up only after `stepUpAfter` consecutive dispatches at the lower rung that
 * were underloaded and predicted the larger rung to fit: utilization scaled by the cost ratio
 * below the middle of the water-mark band, and one frame's high-quantile cost within every
 * budget. The gap between the water marks, the longer up-streak and the prediction are the
 * hysteresis that keeps a borderline load from flapping. Misses alone do not step down while
 * the current rung's frame cost fits the budget with margin (`fitShare`) and utilization is
 * below high-water (docs/experiments/2026-12-06-ladder-and-per-frame-path.md).
 */
export class ResolutionLadder {
  private rung = 0;
  private over = 0;
  private under = 0;
  private changes = 0;

  constructor(
    private readonly rungs: readonly Rung[],
    private readonly cfg: ResolvedConfig['ladder'],
    private readonly costs?: RungCosts,
  ) {}

  get current(): Rung {
    return this.rungs[this.rung];
  }

  /** The current rung's position in the caller's list (0 = best). */
  get index(): number {
    return this.rung;
  }

  get changeCount(): number {
    return this.changes;
  }

  /** The next larger (more expensive, better) rung on the ladder, if any. */
  get larger(): Rung | undefined {
    const i = this.neighbour(-1);
    return i === undefined ? undefined : this.rungs[i];
  }

  /** The next smaller (cheaper) rung on the ladder, if any. */
  get smaller(): Rung | undefined {
    const i = this.neighbour(1);
    return i === undefined ? undefined : this.rungs[i];
  }

  /** Indices (into the caller's list) of the rungs on the ladder now, most expensive first. */
  active(): number[] {
    const out: number[] = [];
    let floor = Infinity;
    for (let i = 0; i < this.rungs.length; i++) {
      const r = this.rungs[i];
      // One run says little on a shared machine: a rung counts as measured from its second.
      if (this.costs === undefined || this.costs.samples(r) < MIN_SAMPLES) {
        out.push(i);
        continue;
      }
      const c = this.costs.low(1, r);
      if (c < floor * (1 - this.cfg.minSaving)) {
        out.push(i);
        floor = c;
      }
    }
    return out;
  }

  observe(s: LoadSample): LadderChange | undefined {
    const fits = s.fits ?? true;
    const busy = s.utilization > this.cfg.highWater;
    const overloaded = busy || (s.badRate > this.cfg.missRateHigh && !fits);
    // Predicted utilization at the bigger rung must land mid-band, not just under high-water:
    // a prediction that lands near high-water steps up into an overload and back down again.
    const fitsUp = s.upFits && s.utilization * s.upCostRatio < (this.cfg.lowWater + this.cfg.highWater) / 2;
    const underloaded = s.utilization < this.cfg.lowWater && s.badRate === 0 && fitsUp;
    this.over = overloaded ? this.over + 1 : 0;
    this.under = underloaded ? this.under + 1 : 0;
    if (this.over >= this.cfg.stepDownAfter) {
      const down = this.neighbour(1);
      if (down !== undefined) return this.move(down, 'down');
    }
    if (this.under >= this.cfg.stepUpAfter) {
      const up = this.neighbour(-1);
      if (up !== undefined) return this.move(up, 'up');
    }
    return undefined;
  }

  /**
   * The rung on the ladder just above (-1) or below (+1) the current one. The current rung may
   * have dropped off the ladder (measured no cheaper than a better one): its neighbours are then
   * the kept rungs on either side of it in the caller's order.
   */
  private neighbour(dir: -1 | 1): number | undefined {
    const on = this.active();
    const at = on.indexOf(this.rung);
    if (at >= 0) return on[at + dir];
    if (dir === 1) return on.find((i) => i > this.rung);
    const above = on.filter((i) => i < this.rung);
    return above[above.length - 1];
  }

  private move(to: number, direction: 'down' | 'up'): LadderChange {
    const from = this.rungs[this.rung];
    this.rung = to;
    this.over = 0;
    this.under = 0;
    this.changes += 1;
    return { from, to: this.rungs[to], direction };
  }
}
