import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from './random.js';
import { PerceptionError } from '../../core/errors.js';
import { HEADS, tailRowWidth, type HeadName, type Manifest } from '../../model/manifest.js';
import type { TailWeights } from '../../model/package.js';
import type { FeatureMap, GtBox, SampleFeatures, SampleLabels } from './store-types.js';
import { halfArray } from './store-codec.js';
import { DEFAULT_TRAINER_CACHE_MB, type TrainerOptions } from './trainer-options.js';
import { depthLoss, detLoss, jsLoss, segLoss } from './losses.js';
import { tailRowsBatch, TfTails, type HalfFeatureMap, type RowPart } from './tails-tf.js';
import { depthTargets, detTargets, segTargets, type DepthTargets, type DetTargets } from './targets.js';

/**
 * Trains the tails on cached features, mixing new-domain samples with the old-domain
 * reservoir. Losses mirror training/train.py: CenterNet focal loss on the heat, L1 on offsets
 * and log-sizes at centres, class-weighted CE + soft Dice on lane for seg (at feature resolution), L1 on ln depth
 * over valid pixels. Each step samples a few frames and a few hundred pixels of each (the
 * loss is a per-pixel sum, so subsampling with a weight keeps it an unbiased estimate).
 */

/** What the trainer and the gate need of a stored sample. */
export interface TrainSample {
  /** Which frame (stored samples have them): `forget` finds its prepared copy by these. */
  readonly camera?: string;
  readonly stampNs?: bigint;
  readonly features: SampleFeatures;
  readonly labels: SampleLabels;
  readonly inputSize: readonly [number, number];
  readonly cameraSize: { readonly width: number; readonly height: number };
}

/** Port to the labelled training samples (the store, or arrays in tests). */
export interface TrainingSource {
  newIds(): readonly number[];
  oldIds(): readonly number[];
  load(id: number): TrainSample;
}

export type { TrainerOptions } from './trainer-options.js';

/**
 * Car and truck boxes with the kind `raw` (a det tail's pixel-major `[H·W, K + 4]` output)
 * gives each box's centre cell: the higher of its car and truck logits. Other boxes unchanged.
 */
export function vehicleKinds(
  boxes: readonly GtBox[],
  raw: ArrayLike<number>,
  g: { K: number; height: number; width: number; stride: number; inputSize: readonly [number, number]; cameraSize: { width: number; height: number }; car: number; truck: number },
): GtBox[] {
  const C = g.K + 4;
  const sx = g.inputSize[1] / g.cameraSize.width;
  const sy = g.inputSize[0] / g.cameraSize.height;
  return boxes.map((b) => {
    if (b.classIndex !== g.car && b.classIndex !== g.truck) return b;
    const x = Math.min(g.width - 1, Math.max(0, Math.floor((((b.x0 + b.x1) / 2) * sx) / g.stride)));
    const y = Math.min(g.height - 1, Math.max(0, Math.floor((((b.y0 + b.y1) / 2) * sy) / g.stride)));
    const i = y * g.width + x;
    return { ...b, classIndex: raw[i * C + g.truck] > raw[i * C + g.car] ? g.truck : g.car };
  });
}

export interface TrainReport {
  readonly steps: number;
  /** Mean total loss over this call's steps (NaN if none). */
  readonly loss: number;
  readonly lastLoss: number;
  readonly ms: number;
  readonly stoppedBy: 'budget' | 'stop' | 'no-data';
}


/** What a step needs of a sample: the trained heads' features (not the others, nor the image) and targets. */
interface Prepared {
  /** The trained heads' features as float16 bits: half the memory, so twice the samples stay cached. */
  readonly features: Partial<Record<HeadName, HalfFeatureMap>>;
  readonly det?: DetTargets;
  /** Det cells the tails fired on where the labels have nothing (mined when prepared). */
  readonly hard: readonly number[];
  /** Weight of the random det negatives: 1 for an annotator's boxes, TEACHER_NEGATIVE_WEIGHT for a teacher's. */
  readonly negWeight: number;
  /** Whether the boxes' extents train the offsets and sizes: an annotator's do, a teacher's do not (their extents are the teacher's convention). */
  readonly boxShapes: boolean;
  readonly seg?: Uint8Array;
  readonly depth?: DepthTargets;
  readonly bytes: number;
  readonly key: string | undefined;
}

