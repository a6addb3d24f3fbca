import { PerceptionError } from '../../core/errors.js';
import type { FlagReasonKind } from '../learner/store-types.js';

/**
 * Decides which frames are worth labelling. Pure and deterministic: time is the frame stamp,
 * state is per camera (previous detections, smoothed drift), and the budget is a token bucket
 * refilled by stamp time, so a replay flags the same frames every run.
 */

export interface FlagDetection {
  readonly classIndex: number;
  readonly score: number;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** What the flagger needs of one decoded frame. */
export interface FrameObservation {
  readonly camera: string;
  readonly stampNs: bigint;
  readonly detections: readonly FlagDetection[];
  /** `seg_entropy` output (nats). */
  readonly segEntropy?: number;
  /** `feat_mean` output. */
  readonly featMean?: ArrayLike<number>;
}

export interface FlaggerOptions {
  /** Detection scores in [lo, hi) are ambiguous (default [0.3, 0.6]). */
  readonly ambiguousBand?: readonly [number, number];
  /** Flag when at least this fraction of detections ≥ band low is ambiguous (default 0.5). */
  readonly ambiguousFraction?: number;
  /** Flag when seg_entropy exceeds this (nats; default 0.5). */
  readonly entropyThreshold?: number;
  /** Score from which a detection that appears or vanishes counts as flicker (default 0.6). */
  readonly flickerScore?: number;
  /** IoU for matching boxes of consecutive frames (default 0.3). */
  readonly matchIou?: number;
  /** Flag when this many confident detections appear or vanish (default 1). */
  readonly flickerCount?: number;
  /** Manifest feature_stats; without them the drift trigger is off. */
  readonly featureStats?: { readonly mean: readonly number[]; readonly std: readonly number[] };
  /** Flag when the smoothed mean |z| of feat_mean exceeds this (default 2). */
  readonly driftThreshold?: number;
  /** EMA weight of the newest frame's drift (default 0.2). */
  readonly driftSmoothing?: number;
  /** Token bucket: flags per minute (default 30) and burst (default 5). */
  readonly perMinute?: number;
  readonly burst?: number;
  /** No more flags after this many in total (default 1000). */
  readonly maxTotal?: number;
  /** A manual request waits this long for its frame (default 5 s). */
  readonly manualWaitNs?: bigint;
}

export interface FlagScores {
  readonly ambiguousFraction: number;
  readonly segEntropy: number;
  readonly flicker: number;
  readonly drift: number;
}

export interface FlagDecision {
  readonly camera: string;
  readonly stampNs: bigint;
  readonly reasons: readonly FlagReasonKind[];
  readonly scores: FlagScores;
}

export interface FlaggerStats {
  observed: number;
  flagged: number;
  /** Triggered but refused by the token bucket. */
  suppressedByRate: number;
  /** Triggered but refused by the total cap. */
  suppressedByCap: number;
  manualExpired: number;
}

interface CameraState {
  /** Undefined until the camera's first frame: nothing can flicker on a first frame. */
  prev: readonly FlagDetection[] | undefined;
  drift: number | undefined;
  manual: bigint[];
}

export class Flagger {
  readonly stats: FlaggerStats = { observed: 0, flagged: 0, suppressedByRate: 0, suppressedByCap: 0, manualExpired: 0 };
  private readonly o: Required<Omit<FlaggerOptions, 'featureStats'>> & Pick<FlaggerOptions, 'featureStats'>;
  private readonly cams = new Map<string, CameraState>();
  private tokens: number;
  private lastRefillNs: bigint | undefined;

  constructor(options: FlaggerOptions = {}) {
    this.o = {
      ambiguousBand: options.ambiguousBand ?? [0.3, 0.6],
      ambiguousFraction: options.ambiguousFraction ?? 0.5,
      entropyThreshold: options.entropyThreshold ?? 0.5,
      flickerScore: options.flickerScore ?? 0.6,
      matchIou: options.matchIou ?? 0.3,
      flickerCount: options.flickerCount ?? 1,
      featureStats: options.featureStats,
      driftThreshold: options.driftThreshold ?? 2,
      driftSmoothing: options.driftSmoothing ?? 0.2,
      perMinute: options.perMinute ?? 30,
      burst: options.burst ?? 5,
      maxTotal: options.maxTotal ?? 1000,
      manualWaitNs: options.manualWaitNs ?? 5_000_000_000n,
    };
    const bad = (field: string, msg: string) => new PerceptionError('INVALID_CONFIG', `flagger ${field} ${msg}`, { field });
    const [lo, hi] = this.o.ambiguousBand;
    if (!(lo >= 0 && hi > lo && hi <= 1)) throw bad('ambiguousBand', `must satisfy 0 ≤ lo < hi ≤ 1, got [${lo}, ${hi}]`);
    if (!(this.o.perMinute > 0)) throw bad('perMinute', `must be > 0, got ${this.o.perMinute}`);
    if (!(this.o.burst >= 1)) throw bad('burst', `must be ≥ 1, got ${this.o.burst}`);
    if (!(this.o.driftSmoothing > 0 && this.o.driftSmoothing <= 1)) throw bad('driftSmoothing', `must be in (0, 1], got ${this.o.driftSmoothing}`);
    const fs = this.o.featureStats;
    if (fs && fs.mean.length !== fs.std.length) throw bad('featureStats', `mean has ${fs.mean.length} entries, std ${fs.std.length}`);
    this.tokens = this.o.burst;
  }

  /** Asks for the next frame of `camera` at or after `stampNs` to be flagged (operator, topic or CLI). */
  requestManual(camera: string, stampNs: bigint): void {
    this.cam(camera).manual.push(stampNs);
  }

