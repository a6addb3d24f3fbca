import type { ResolvedConfig } from './config.js';
import type { InputSize } from './types.js';

/** What the ladder sees after each finished dispatch. */
export interface LoadSample {
  /** Busy fraction over the utilization window. */
  readonly utilization: number;
  /** Misses + drops over the outcome window. */
  readonly badRate: number;
  /** Expected cost at the next larger size ÷ at the current size (≥ 1). */
  readonly upCostRatio: number;
  /** Whether the largest budget-critical frame would still fit at the next larger size. */
  readonly upFits: boolean;
}

export type LadderChange = { readonly from: InputSize; readonly to: InputSize; readonly direction: 'down' | 'up' };

/**
 * The resolution ladder: steps down one rung after `stepDownAfter` consecutive overloaded
 * dispatches (or deadline drops), and back up only after `stepUpAfter` consecutive dispatches
 * at the smaller size that were underloaded and predicted the bigger size to fit: utilization
 * scaled by the cost ratio below the middle of the water-mark band, and one frame's
 * high-quantile cost within every budget. The gap between the water marks, the longer
 * up-streak and the prediction are the hysteresis that keeps a borderline load from flapping.
 */
export class ResolutionLadder {
  private rung = 0;
  private over = 0;
  private under = 0;
  private changes = 0;

  constructor(
    private readonly sizes: readonly InputSize[],
    private readonly cfg: ResolvedConfig['ladder'],
  ) {}

  get current(): InputSize {
    return this.sizes[this.rung];
  }

  get index(): number {
    return this.rung;
  }

  get changeCount(): number {
    return this.changes;
  }

  /** The next larger size, if any. */
  get larger(): InputSize | undefined {
    return this.rung > 0 ? this.sizes[this.rung - 1] : undefined;
  }

  observe(s: LoadSample): LadderChange | undefined {
    const overloaded = s.utilization > this.cfg.highWater || s.badRate > this.cfg.missRateHigh;
    // Predicted utilization at the bigger size must land mid-band, not just under high-water:
    // a prediction that lands near high-water steps up into an overload and back down again.
    const fitsUp = s.upFits && s.utilization * s.upCostRatio < (this.cfg.lowWater + this.cfg.highWater) / 2;
    const underloaded = s.utilization < this.cfg.lowWater && s.badRate === 0 && fitsUp;
    this.over = overloaded ? this.over + 1 : 0;
    this.under = underloaded ? this.under + 1 : 0;
    if (this.over >= this.cfg.stepDownAfter && this.rung < this.sizes.length - 1) {
      return this.move(this.rung + 1, 'down');
    }
    if (this.under >= this.cfg.stepUpAfter && this.rung > 0) {
      return this.move(this.rung - 1, 'up');
    }
    return undefined;
  }

  private move(to: number, direction: 'down' | 'up'): LadderChange {
    const from = this.sizes[this.rung];
    this.rung = to;
    this.over = 0;
    this.under = 0;
    this.changes += 1;
    return { from, to: this.sizes[to], direction };
  }
}