/**
 * A teacher's labels are trusted as positives but only weakly as negatives: a COCO detector on
 * a shifted domain finds a fraction of the objects (docs/experiments/2026-12-06-teacher.md:
 * recall 2-10 % at its pseudo-label threshold), so a cell it left empty may hold one.
 */
export const TEACHER_NEGATIVE_WEIGHT = 0.2;
/** Hard negatives per sample, at most, and the weight of each (a random negative stands for many cells). */
export const MAX_HARD_NEGATIVES = 32;
export const HARD_NEGATIVE_WEIGHT = 4;
/** A det cell is a hard negative where the tails' class probability exceeds this and the target heat is below HARD_NEGATIVE_MAX_TARGET. */
const HARD_NEGATIVE_MIN_PROB = 0.3;
const HARD_NEGATIVE_MAX_TARGET = 0.1;

export class Trainer {
  readonly tails: TfTails;
  /** The running average of `tails` (averageDecay > 0), started at the initial weights. */
  private readonly averaged: TfTails | undefined;
  private readonly o: Required<TrainerOptions>;
  private opt: tf.AdamOptimizer;
  private readonly cache = new Map<number, Prepared>();
  private cacheBytes = 0;
  /** Cached sample ids by camera@stamp, for `forget`. */
  private readonly ids = new Map<string, number>();
  private rand: () => number;
  private readonly K: number;
  private readonly depthRange: { minM: number; maxM: number };
  /** Steps since construction or the last `reset`. */
  steps = 0;
  /** How long a step of n samples takes (EWMA, ms, index n; 0 before the first of that size). */
  private readonly stepMs: number[];

  constructor(
    private readonly manifest: Pick<Manifest, 'tails' | 'classes' | 'strides' | 'depth'>,
    initial: TailWeights,
    private readonly source: TrainingSource,
    options: TrainerOptions = {},
  ) {
    this.o = {
      lr: options.lr ?? 1e-3,
      samplesPerStep: options.samplesPerStep ?? 4,
      pixelsPerSample: options.pixelsPerSample ?? 512,
      depthPixelsPerSample: options.depthPixelsPerSample ?? 64,
      oldRatio: options.oldRatio ?? 0.25,
      heads: options.heads ?? HEADS,
      seed: options.seed ?? 1,
      cacheMb: options.cacheMb ?? DEFAULT_TRAINER_CACHE_MB,
      segClassWeights: options.segClassWeights ?? [1, 4, 1],
      segDiceWeight: options.segDiceWeight ?? 0.5,
      clock: options.clock ?? (() => performance.now()),
      averageDecay: options.averageDecay ?? 0,
    };
    const bad = (field: string, msg: string) => new PerceptionError('INVALID_CONFIG', `trainer ${field} ${msg}`, { field });
    if (!(this.o.lr > 0 && this.o.lr < 1)) throw bad('lr', `must be in (0, 1), got ${this.o.lr}`);
    if (!(this.o.oldRatio >= 0 && this.o.oldRatio <= 1)) throw bad('oldRatio', `must be in [0, 1], got ${this.o.oldRatio}`);
    if (!(Number.isInteger(this.o.samplesPerStep) && this.o.samplesPerStep >= 1)) throw bad('samplesPerStep', `must be an integer ≥ 1, got ${this.o.samplesPerStep}`);
    if (!(this.o.segClassWeights.length === 3 && this.o.segClassWeights.every((w) => w > 0 && Number.isFinite(w)))) throw bad('segClassWeights', `must be 3 positive numbers, got ${JSON.stringify(this.o.segClassWeights)}`);
    if (!(this.o.segDiceWeight >= 0 && Number.isFinite(this.o.segDiceWeight))) throw bad('segDiceWeight', `must be a finite number ≥ 0, got ${this.o.segDiceWeight}`);
    if (!(this.o.cacheMb >= 0 && Number.isFinite(this.o.cacheMb))) throw bad('cacheMb', `must be a finite number ≥ 0, got ${this.o.cacheMb}`);
    if (!(Number.isInteger(this.o.pixelsPerSample) && this.o.pixelsPerSample >= 1)) throw bad('pixelsPerSample', `must be an integer ≥ 1, got ${this.o.pixelsPerSample}`);
    if (!(Number.isInteger(this.o.depthPixelsPerSample) && this.o.depthPixelsPerSample >= 1)) throw bad('depthPixelsPerSample', `must be an integer ≥ 1, got ${this.o.depthPixelsPerSample}`);
    if (!(this.o.averageDecay >= 0 && this.o.averageDecay < 1)) throw bad('averageDecay', `must be in [0, 1), got ${this.o.averageDecay}`);
    this.K = manifest.classes.length;
    this.depthRange = { minM: manifest.depth?.min_m ?? 1, maxM: manifest.depth?.max_m ?? 120 };
    this.tails = TfTails.create(manifest, initial);
    this.averaged = this.o.averageDecay > 0 ? TfTails.create(manifest, initial) : undefined;
    this.opt = tf.train.adam(this.o.lr);
    this.rand = mulberry32(this.o.seed);
    this.stepMs = new Array<number>(this.o.samplesPerStep + 1).fill(0);
  }

