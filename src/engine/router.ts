import { PerceptionError } from '../errors.js';
import { HEADS, routerDim, type HeadName, type Manifest } from '../model/manifest.js';

/**
 * Domain routing between two sets of tail weights: the shipped ones and ones adapted online
 * to a new domain (night, new lane paint, ...).
 *
 * Why: the tails are small per-pixel MLPs on frozen backbone features. Measured on the newpaint
 * scenario (bench/adaptation.ts), features of the new paint's lane pixels sit where the old
 * domain has road: every candidate that learned the new lanes cost the training domains 3-5
 * points of the gate's score, whatever the reservoir ratio or an L2 pull toward the shipped
 * weights. So instead of one set of tails that must serve both, an update carries its adapted
 * tails and a router that says, from the frame's own features, which domain a camera is in.
 *
 * The router is a linear score over the frame's pooled tail features (mean and standard
 * deviation per channel of each head's feature map), fitted by the learner as a diagonal
 * linear discriminant between its old-domain and new-domain samples, its threshold leaning to
 * the old domain: > 0 means the new domain.
 * Perception keeps, per camera, an exponential average of the scores of the frames it has run
 * and picks the adapted tails for the camera's next frame while the average is above zero
 * (domains last many frames; the average keeps one odd frame from flipping the choice).
 */

export interface Router {
  /** Weights over the pooled feature vector (`routerDim` long). */
  readonly w: Float32Array;
  readonly b: number;
}

/** A feature map as the engine returns it: `[C, H, W]`, channel-major (batch 1). */
export interface PoolableMap {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly data: ArrayLike<number>;
}

/** Mean and standard deviation of every channel of each head's tail features, in HEADS order. */
export function poolFeatures(maps: Readonly<Record<HeadName, PoolableMap>>, tails: Manifest['tails']): Float32Array {
  const out = new Float32Array(routerDim(tails));
  let o = 0;
  for (const h of HEADS) {
    const f = maps[h];
    if (f.channels !== tails[h].in) {
      throw new PerceptionError('INVALID_ARGUMENT', `${h} features have ${f.channels} channels, the ${h} tail takes ${tails[h].in}`, { field: `${h}_feat` });
    }
    const P = f.height * f.width;
    if (P <= 0 || f.data.length < f.channels * P) throw new PerceptionError('INVALID_ARGUMENT', `${h} features hold ${f.data.length} values, ${f.channels}x${f.height}x${f.width} needs ${f.channels * P}`, { field: `${h}_feat` });
    for (let c = 0; c < f.channels; c++) {
      let m = 0;
      let q = 0;
      const base = c * P;
      for (let i = 0; i < P; i++) {
        const v = f.data[base + i];
        m += v;
        q += v * v;
      }
      m /= P;
      out[o++] = m;
      out[o++] = Math.sqrt(Math.max(0, q / P - m * m));
    }
  }
  return out;
}

/** The router's score of a pooled vector: > 0 reads as the new domain. */
export function routerScore(r: Router, pooled: ArrayLike<number>): number {
  let s = r.b;
  for (let i = 0; i < r.w.length; i++) s += r.w[i] * pooled[i];
  return s;
}

/**
 * Fits a router separating `oldSamples` from `newSamples` (pooled vectors): a linear
 * discriminant with a shared diagonal covariance (see below for the threshold).
 * Closed form and deterministic (no training loop to tune); needs ≥ 2 samples of each.
 */
export function fitRouter(oldSamples: readonly ArrayLike<number>[], newSamples: readonly ArrayLike<number>[]): Router {
  if (oldSamples.length < 2 || newSamples.length < 2) {
    throw new PerceptionError('INVALID_ARGUMENT', `a router needs ≥ 2 samples of each domain, got ${oldSamples.length} old and ${newSamples.length} new`, { field: 'samples' });
  }
  const D = oldSamples[0].length;
  for (const x of [...oldSamples, ...newSamples]) if (x.length !== D) throw new PerceptionError('INVALID_ARGUMENT', `pooled vectors differ in length (${x.length} vs ${D})`, { field: 'samples' });
  const mean = (xs: readonly ArrayLike<number>[]) => {
    const m = new Float64Array(D);
    for (const x of xs) for (let j = 0; j < D; j++) m[j] += x[j];
    for (let j = 0; j < D; j++) m[j] /= xs.length;
    return m;
  };
  const mo = mean(oldSamples);
  const mn = mean(newSamples);
  const v = new Float64Array(D);
  for (const x of oldSamples) for (let j = 0; j < D; j++) v[j] += (x[j] - mo[j]) ** 2;
  for (const x of newSamples) for (let j = 0; j < D; j++) v[j] += (x[j] - mn[j]) ** 2;
  const n = oldSamples.length + newSamples.length;
  // A variance floor (1 % of the mean variance) keeps a constant channel from dominating.
  let meanVar = 0;
  for (let j = 0; j < D; j++) meanVar += v[j] / n / D;
  const w = new Float32Array(D);
  for (let j = 0; j < D; j++) w[j] = (mn[j] - mo[j]) / (v[j] / n + 0.01 * meanVar + 1e-12);
  // Threshold: halfway between the old samples' 90th percentile and the new samples' median
  // (or between the class means, if that is higher). The old samples are a reference drive or
  // two; other drives of the old domain score higher than they do. Measured once on the newpaint
  // scenario's state (one-off script; bench/router-check.ts prints the routing shares of the
  // last run): another day drive's frames had a median score of -1 where the reference drive's
  // had -83 (newpaint: +47); with the per-camera average (RouterState) this threshold (+24)
  // sent 9 % of that drive's frames to the adapted tails where zero sent 59 %, and newpaint's
  // frames all to them either way. Reading an old-domain camera as new costs the training
  // domains accuracy (the gate's hard limit); the reverse only delays a gain.
  const score = (x: ArrayLike<number>) => {
    let s = 0;
    for (let j = 0; j < D; j++) s += w[j] * x[j];
    return s;
  };
  const quantile = (xs: readonly ArrayLike<number>[], q: number) => {
    const s = xs.map(score).sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(q * s.length))];
  };
  const mid = (Array.from(mo).reduce((a, m, j) => a + w[j] * m, 0) + Array.from(mn).reduce((a, m, j) => a + w[j] * m, 0)) / 2;
  const b = -Math.max(mid, (quantile(oldSamples, 0.9) + quantile(newSamples, 0.5)) / 2);
  return { w, b };
}

/**
 * Per-camera routing state: an exponential average of the router's scores of the camera's
 * frames. `useAdapted` is false until a frame has been scored (a camera starts on the shipped
 * tails) and while the average is ≤ 0.
 */
export class RouterState {
  private readonly avg = new Map<string, number>();

  /** `alpha`: weight of the newest frame (default 0.1: about a second of frames at 10 Hz). */
  constructor(private readonly alpha = 0.1) {
    if (!(alpha > 0 && alpha <= 1)) throw new PerceptionError('INVALID_ARGUMENT', `router average weight must be in (0, 1], got ${alpha}`, { field: 'alpha' });
  }

  useAdapted(camera: string): boolean {
    return (this.avg.get(camera) ?? -1) > 0;
  }

  observe(camera: string, score: number): void {
    if (!Number.isFinite(score)) return;
    const prev = this.avg.get(camera);
    this.avg.set(camera, prev === undefined ? score : prev + this.alpha * (score - prev));
  }

  /** Forget every camera (a new router: its scores are not comparable with the old one's). */
  reset(): void {
    this.avg.clear();
  }
}
