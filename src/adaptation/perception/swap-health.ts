import { PerceptionError } from '../../core/errors.js';

/**
 * Post-swap health: compares a window of frames after a weight swap with the frames before
 * it, and says when the new weights have made things visibly worse. Fed once per frame;
 * allocation-free per frame (a fixed ring of the last baseline frames).
 */
export interface FrameHealth {
  /** Highest detection score in the frame (0 when nothing was detected). */
  readonly maxScore: number;
  /** Mean segmentation entropy (the graph's `seg_entropy`). */
  readonly segEntropy: number;
  /** Whether the flagger flagged this frame. */
  readonly flagged: boolean;
}

export interface HealthOptions {
  /** Frames before a swap that form the baseline (the most recent ones). */
  readonly baselineFrames: number;
  /** Frames after a swap before a verdict. */
  readonly windowFrames: number;
  /** Roll back when the mean max-score falls by more than this fraction of the baseline. */
  readonly maxScoreDrop: number;
  /** Roll back when the flag rate exceeds this multiple of the baseline rate… */
  readonly flagRateFactor: number;
  /** …where the baseline rate counts as at least this (a quiet baseline must not make one flag a spike). */
  readonly minFlagRate: number;
  /** Roll back when mean seg entropy rises by more than this fraction (Infinity: never). */
  readonly entropyRise: number;
}

export const DEFAULT_HEALTH: HealthOptions = { baselineFrames: 50, windowFrames: 30, maxScoreDrop: 0.3, flagRateFactor: 3, minFlagRate: 0.05, entropyRise: Infinity };

export interface WindowStats {
  readonly frames: number;
  readonly meanMaxScore: number;
  readonly meanSegEntropy: number;
  readonly flagRate: number;
}
export interface HealthNumbers {
  readonly baseline: WindowStats;
  readonly post: WindowStats;
  readonly thresholds: HealthOptions;
}
export type DegradeReason = 'confidence_collapse' | 'flag_rate_spike' | 'entropy_rise';
export type HealthVerdict =
  | { readonly kind: 'idle' }
  | { readonly kind: 'watching'; readonly frames: number }
  | { readonly kind: 'healthy'; readonly numbers: HealthNumbers }
  | { readonly kind: 'degraded'; readonly reason: DegradeReason; readonly detail: string; readonly numbers: HealthNumbers };

export function checkHealthOptions(o: Partial<HealthOptions> = {}): HealthOptions {
  const h = { ...DEFAULT_HEALTH, ...o };
  const need = (field: keyof HealthOptions, ok: boolean, range: string) => {
    if (!ok) throw new PerceptionError('INVALID_CONFIG', `health.${field} must be ${range}, got ${h[field]}`, { field: `health.${field}` });
  };
  need('baselineFrames', Number.isInteger(h.baselineFrames) && h.baselineFrames >= 1 && h.baselineFrames <= 100_000, 'an integer in 1..100000');
  need('windowFrames', Number.isInteger(h.windowFrames) && h.windowFrames >= 1 && h.windowFrames <= 100_000, 'an integer in 1..100000');
  need('maxScoreDrop', h.maxScoreDrop > 0 && h.maxScoreDrop <= 1, 'in (0, 1]');
  need('flagRateFactor', h.flagRateFactor >= 1, '≥ 1');
  need('minFlagRate', h.minFlagRate >= 0 && h.minFlagRate <= 1, 'in 0..1');
  need('entropyRise', h.entropyRise > 0, '> 0 (Infinity disables)');
  return Object.freeze(h);
}

export class HealthWatch {
  readonly options: HealthOptions;
  private readonly score: Float64Array;
  private readonly entropy: Float64Array;
  private readonly flags: Uint8Array;
  private ringLen = 0;
  private ringPos = 0;
  private baseline: WindowStats | undefined;
  private post = { frames: 0, score: 0, entropy: 0, flags: 0 };

  constructor(options: Partial<HealthOptions> = {}) {
    this.options = checkHealthOptions(options);
    this.score = new Float64Array(this.options.baselineFrames);
    this.entropy = new Float64Array(this.options.baselineFrames);
    this.flags = new Uint8Array(this.options.baselineFrames);
  }