  /**
   * The expected cost of a step of `n` samples: its own average once one ran, else the full
   * step's scaled as a quarter fixed and three quarters per sample (a step's cost on a scenario
   * store, 2026-12-08: 2.2 ms + 3.0 ms a sample); 0 before any step.
   */
  private expectedMs(n: number): number {
    if (this.stepMs[n] > 0) return this.stepMs[n];
    const N = this.o.samplesPerStep;
    return this.stepMs[N] * (0.25 + (0.75 * n) / N);
  }

  /**
   * The samples of the next step in a budget with `leftMs` to go: a full step where it fits,
   * else the most that fit down to half a step, else none (0). Filling the end of a slack grant
   * with a smaller step rather than leaving it: 10 samples a 40 ms grant instead of 8
   * (docs/experiments/2026-12-08-gate-and-grants.md). Never below half a step: Adam's update is
   * as large for a noisy gradient as for a good one.
   */
  private samplesFor(leftMs: number): number {
    const N = this.o.samplesPerStep;
    for (let n = N; n >= Math.ceil(N / 2); n--) if (this.expectedMs(n) <= leftMs) return n;
    return 0;
  }

  /**
   * Trains step by step until `budgetMs` is spent or `shouldStop()` is true (checked before
   * every step; the event loop gets a turn between steps so a revocation can arrive).
   */
  async trainFor(budgetMs: number, shouldStop: () => boolean = () => false): Promise<TrainReport> {
    const now = this.o.clock;
    const t0 = now();
    let steps = 0;
    let sum = 0;
    let last = NaN;
    let stoppedBy: TrainReport['stoppedBy'] = 'budget';
    // A step is not started when the last ones say it would end past the budget (the first, a
    // full one, always runs): the budget is perception's slack, and a step runs to its end once
    // begun. Where a full step no longer fits, a smaller one may (samplesFor).
    for (;;) {
      const elapsed = now() - t0;
      const n = steps === 0 ? (elapsed < budgetMs ? this.o.samplesPerStep : 0) : this.samplesFor(budgetMs - elapsed);
      if (n === 0) break;
      if (shouldStop()) {
        stoppedBy = 'stop';
        break;
      }
      const ts = now();
      const l = this.step(n);
      const took = now() - ts;
      this.stepMs[n] = this.stepMs[n] === 0 ? took : this.stepMs[n] + 0.2 * (took - this.stepMs[n]);
      if (l === null) {
        stoppedBy = 'no-data';
        break;
      }
      steps++;
      sum += l;
      last = l;
      await new Promise<void>((r) => setImmediate(r));
    }
    return { steps, loss: steps ? sum / steps : NaN, lastLoss: last, ms: now() - t0, stoppedBy };
  }

