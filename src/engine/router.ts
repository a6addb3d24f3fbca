import { PerceptionError } from '../core/errors.js';
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
 * deviation per channel of each head's feature map), fitted by the learner as a regularised
 * logistic regression between its old-domain and new-domain samples, its threshold leaning to
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

/** L2 penalty of the router's logistic regression, in samples' worth of loss (see fitRouter). */
const ROUTER_L2 = 10;
/** Full-batch gradient steps; deterministic, ~0.1 s for 250 samples of 160 values. */
const ROUTER_STEPS = 3000;
const ROUTER_STEP_SIZE = 0.1;
const ROUTER_STEPS_PER_PIECE = 100;

/**
 * Fits a router separating `oldSamples` from `newSamples` (pooled vectors): an L2-regularised
 * logistic regression on standardised features, both domains weighted equally, fitted by a
 * fixed number of full-batch gradient steps from zero (closed loop, deterministic, nothing to
 * tune per run). Needs ≥ 2 samples of each.
 *
 * Why not the diagonal linear discriminant used before: on the stored samples of a newpaint
 * scenario run it sent less of the new drive to the adapted tails and, refitted on more
 * samples, read held-out reference frames as new, which made the gate refuse later candidates
 * for old-domain drops; this fit did neither, on few samples or many (`npx tsx
 * bench/router-fit.ts` after a scenario run; docs/experiments/2026-11-28-online-training.md).
 *
 * Threshold: halfway between the highest old sample's score and the new samples' median (or
 * between the class means, if that is higher). The old samples are a few reference drives;
 * other drives of the old domain score higher than they do. Reading an old-domain camera as
 * new costs the training domains accuracy (the gate's hard limit); the reverse only delays a
 * gain.
 */
export function fitRouter(oldSamples: readonly ArrayLike<number>[], newSamples: readonly ArrayLike<number>[]): Router {
  const fit = fitRouterPaced(oldSamples, newSamples);
  for (;;) {
    const r = fit.next();
    if (r.done) return r.value;
  }
}

/**
 * fitRouter in pieces: a generator that yields every ROUTER_STEPS_PER_PIECE gradient steps
 * (~a few ms at 300 samples), so that the learner can run the fit inside perception's slack
 * (src/learner/paced.ts).
 */
export function* fitRouterPaced(oldSamples: readonly ArrayLike<number>[], newSamples: readonly ArrayLike<number>[]): Generator<void, Router, undefined> {
  if (oldSamples.length < 2 || newSamples.length < 2) {
    throw new PerceptionError('INVALID_ARGUMENT', `a router needs ≥ 2 samples of each domain, got ${oldSamples.length} old and ${newSamples.length} new`, { field: 'samples' });
  }
  const D = oldSamples[0].length;
  const all = [...oldSamples, ...newSamples];
  for (const x of all) if (x.length !== D) throw new PerceptionError('INVALID_ARGUMENT', `pooled vectors differ in length (${x.length} vs ${D})`, { field: 'samples' });
  for (const x of all) for (let j = 0; j < D; j++) if (!Number.isFinite(x[j])) throw new PerceptionError('INVALID_ARGUMENT', 'a pooled vector holds a non-finite value', { field: 'samples' });
  const N = all.length;
  const mu = new Float64Array(D);
  const sd = new Float64Array(D);
  for (const x of all) for (let j = 0; j < D; j++) mu[j] += x[j] / N;
  for (const x of all) for (let j = 0; j < D; j++) sd[j] += (x[j] - mu[j]) ** 2 / N;
  for (let j = 0; j < D; j++) sd[j] = Math.sqrt(sd[j]);
  // Standardised samples, row-major; a constant channel stays 0 and keeps a zero weight.
  const Z = new Float64Array(N * D);
  all.forEach((x, i) => {
    for (let j = 0; j < D; j++) Z[i * D + j] = sd[j] > 0 ? (x[j] - mu[j]) / sd[j] : 0;
  });
  const nOld = oldSamples.length;
  const label = (i: number) => (i < nOld ? 0 : 1);
  const weight = (i: number) => (i < nOld ? 1 : nOld / newSamples.length); // both domains count equally
  const w = new Float64Array(D);
  const grad = new Float64Array(D);
  let b = 0;
  for (let step = 0; step < ROUTER_STEPS; step++) {
    grad.fill(0);
    let gb = 0;
    for (let i = 0; i < N; i++) {
      let s = b;
      for (let j = 0; j < D; j++) s += w[j] * Z[i * D + j];
      const g = (1 / (1 + Math.exp(-s)) - label(i)) * weight(i);
      gb += g;
      for (let j = 0; j < D; j++) grad[j] += g * Z[i * D + j];
    }
    for (let j = 0; j < D; j++) w[j] -= (ROUTER_STEP_SIZE * (grad[j] + ROUTER_L2 * w[j])) / N;
    b -= (ROUTER_STEP_SIZE * gb) / N;
    if ((step + 1) % ROUTER_STEPS_PER_PIECE === 0) yield;
  }
  const scoreZ = (i: number) => {
    let s = 0;
    for (let j = 0; j < D; j++) s += w[j] * Z[i * D + j];
    return s;
  };
  const olds = Array.from({ length: nOld }, (_, i) => scoreZ(i));
  const news = Array.from({ length: newSamples.length }, (_, i) => scoreZ(nOld + i)).sort((a, c) => a - c);
  const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;
  const median = news.length % 2 ? news[(news.length - 1) / 2] : (news[news.length / 2 - 1] + news[news.length / 2]) / 2;
  const threshold = Math.max((mean(olds) + mean(news)) / 2, (Math.max(...olds) + median) / 2);
  // Back to raw pooled units: score(x) = Σ w_j (x_j − μ_j) / σ_j − threshold.
  const out = new Float32Array(D);
  let bias = -threshold;
  for (let j = 0; j < D; j++) {
    if (sd[j] === 0) continue;
    out[j] = w[j] / sd[j];
    bias -= (w[j] * mu[j]) / sd[j];
  }
  return { w: out, b: bias };
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