  /** Manual requests still waiting for their frame. */
  get pendingManual(): number {
    let n = 0;
    for (const st of this.cams.values()) n += st.manual.length;
    return n;
  }

  /**
   * Whether the last observed frame met an automatic trigger, before the budget and the rate
   * limit: the rate of this is the health signal after a weight swap (the flags themselves
   * come in bursts as the token bucket refills, so their rate says more about the bucket).
   */
  get triggered(): boolean {
    return this.lastTriggered;
  }

  private lastTriggered = false;

  /** Looks at one decoded frame; returns a flag or null. Frames of a camera must come in stamp order. */
  observe(f: FrameObservation): FlagDecision | null {
    this.stats.observed++;
    const st = this.cam(f.camera);
    const scores: FlagScores = {
      ambiguousFraction: this.ambiguous(f.detections),
      segEntropy: f.segEntropy ?? 0,
      flicker: st.prev ? flicker(st.prev, f.detections, this.o.flickerScore, this.o.matchIou) : 0,
      drift: this.drift(st, f.featMean),
    };
    st.prev = f.detections.map((d) => ({ ...d })); // the caller may reuse its array
    const reasons: FlagReasonKind[] = [];
    if (scores.ambiguousFraction >= this.o.ambiguousFraction && scores.ambiguousFraction > 0) reasons.push('uncertainty');
    if (scores.segEntropy > this.o.entropyThreshold) reasons.push('entropy');
    if (scores.flicker >= this.o.flickerCount) reasons.push('temporal');
    if (scores.drift > this.o.driftThreshold) reasons.push('drift');
    this.lastTriggered = reasons.length > 0;
    const manual = this.takeManual(st, f.stampNs);
    if (manual) reasons.push('manual');
    this.refill(f.stampNs);
    if (reasons.length === 0) return null;
    if (this.stats.flagged >= this.o.maxTotal) {
      this.stats.suppressedByCap++;
      return null;
    }
    // An operator's explicit request is not rate-limited (it still counts toward the cap).
    if (!manual) {
      if (this.tokens < 1) {
        this.stats.suppressedByRate++;
        return null;
      }
      this.tokens -= 1;
    }
    this.stats.flagged++;
    return { camera: f.camera, stampNs: f.stampNs, reasons, scores };
  }

  private cam(camera: string): CameraState {
    let st = this.cams.get(camera);
    if (!st) this.cams.set(camera, (st = { prev: undefined, drift: undefined, manual: [] }));
    return st;
  }

  private ambiguous(dets: readonly FlagDetection[]): number {
    const [lo, hi] = this.o.ambiguousBand;
    let n = 0;
    let amb = 0;
    for (const d of dets) {
      if (d.score < lo) continue;
      n++;
      if (d.score < hi) amb++;
    }
    return n === 0 ? 0 : amb / n;
  }

  private drift(st: CameraState, feat: ArrayLike<number> | undefined): number {
    const fs = this.o.featureStats;
    if (!fs || !feat || fs.mean.length === 0) return st.drift ?? 0;
    if (feat.length !== fs.mean.length) {
      throw new PerceptionError('INVALID_ARGUMENT', `feat_mean has ${feat.length} channels, feature_stats ${fs.mean.length}`, { field: 'featMean' });
    }
    let z = 0;
    for (let i = 0; i < feat.length; i++) z += Math.abs(feat[i] - fs.mean[i]) / Math.max(fs.std[i], 1e-6);
    z /= feat.length;
    const a = this.o.driftSmoothing;
    st.drift = st.drift === undefined ? z : a * z + (1 - a) * st.drift;
    return st.drift;
  }

  private takeManual(st: CameraState, stampNs: bigint): boolean {
    let hit = false;
    st.manual = st.manual.filter((s) => {
      if (stampNs < s) return true;
      if (stampNs - s > this.o.manualWaitNs) {
        this.stats.manualExpired++;
        return false;
      }
      hit = true;
      return false;
    });
    return hit;
  }

  private refill(stampNs: bigint): void {
    if (this.lastRefillNs !== undefined && stampNs > this.lastRefillNs) {
      const minutes = Number(stampNs - this.lastRefillNs) / 60e9;
      this.tokens = Math.min(this.o.burst, this.tokens + minutes * this.o.perMinute);
    }
    if (this.lastRefillNs === undefined || stampNs > this.lastRefillNs) this.lastRefillNs = stampNs;
  }
}

/** Confident detections with no same-class partner (IoU ≥ matchIou) in the other frame, both ways. */
export function flicker(prev: readonly FlagDetection[], cur: readonly FlagDetection[], minScore: number, matchIou: number): number {
  const matchedPrev = new Uint8Array(prev.length);
  const matchedCur = new Uint8Array(cur.length);
  const pairs: { i: number; j: number; v: number }[] = [];
  prev.forEach((p, i) => cur.forEach((c, j) => {
    if (p.classIndex !== c.classIndex) return;
    const v = boxIou(p, c);
    if (v >= matchIou) pairs.push({ i, j, v });
  }));
  pairs.sort((a, b) => b.v - a.v);
  for (const { i, j } of pairs) {
    if (matchedPrev[i] || matchedCur[j]) continue;
    matchedPrev[i] = 1;
    matchedCur[j] = 1;
  }
  let n = 0;
  prev.forEach((p, i) => { if (!matchedPrev[i] && p.score >= minScore) n++; });
  cur.forEach((c, j) => { if (!matchedCur[j] && c.score >= minScore) n++; });
  return n;
}

function boxIou(a: FlagDetection, b: FlagDetection): number {
  const iw = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const ih = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter);
}