  /** One optimisation step of `samples` frames (default samplesPerStep); returns its loss, or null when there is nothing labelled to train on. */
  step(samples = this.o.samplesPerStep): number | null {
    const newIds = this.source.newIds();
    const oldIds = this.source.oldIds();
    if (newIds.length === 0 && oldIds.length === 0) return null;
    const batch: Prepared[] = [];
    if (!(Number.isInteger(samples) && samples >= 1 && samples <= this.o.samplesPerStep)) {
      throw new PerceptionError('INVALID_ARGUMENT', `trainer step samples must be an integer in 1..${this.o.samplesPerStep}, got ${samples}`, { field: 'samples' });
    }
    for (let i = 0; i < samples; i++) {
      const useOld = oldIds.length > 0 && (newIds.length === 0 || this.rand() < this.o.oldRatio);
      const ids = useOld ? oldIds : newIds;
      batch.push(this.prepared(ids[Math.floor(this.rand() * ids.length)]));
    }
    const rows = this.gather(batch);
    const vars = this.tails.variables(this.o.heads);
    const cost = this.opt.minimize(() => this.loss(rows), true, vars);
    if (!cost) return null;
    const v = cost.dataSync()[0];
    cost.dispose();
    if (this.averaged) {
      const d = this.o.averageDecay;
      const avg = this.averaged.variables(this.o.heads);
      tf.tidy(() => vars.forEach((w, i) => avg[i].assign(tf.add(tf.mul(avg[i], d), tf.mul(w, 1 - d)))));
    }
    this.steps++;
    return v;
  }

  /** The trained tails as candidate weights (ONNX layout): their running average where averaging is on. */
  candidate(): TailWeights {
    return (this.averaged ?? this.tails).export();
  }

  /** Restarts from `weights` with a fresh optimizer (after a promotion or a rejection). */
  reset(weights: TailWeights): void {
    this.tails.load(weights);
    this.averaged?.load(weights);
    this.opt.dispose();
    this.opt = tf.train.adam(this.o.lr);
    this.steps = 0;
  }

  /**
   * A stored frame's labels changed (a part arrived after it was prepared): its cached targets
   * are stale, so the next step that draws it reads it again.
   */
  forget(camera: string, stampNs: bigint): void {
    const id = this.ids.get(`${camera}@${stampNs}`);
    const p = id === undefined ? undefined : this.cache.get(id);
    if (id !== undefined && p) this.drop(id, p);
  }

  private drop(id: number, p: Prepared): void {
    this.cache.delete(id);
    if (p.key !== undefined) this.ids.delete(p.key);
    this.cacheBytes -= p.bytes;
  }

  dispose(): void {
    this.opt.dispose();
    this.tails.dispose();
    this.averaged?.dispose();
    this.cache.clear();
    this.ids.clear();
    this.cacheBytes = 0;
  }

  private prepared(id: number): Prepared {
    const hit = this.cache.get(id);
    if (hit) {
      this.cache.delete(id); // re-insert: most recently used last
      this.cache.set(id, hit);
      return hit;
    }
    const s = this.source.load(id);
    const f = s.features;
    const heads = new Set(this.o.heads);
    const teacher = s.labels.boxSource === 'teacher';
    // A teacher's vehicle kind is its own (COCO reads boxy cars as trucks): the kind comes from
    // the tails, the box from the teacher (see vehicleKinds).
    const boxes = teacher && heads.has('det') && s.labels.boxes ? this.vehicleKinds(s.labels.boxes, f.det, s) : s.labels.boxes;
    const det = heads.has('det') && boxes ? detTargets(boxes, { inputSize: s.inputSize, cameraSize: s.cameraSize, stride: this.manifest.strides.det, numClasses: this.K }) : undefined;
    // Hard negatives: cells where the tails (as they are now) see an object that the labels say is
    // not there. Not for a teacher's labels: what it missed may be there.
    const hard = det && !teacher ? this.hardNegatives(f.det, det) : [];
    const seg = heads.has('seg') && s.labels.lane ? segTargets(s.labels.lane, f.seg.height, f.seg.width) : undefined;
    const depth = heads.has('depth') && s.labels.depth ? depthTargets(s.labels.depth, f.depth.height, f.depth.width, this.depthRange) : undefined;
    if (det && (det.h !== f.det.height || det.w !== f.det.width)) {
      throw new PerceptionError('INVALID_ARGUMENT', `det features are ${f.det.height}x${f.det.width}, targets ${det.h}x${det.w}`, { field: 'features.det', index: id });
    }
    const features: Partial<Record<HeadName, HalfFeatureMap>> = {};
    for (const h of heads) features[h] = { channels: f[h].channels, height: f[h].height, width: f[h].width, half: f[h].half ?? halfArray(f[h].data) };
    let bytes = 0;
    for (const a of [features.det?.half, features.seg?.half, features.depth?.half, det?.heat, det?.reg, det?.mask, det?.ignore, seg, depth?.logDepth, depth?.valid]) bytes += a?.byteLength ?? 0;
    const p: Prepared = { features, det, hard, negWeight: teacher ? TEACHER_NEGATIVE_WEIGHT : 1, boxShapes: !teacher, seg, depth, bytes, key: s.camera === undefined || s.stampNs === undefined ? undefined : `${s.camera}@${s.stampNs}` };
    this.cache.set(id, p);
    if (p.key !== undefined) this.ids.set(p.key, id);
    this.cacheBytes += bytes;
    // Least recently used out first; the sample just prepared stays even over the budget.
    for (const [k, v] of this.cache) {
      if (this.cacheBytes <= this.o.cacheMb * 2 ** 20 || k === id) break;
      this.drop(k, v);
    }
    return p;
  }