  get armed(): boolean {
    return this.baseline !== undefined;
  }

  /** Starts a post-swap window against the frames seen so far. */
  arm(): void {
    const n = this.ringLen;
    let s = 0;
    let e = 0;
    let f = 0;
    for (let i = 0; i < n; i++) {
      s += this.score[i];
      e += this.entropy[i];
      f += this.flags[i];
    }
    this.baseline = { frames: n, meanMaxScore: n ? s / n : 0, meanSegEntropy: n ? e / n : 0, flagRate: n ? f / n : 0 };
    this.post = { frames: 0, score: 0, entropy: 0, flags: 0 };
  }

  /** Ends a watch without a verdict (rollback on command). The pre-swap frames stay the baseline: they describe the weights rolled back to. */
  disarm(): void {
    this.baseline = undefined;
  }

  /** Feeds one frame; a 'healthy' or 'degraded' verdict ends the watch. */
  observe(f: FrameHealth): HealthVerdict {
    const score = Number.isFinite(f.maxScore) ? f.maxScore : 0;
    const entropy = Number.isFinite(f.segEntropy) ? f.segEntropy : 0;
    if (this.baseline === undefined) {
      this.score[this.ringPos] = score;
      this.entropy[this.ringPos] = entropy;
      this.flags[this.ringPos] = f.flagged ? 1 : 0;
      this.ringPos = (this.ringPos + 1) % this.score.length;
      this.ringLen = Math.min(this.ringLen + 1, this.score.length);
      return { kind: 'idle' };
    }
    const p = this.post;
    p.frames++;
    p.score += score;
    p.entropy += entropy;
    p.flags += f.flagged ? 1 : 0;
    if (p.frames < this.options.windowFrames) return { kind: 'watching', frames: p.frames };
    return this.verdict(this.baseline);
  }

  private verdict(base: WindowStats): HealthVerdict {
    const p = this.post;
    const o = this.options;
    const post: WindowStats = { frames: p.frames, meanMaxScore: p.score / p.frames, meanSegEntropy: p.entropy / p.frames, flagRate: p.flags / p.frames };
    const numbers: HealthNumbers = { baseline: base, post, thresholds: o };
    this.baseline = undefined;
    const healthy: HealthVerdict = { kind: 'healthy', numbers };
    if (base.frames === 0) return this.accept(healthy); // nothing to compare with
    const drop = base.meanMaxScore > 0 ? (base.meanMaxScore - post.meanMaxScore) / base.meanMaxScore : 0;
    if (drop > o.maxScoreDrop) {
      return { kind: 'degraded', reason: 'confidence_collapse', detail: `mean max score ${fmt(base.meanMaxScore)} → ${fmt(post.meanMaxScore)} (−${fmt(drop * 100)}%, limit ${fmt(o.maxScoreDrop * 100)}%)`, numbers };
    }
    const allowed = o.flagRateFactor * Math.max(base.flagRate, o.minFlagRate);
    if (post.flagRate > allowed) {
      return { kind: 'degraded', reason: 'flag_rate_spike', detail: `flag rate ${fmt(base.flagRate)} → ${fmt(post.flagRate)} (limit ${fmt(allowed)})`, numbers };
    }
    const rise = base.meanSegEntropy > 0 ? (post.meanSegEntropy - base.meanSegEntropy) / base.meanSegEntropy : 0;
    if (rise > o.entropyRise) {
      return { kind: 'degraded', reason: 'entropy_rise', detail: `mean seg entropy ${fmt(base.meanSegEntropy)} → ${fmt(post.meanSegEntropy)} (+${fmt(rise * 100)}%)`, numbers };
    }
    return this.accept(healthy);
  }

  // The new weights stay: frames of the old ones must not be the next swap's baseline.
  private accept(v: HealthVerdict): HealthVerdict {
    this.ringLen = 0;
    this.ringPos = 0;
    return v;
  }
}

const fmt = (v: number) => (Math.round(v * 1000) / 1000).toString();