  /**
   * A teacher's car and truck boxes with the kind the current det tail gives the box's centre
   * cell (the higher of its car and truck heat). The COCO teachers find vehicles far better
   * than they tell cars from trucks (vehicle AP 0.28–0.54 against car AP 0.02–0.13 by day:
   * docs/experiments/2026-12-06-teacher.md); trained on their kinds, camshift's true det
   * mAP fell 0.220 → 0.19 (docs/experiments/2026-12-06-per-head-gate.md).
   */
  private vehicleKinds(boxes: readonly GtBox[], feat: FeatureMap, s: Pick<TrainSample, 'inputSize' | 'cameraSize'>): readonly GtBox[] {
    const kinds = { car: this.manifest.classes.indexOf('car'), truck: this.manifest.classes.indexOf('truck') };
    if (kinds.car < 0 || kinds.truck < 0 || !boxes.some((b) => b.classIndex === kinds.car || b.classIndex === kinds.truck)) return boxes;
    return vehicleKinds(boxes, this.tails.applyMap('det', feat), { K: this.K, height: feat.height, width: feat.width, stride: this.manifest.strides.det, ...s, ...kinds });
  }

  /** Cells (most confident first) where the current det tail sees an object and the targets see none nearby. */
  private hardNegatives(feat: FeatureMap, t: DetTargets): number[] {
    const raw = this.tails.applyMap('det', feat);
    const C = t.K + 4;
    const plane = t.h * t.w;
    const found: { i: number; p: number }[] = [];
    for (let i = 0; i < plane; i++) {
      if (t.mask[i] || t.ignore[i]) continue;
      let logit = -Infinity;
      let target = 0;
      for (let k = 0; k < t.K; k++) {
        logit = Math.max(logit, raw[i * C + k]);
        target = Math.max(target, t.heat[k * plane + i]);
      }
      const p = 1 / (1 + Math.exp(-logit));
      if (p > HARD_NEGATIVE_MIN_PROB && target < HARD_NEGATIVE_MAX_TARGET) found.push({ i, p });
    }
    return found.sort((a, b) => b.p - a.p).slice(0, MAX_HARD_NEGATIVES).map((c) => c.i);
  }

  private gather(batch: readonly Prepared[]): Rows {
    const heads = new Set(this.o.heads);
    const n = this.o.pixelsPerSample;
    const K = this.K;
    const det = { x: [] as RowPart[], heat: [] as number[], reg: [] as number[], mask: [] as number[], w: [] as number[] };
    const seg = { x: [] as RowPart[], y: [] as number[] };
    const dep = { x: [] as RowPart[], t: [] as number[] };
    for (const p of batch) {
      const f = p.features as Record<HeadName, HalfFeatureMap>;
      if (heads.has('det') && p.det) {
        const t = p.det;
        const plane = t.h * t.w;
        const centres: number[] = [];
        let free = 0;
        for (let i = 0; i < plane; i++) {
          if (t.mask[i]) centres.push(i);
          else if (!t.ignore[i]) free++;
        }
        const rnd: number[] = [];
        for (let k = 0; k < n; k++) {
          const i = Math.floor(this.rand() * plane);
          if (!t.mask[i] && !t.ignore[i]) rnd.push(i);
        }
        // Random negatives stand for every free cell; hard ones count once more each.
        const wr = rnd.length ? (free / rnd.length) * p.negWeight : 0;
        // In map order (see pick): the rows' gather reads the map front to back.
        const cells = [...centres.map((i) => [i, 1]), ...p.hard.map((i) => [i, HARD_NEGATIVE_WEIGHT]), ...rnd.map((i) => [i, wr])].sort((a, b) => a[0] - b[0]);
        det.x.push({ f: f.det, pixels: cells.map((c) => c[0]) });
        for (const [i, w] of cells) {
          for (let k = 0; k < K; k++) det.heat.push(t.heat[k * plane + i]);
          for (let k = 0; k < 4; k++) det.reg.push(t.reg[k * plane + i]);
          det.mask.push(p.boxShapes ? t.mask[i] : 0);
          det.w.push(w);
        }
      }
      if (heads.has('seg') && p.seg) {
        const px = this.pick(p.seg.length, n, (i) => p.seg![i] !== 255);
        seg.x.push({ f: f.seg, pixels: px });
        for (const i of px) seg.y.push(p.seg[i]);
      }
      if (heads.has('depth') && p.depth) {
        const px = this.pick(p.depth.valid.length, this.o.depthPixelsPerSample, (i) => p.depth!.valid[i] === 1);
        dep.x.push({ f: f.depth, pixels: px });
        for (const i of px) dep.t.push(p.depth.logDepth[i]);
      }
    }
    return { det, seg, dep };
  }

  /**
   * Up to `n` random pixels that pass `ok`, in map order: a step gathers each pixel's
   * neighbourhood from every channel, and read front to back the map's memory is read once —
   * 2.6 ms for a step's rows of all three heads against 5.7 in draw order
   * (docs/experiments/2026-12-07-gather-order.md). A loss sums over its rows, so the order
   * changes nothing else.
   */
  private pick(plane: number, n: number, ok: (i: number) => boolean): number[] {
    const out: number[] = [];
    for (let k = 0; k < n * 2 && out.length < n; k++) {
      const i = Math.floor(this.rand() * plane);
      if (ok(i)) out.push(i);
    }
    return out.sort((a, b) => a - b);
  }

  private loss(r: Rows): tf.Scalar {
    const K = this.K;
    const spec = this.manifest.tails;
    let total: tf.Scalar = tf.scalar(0);
    const rowsOf = (head: HeadName, parts: readonly RowPart[]): tf.Tensor2D => {
      const { rows, n } = tailRowsBatch(spec[head], parts);
      return tf.tensor2d(rows, [n, tailRowWidth(spec[head])]);
    };
    // Each head's loss and its gradient in JavaScript (losses.ts): as TensorFlow.js ops they
    // were more of a step than the tails' products.
    if (r.det.mask.length > 0) {
      const N = r.det.mask.length;
      const raw = this.tails.apply('det', rowsOf('det', r.det.x));
      total = tf.add(total, jsLoss(raw, (v) => detLoss(v, N, K, r.det)));
    }
    if (r.seg.y.length > 0) {
      const N = r.seg.y.length;
      const raw = this.tails.apply('seg', rowsOf('seg', r.seg.x));
      total = tf.add(total, jsLoss(raw, (v) => segLoss(v, N, raw.shape[1], r.seg.y, this.o.segClassWeights, this.o.segDiceWeight)));
    }
    if (r.dep.t.length > 0) {
      const N = r.dep.t.length;
      const { minM, maxM } = this.depthRange;
      const raw = this.tails.apply('depth', rowsOf('depth', r.dep.x));
      total = tf.add(total, jsLoss(raw, (v) => depthLoss(v, N, r.dep.t, minM, maxM)));
    }
    return total as tf.Scalar;
  }
}

interface Rows {
  det: { x: RowPart[]; heat: number[]; reg: number[]; mask: number[]; w: number[] };
  seg: { x: RowPart[]; y: number[] };
  dep: { x: RowPart[]; t: number[] };
}

