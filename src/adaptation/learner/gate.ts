import { decodeDetections, type FloatMap } from '../../engine/decode.js';
import { PerceptionError } from '../../core/errors.js';
import { DepthEvaluator } from '../../eval/depth.js';
import { DetectionEvaluator, type EvalBox, type ScoredBox } from '../../eval/detection.js';
import { isIgnoredBox } from '../../eval/ignore.js';
import { SegmentationEvaluator } from '../../eval/segmentation.js';
import { HEADS, type HeadName, type Manifest } from '../../model/manifest.js';
import type { TailWeights } from '../../model/package.js';
import { poolFeatures, routerScore, type Router } from '../../engine/router.js';
import { depthFromRaw, detOutputs, mergeServed, segArgmax } from './tails-tf-post.js';
import { DEFAULT_GATE_CONSISTENCY, DEFAULT_GATE_MARGIN } from './settings.js';
import { TfTails } from './tails-tf.js';
import { depthTargets, segTargets } from './targets.js';
import type { TrainSample } from './trainer.js';
import type { FeatureMap } from './store-types.js';
import { runNow, type Paced } from './paced.js';
import { mulberry32 } from './random.js';

/**
 * The validation gate: scores current and candidate tails on held-out new-domain samples and
 * on the old-domain reference set, from cached features (no backbone run).
 *
 * Metrics are taken at each head's feature resolution, not the model-input resolution:
 * - det: mAP@0.5 (src/eval/detection) of boxes decoded from the heat/box maps exactly as the
 *   graph + engine do (sigmoid, 3×3 peak suppression, offsets, sizes), in camera pixels;
 * - seg: lane IoU of the argmax at seg-feature resolution (½ input) against nearest-resized
 *   labels: skips the ×2 bilinear upsampling, which moves only boundary pixels and moves them
 *   alike for both weight sets, at a quarter of the pixels;
 * - depth: AbsRel of depth at depth-feature resolution against labels sampled at cell centres.
 * Score = mean of the available parts (det mAP, lane IoU, 1 − AbsRel).
 *
 * Heads are chosen one by one: each head's tail reads only its own feature map, so a candidate
 * whose seg tail scores worse on the held-out new-domain samples than the serving one while its
 * det and depth tails score better is promoted with the serving seg tail in its place
 * (`reverted`; the composite is scored again on those heads); so does a head the held-out
 * new-domain frames have no labels for (label-free mode labels boxes only: a seg or depth tail
 * trained on the old-domain reservoir alone would go to the new domain unjudged; at camshift
 * depth AbsRel went 0.247 → 0.264 that way). Without this, a gain on one head
 * bought a loss on another: lane IoU fell 0.03–0.05 in every scenario while depth and
 * detection rose (docs/experiments/2026-12-06-per-head-gate.md).
 */

export interface GateOptions {
  /** New-domain score must rise by at least this (default DEFAULT_GATE_MARGIN). */
  readonly margin?: number;
  /** Old-domain score may fall by at most this (default 0.01: the one point of old-domain regression adaptation may cost). */
  readonly tolerance?: number;
  /** Heat threshold for decoding detections (default 0.03, as training/train.py evaluates). */
  readonly detThreshold?: number;
  readonly maxDetections?: number;
  /**
   * When the held-out new-domain boxes are a teacher's (label-free mode), the candidate's det
   * mAP must beat the serving one's in at least this share of bootstrap resamples of those
   * frames (default 0.95; 0 turns it off). A teacher finds a few objects a frame, so a gain on
   * its boxes can be noise: at night a candidate that rose 0.027 → 0.048 on the teacher's
   * boxes lowered the true mAP 0.075 → 0.064 (docs/experiments/2026-12-06-per-head-gate.md).
   */
  readonly teacherConfidence?: number;
  /**
   * A new-domain gain above zero but below the margin still passes when the decided set's score
   * beats the serving one's in at least this share of bootstrap resamples of the held-out frames
   * (default DEFAULT_GATE_CONSISTENCY; 0 turns it off). The serving set is the best of the
   * candidates tried on those same frames, so its score there is optimistic and a later, better
   * candidate clears it by less than it is better: on rain drives every candidate of the last
   * 500–1,000 steps was refused 0.002–0.0046 short of the margin while lane IoU and depth rose
   * on most frames (docs/experiments/2026-12-08-depth-tail.md). A gain a few frames carry still
   * needs the margin.
   */
  readonly consistency?: number;
}

/** One held-out frame's detections and boxes, kept for resampling. */
export interface DetRecord {
  readonly preds: readonly ScoredBox[];
  readonly gts: readonly EvalBox[];
  readonly ignore: readonly EvalBox[];
}

export interface Metrics {
  readonly mAP: number | null;
  readonly laneIoU: number | null;
  readonly absRel: number | null;
  readonly score: number;
  readonly samples: number;
  /** Per-frame det records (evaluateTailsPaced with `keep`), not serialised. */
  readonly detRecords?: readonly DetRecord[];
  /** Per-frame parts of every scored head, one per sample in order (evaluateTailsPaced with `keep`), not serialised. */
  readonly frames?: readonly FrameRecord[];
}

/** One held-out frame's scoring, by head (a head the frame has no labels for is absent), kept for resampling the score. */
export interface FrameRecord {
  readonly det?: DetRecord;
  readonly seg?: SegmentationEvaluator;
  readonly depth?: DepthEvaluator;
}

export interface GateDecision {
  readonly version: number;
  readonly val_new_before: number;
  readonly val_new_after: number;
  readonly val_old_before: number;
  readonly val_old_after: number;
  readonly decision: 'promote' | 'reject';
  readonly reason: string;
  /**
   * Scores of the set decided on: the candidate with the serving tails of `reverted` in place
   * (composeTails); `candidate_new_after` is the candidate as trained, when any head was reverted.
   */
  readonly detail: { readonly new_before: Metrics; readonly new_after: Metrics; readonly old_before: Metrics; readonly old_after: Metrics; readonly candidate_new_after?: Metrics };
  /** Heads whose candidate tail scored worse on the new domain than the serving one, or that no held-out new-domain label scores: the decided set keeps the serving tail there. */
  readonly reverted: readonly HeadName[];
}

type GateManifest = Pick<Manifest, 'tails' | 'classes' | 'strides' | 'depth'>;

/** Routing for an evaluation: each sample runs on `tails` if the router reads it as new-domain, else on `fallback`. */
export interface EvalRouting {
  readonly router: Router;
  readonly fallback: TfTails;
}

/** The router a set of tail weights carries (a routed update), if any. */
export function routerOf(w: TailWeights): Router | undefined {
  const rw = w.get('router_w');
  const rb = w.get('router_b');
  return rw && rb ? { w: rw.data, b: rb.data[0] } : undefined;
}

const asMap = (f: FeatureMap): FloatMap => ({ dims: [f.channels, f.height, f.width], data: f.data });

/** What scoring one head on one frame adds to the evaluators. */
type HeadPart = { readonly head: 'det'; readonly rec: DetRecord } | { readonly head: 'seg'; readonly pred: Uint8Array; readonly target: Uint8Array } | { readonly head: 'depth'; readonly pred: Float32Array; readonly gt: Float32Array };

/**
 * Per-frame, per-head results of the gate's evaluations, by the frame (camera and stamp) and the
 * values of the tail that scored it. A gate scores the serving tails on the held-out new-domain
 * frames and the shipped tails on the old-domain ones, and most of those frames and tails are
 * the last gate's: the serving tails are either the last candidate's (promoted) or unchanged, the
 * shipped ones never change. Without it, gates took 25–36 s of the learner's slack on a
 * 3-minute drive, as long as its training (docs/experiments/2026-12-07-averaged-tails.md).
 * Entries no gate used in its last run are dropped at its end; `forget` drops a frame whose
 * labels changed.
 */
export class GateCache {
  private readonly parts = new Map<string, HeadPart>();
  private readonly used = new Set<string>();
  private readonly prints = new WeakMap<TfTails, Record<HeadName, string>>();
  hits = 0;
  misses = 0;

  /** Remembers which tail values `tails` holds (from the weights it was built from). */
  register(tails: TfTails, weights: TailWeights): void {
    this.prints.set(tails, Object.fromEntries(HEADS.map((h) => [h, headPrint(weights, h)])) as Record<HeadName, string>);
  }

  key(tails: TfTails, head: HeadName, s: TrainSample): string | undefined {
    const p = this.prints.get(tails);
    return p && s.camera !== undefined && s.stampNs !== undefined ? `${s.camera}@${s.stampNs}|${head}|${p[head]}` : undefined;
  }

  get(key: string | undefined): HeadPart | undefined {
    if (key === undefined) return undefined;
    const v = this.parts.get(key);
    if (v) {
      this.hits++;
      this.used.add(key);
    }
    return v;
  }

  set(key: string | undefined, part: HeadPart): void {
    if (key === undefined) return;
    this.misses++;
    this.parts.set(key, part);
    this.used.add(key);
  }

  /** A frame's labels changed: its results go. */
  forget(camera: string, stampNs: bigint): void {
    const prefix = `${camera}@${stampNs}|`;
    for (const k of this.parts.keys()) if (k.startsWith(prefix)) this.parts.delete(k);
  }

  /** Ends a gate: what it did not use goes. */
  sweep(): void {
    for (const k of this.parts.keys()) if (!this.used.has(k)) this.parts.delete(k);
    this.used.clear();
  }

  get size(): number {
    return this.parts.size;
  }
}

/** A fingerprint of `head`'s tail tensors: two 32-bit FNV-1a hashes of their bits (different offsets) and the length. */
function headPrint(w: TailWeights, head: HeadName): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  let n = 0;
  for (const name of [...w.keys()].sort()) {
    if (!name.startsWith(`${head}_w`) && !name.startsWith(`${head}_b`)) continue;
    const t = w.get(name)!;
    const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    for (let i = 0; i < bits.length; i++) {
      a = Math.imul(a ^ bits[i], 0x01000193) >>> 0;
      b = Math.imul(b ^ bits[i], 0x5bd1e995) >>> 0;
      b ^= b >>> 15;
    }
    n += bits.length;
  }
  return `${a.toString(16)}.${b.toString(16)}.${n}`;
}

/** Scores tails on samples (see the file comment for how), routed per sample when `routing` is given. */
export function evaluateTails(chosen: TfTails, samples: readonly TrainSample[], manifest: GateManifest, options: GateOptions = {}, routing?: EvalRouting, heads: ReadonlySet<HeadName> = ALL_HEADS): Metrics {
  return runNow(evaluateTailsPaced(chosen, samples, manifest, options, routing, heads));
}

const ALL_HEADS: ReadonlySet<HeadName> = new Set(HEADS);

/** evaluateTails in pieces: yields after each head of each sample (a few ms of tail runs). Only `heads` are scored (the others' parts are null). */
export function* evaluateTailsPaced(chosen: TfTails, samples: readonly TrainSample[], manifest: GateManifest, options: GateOptions = {}, routing?: EvalRouting, heads: ReadonlySet<HeadName> = ALL_HEADS, keep = false, cache?: GateCache): Paced<Metrics> {
  const K = manifest.classes.length;
  const maxM = manifest.depth?.max_m ?? 120;
  const minM = manifest.depth?.min_m ?? 1;
  const det = new DetectionEvaluator(manifest.classes);
  const seg = new SegmentationEvaluator();
  const dep = new DepthEvaluator({ minDepth: 0, maxDepth: maxM });
  let nDet = 0;
  const records: DetRecord[] = [];
  const frames: FrameRecord[] = [];
  let nSeg = 0;
  let nDep = 0;
  for (const s of samples) {
    const frame: { det?: DetRecord; seg?: SegmentationEvaluator; depth?: DepthEvaluator } = {};
    if (keep) frames.push(frame);
    const f = s.features;
    const tails = routing && routerScore(routing.router, poolFeatures(f, manifest.tails)) <= 0 ? routing.fallback : chosen;
    const detKey = cache?.key(tails, 'det', s);
    const detHit = s.labels.boxes && heads.has('det') ? cache?.get(detKey) : undefined;
    if (detHit?.head === 'det') {
      det.add(detHit.rec.preds, detHit.rec.gts, detHit.rec.ignore);
      if (keep) records.push((frame.det = detHit.rec));
      nDet++;
    } else if (s.labels.boxes && heads.has('det')) {
      // Scored as served: merged with the second detector's peaks where the package has one.
      const own = detOutputs(tails.applyMap('det', f.det), K, f.det.height, f.det.width);
      const { heat, box } = f.coco_heat && f.coco_box ? mergeServed(own, { heat: asMap(f.coco_heat), box: asMap(f.coco_box) }) : own;
      const preds = decodeDetections(heat, box, {
        threshold: options.detThreshold ?? 0.03,
        maxDetections: options.maxDetections ?? 100,
        stride: manifest.strides.det,
        inputSize: [f.det.height * manifest.strides.det, f.det.width * manifest.strides.det],
        cameraSize: s.cameraSize,
        classes: manifest.classes,
      });
      // Ignore regions as replay scores them (camera pixels): a detection there is neither a hit nor a false positive.
      const hidden = (b: (typeof s.labels.boxes)[number]) => isIgnoredBox(b, s.cameraSize.height);
      // A teacher's boxes are scored as vehicles (car and truck one kind), as the trainer takes
      // only their boxes, not their kind (Trainer.vehicleKinds).
      const kinds = s.labels.boxSource === 'teacher' ? vehicleKind(manifest.classes) : undefined;
      const asVehicle = <B extends { classIndex: number }>(b: B): B => (kinds && b.classIndex === kinds.truck ? { ...b, classIndex: kinds.car } : b);
      const gts = s.labels.boxes.filter((b) => !hidden(b)).map(asVehicle);
      const ignore = s.labels.boxes.filter(hidden).map(asVehicle);
      const scoredPreds = kinds ? preds.map(asVehicle) : preds;
      det.add(scoredPreds, gts, ignore);
      const rec = { preds: scoredPreds, gts, ignore };
      if (keep) records.push((frame.det = rec));
      cache?.set(detKey, { head: 'det', rec });
      nDet++;
      // A piece per head, not per sample: a sample's three heads (~50 ms on the scenario's
      // machine) overran the gaps between two 10 Hz frames that the learner's slack comes in.
      yield;
    }
    const segKey = cache?.key(tails, 'seg', s);
    const segHit = s.labels.lane && heads.has('seg') ? cache?.get(segKey) : undefined;
    // Kept frames are counted on their own first, then added to the totals.
    const addSeg = (pred: Uint8Array, target: Uint8Array) => {
      if (!keep) return seg.add(pred, target);
      frame.seg = new SegmentationEvaluator();
      frame.seg.add(pred, target);
      seg.merge(frame.seg);
    };
    const addDepth = (pred: Float32Array, gt: Float32Array) => {
      if (!keep) return dep.add(pred, gt);
      frame.depth = new DepthEvaluator({ minDepth: 0, maxDepth: maxM });
      frame.depth.add(pred, gt);
      dep.merge(frame.depth);
    };
    if (segHit?.head === 'seg') {
      addSeg(segHit.pred, segHit.target);
      nSeg++;
    } else if (s.labels.lane && heads.has('seg')) {
      const pred = segArgmax(tails.applyMap('seg', f.seg));
      const target = segTargets(s.labels.lane, f.seg.height, f.seg.width);
      addSeg(pred, target);
      cache?.set(segKey, { head: 'seg', pred, target });
      nSeg++;
      yield;
    }
    const depthKey = cache?.key(tails, 'depth', s);
    const depthHit = s.labels.depth && heads.has('depth') ? cache?.get(depthKey) : undefined;
    if (depthHit?.head === 'depth') {
      addDepth(depthHit.pred, depthHit.gt);
      nDep++;
    } else if (s.labels.depth && heads.has('depth')) {
      const raw = tails.applyMap('depth', f.depth);
      const t = depthTargets(s.labels.depth, f.depth.height, f.depth.width, { minM, maxM });
      const pred = new Float32Array(raw.length);
      const gt = new Float32Array(raw.length);
      for (let i = 0; i < raw.length; i++) {
        pred[i] = depthFromRaw(raw[i], minM, maxM);
        gt[i] = t.valid[i] ? Math.exp(t.logDepth[i]) : 0;
      }
      addDepth(pred, gt);
      cache?.set(depthKey, { head: 'depth', pred, gt });
      nDep++;
      yield;
    }
  }
  const mAP = nDet ? det.result().mAP : NaN;
  const lane = nSeg ? seg.result().iou.lane : null;
  const absRel = nDep ? dep.result().absRel : NaN;
  const m = metrics(Number.isFinite(mAP) ? mAP : null, lane, Number.isFinite(absRel) ? absRel : null, samples.length);
  return keep ? { ...m, detRecords: records, frames } : m;
}

/**
 * Share of `rounds` bootstrap resamples of the frames (drawn with replacement, seeded) in which
 * `after` scores a higher det mAP@0.5 than `before`; the two record lists are the same frames
 * in the same order.
 */
export function detWinRate(before: readonly DetRecord[], after: readonly DetRecord[], classes: readonly string[], rounds = 200, seed = 1): number {
  if (before.length !== after.length) throw new PerceptionError('INVALID_ARGUMENT', `detWinRate: ${before.length} frames before, ${after.length} after`, { field: 'records' });
  if (before.length === 0) return 0;
  const rand = mulberry32(seed);
  const n = before.length;
  let wins = 0;
  for (let r = 0; r < rounds; r++) {
    const b = new DetectionEvaluator(classes);
    const a = new DetectionEvaluator(classes);
    for (let k = 0; k < n; k++) {
      const i = Math.floor(rand() * n);
      b.add(before[i].preds, before[i].gts, before[i].ignore);
      a.add(after[i].preds, after[i].gts, after[i].ignore);
    }
    if (a.result().mAP > b.result().mAP) wins++;
  }
  return wins / rounds;
}

/**
 * Share of `rounds` bootstrap resamples of the frames (with replacement, seeded) in which
 * `after`'s score (mean of det mAP@0.5, lane IoU, 1 − AbsRel, as the gate's) is higher than
 * `before`'s; the two lists are the same frames in the same order. In pieces of ten resamples
 * (a resample re-ranks the frames' detections, matched to their boxes once).
 */
export function* scoreWinRatePaced(before: readonly FrameRecord[], after: readonly FrameRecord[], classes: readonly string[], rounds = 200, seed = 1): Paced<number> {
  if (before.length !== after.length) throw new PerceptionError('INVALID_ARGUMENT', `scoreWinRate: ${before.length} frames before, ${after.length} after`, { field: 'frames' });
  if (before.length === 0) return 0;
  const rand = mulberry32(seed);
  const n = before.length;
  const pick = new Int32Array(n);
  // Each frame's detections are matched to its boxes once; a resample adds up the matches.
  const matched = (frames: readonly FrameRecord[]) =>
    frames.map((f) => {
      if (!f.det) return undefined;
      const e = new DetectionEvaluator(classes);
      e.add(f.det.preds, f.det.gts, f.det.ignore);
      return e;
    });
  const b = { frames: before, det: matched(before) };
  const a = { frames: after, det: matched(after) };
  let wins = 0;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < n; k++) pick[k] = Math.floor(rand() * n);
    if (resampledScore(a, pick, classes) > resampledScore(b, pick, classes)) wins++;
    if (r % 10 === 9) yield;
  }
  return wins / rounds;
}

/** scoreWinRatePaced at once. */
export function scoreWinRate(before: readonly FrameRecord[], after: readonly FrameRecord[], classes: readonly string[], rounds = 200, seed = 1): number {
  return runNow(scoreWinRatePaced(before, after, classes, rounds, seed));
}

function resampledScore(frames: { readonly frames: readonly FrameRecord[]; readonly det: readonly (DetectionEvaluator | undefined)[] }, pick: Int32Array, classes: readonly string[]): number {
  const det = new DetectionEvaluator(classes);
  const seg = new SegmentationEvaluator();
  const dep = new DepthEvaluator({ minDepth: 0, maxDepth: Infinity });
  let nDet = 0;
  let nSeg = 0;
  let nDep = 0;
  for (const i of pick) {
    const f = frames.frames[i];
    const d = frames.det[i];
    if (d) {
      det.merge(d);
      nDet++;
    }
    if (f.seg) {
      seg.merge(f.seg);
      nSeg++;
    }
    if (f.depth) {
      dep.merge(f.depth);
      nDep++;
    }
  }
  const mAP = nDet ? det.result().mAP : NaN;
  const absRel = nDep ? dep.result().absRel : NaN;
  return metrics(Number.isFinite(mAP) ? mAP : null, nSeg ? seg.result().iou.lane : null, Number.isFinite(absRel) ? absRel : null, pick.length).score;
}

function metrics(mAP: number | null, laneIoU: number | null, absRel: number | null, samples: number): Metrics {
  const parts = [mAP ?? NaN, laneIoU ?? NaN, 1 - (absRel ?? NaN)].filter((v) => Number.isFinite(v));
  return { mAP, laneIoU, absRel, score: parts.length ? parts.reduce((a, b) => a + b, 0) / parts.length : NaN, samples };
}

/** The class indices of car and truck, when the model has both. */
function vehicleKind(classes: readonly string[]): { car: number; truck: number } | undefined {
  const car = classes.indexOf('car');
  const truck = classes.indexOf('truck');
  return car >= 0 && truck >= 0 ? { car, truck } : undefined;
}

/** Metrics without the per-frame records. */
function bare(m: Metrics): Metrics {
  if (!m.detRecords && !m.frames) return m;
  const { detRecords: _, frames: __, ...rest } = m;
  return rest;
}

/** `m` with the parts of `heads` taken from `from`, score recomputed. */
function withParts(m: Metrics, from: Metrics, heads: readonly HeadName[]): Metrics {
  const has = (h: HeadName) => heads.includes(h);
  const out = metrics(has('det') ? from.mAP : m.mAP, has('seg') ? from.laneIoU : m.laneIoU, has('depth') ? from.absRel : m.absRel, m.samples);
  if (!m.frames || !from.frames || m.frames.length !== from.frames.length) return out;
  const mf = m.frames;
  const ff = from.frames;
  const frames = mf.map((r, i) => ({ det: has('det') ? ff[i].det : r.det, seg: has('seg') ? ff[i].seg : r.seg, depth: has('depth') ? ff[i].depth : r.depth }));
  return { ...out, detRecords: frames.flatMap((r) => (r.det ? [r.det] : [])), frames };
}

/** Heads whose part is worse in `after` than in `before` (higher AbsRel, lower mAP or lane IoU); a head missing from either is not compared. */
export function headsWorse(before: Metrics, after: Metrics): HeadName[] {
  const out: HeadName[] = [];
  if (before.mAP !== null && after.mAP !== null && after.mAP < before.mAP) out.push('det');
  if (before.laneIoU !== null && after.laneIoU !== null && after.laneIoU < before.laneIoU) out.push('seg');
  if (before.absRel !== null && after.absRel !== null && after.absRel > before.absRel) out.push('depth');
  return out;
}

/** Heads with a part in both. */
function scoredHeads(a: Metrics, b: Metrics): HeadName[] {
  return HEADS.filter((h) => part(a, h) !== null && part(b, h) !== null);
}

function part(m: Metrics, h: HeadName): number | null {
  return h === 'det' ? m.mAP : h === 'seg' ? m.laneIoU : m.absRel;
}

/** Whether two sets hold the same values in every tensor of `head`'s tail. */
function sameHead(a: TailWeights, b: TailWeights, head: HeadName): boolean {
  for (const [name, t] of a) {
    if (!name.startsWith(`${head}_w`) && !name.startsWith(`${head}_b`)) continue;
    const u = b.get(name);
    if (!u || u.data.length !== t.data.length) return false;
    for (let i = 0; i < t.data.length; i++) if (t.data[i] !== u.data[i]) return false;
  }
  return true;
}

/** `candidate` with the tail tensors of `heads` taken from `serving` (its router, if any, stays the candidate's). */
export function composeTails(candidate: TailWeights, serving: TailWeights, heads: readonly HeadName[]): TailWeights {
  if (heads.length === 0) return candidate;
  const out = new Map(candidate);
  for (const [name, t] of serving) {
    if (heads.some((h) => name.startsWith(`${h}_w`) || name.startsWith(`${h}_b`))) out.set(name, t);
  }
  return out;
}

export class Gate {
  /** Results of earlier gates' evaluations that later gates reuse (see GateCache). */
  readonly cache = new GateCache();
  private readonly margin: number;
  private readonly tolerance: number;
  private readonly teacherConfidence: number;
  private readonly consistency: number;

  constructor(
    private readonly manifest: GateManifest,
    private readonly options: GateOptions = {},
  ) {
    this.margin = options.margin ?? DEFAULT_GATE_MARGIN;
    this.tolerance = options.tolerance ?? 0.01;
    this.teacherConfidence = options.teacherConfidence ?? 0.95;
    this.consistency = options.consistency ?? DEFAULT_GATE_CONSISTENCY;
    if (!(this.consistency >= 0 && this.consistency <= 1)) throw new PerceptionError('INVALID_CONFIG', `gate consistency must be in [0, 1], got ${this.consistency}`, { field: 'consistency' });
    if (!(this.teacherConfidence >= 0 && this.teacherConfidence <= 1)) throw new PerceptionError('INVALID_CONFIG', `gate teacherConfidence must be in [0, 1], got ${this.teacherConfidence}`, { field: 'teacherConfidence' });
    if (!(this.margin >= 0)) throw new PerceptionError('INVALID_CONFIG', `gate margin must be ≥ 0, got ${this.margin}`, { field: 'margin' });
    if (!(this.tolerance >= 0)) throw new PerceptionError('INVALID_CONFIG', `gate tolerance must be ≥ 0, got ${this.tolerance}`, { field: 'tolerance' });
  }

  /** The margin, tolerance, teacher confidence and consistency in force (defaults filled in), for logs and status. */
  get settings(): { readonly margin: number; readonly tolerance: number; readonly teacherConfidence: number; readonly consistency: number } {
    return { margin: this.margin, tolerance: this.tolerance, teacherConfidence: this.teacherConfidence, consistency: this.consistency };
  }

  /**
   * Promote only if new-domain score rises by ≥ margin over `current` and old-domain score falls
   * by ≤ tolerance from `oldBaseline` — the shipped weights by default in the learner, so that
   * successive promotions cannot add up to more than the tolerance. `margin` overrides the
   * gate's own (a router refresh only has to do no worse: 0).
   */
  decide(version: number, current: TailWeights, candidate: TailWeights, heldOutNew: readonly TrainSample[], oldRef: readonly TrainSample[], oldBaseline: TailWeights = current, margin = this.margin): GateDecision {
    return runNow(this.decideSteps(version, current, candidate, heldOutNew, oldRef, oldBaseline, margin));
  }

  /** `decide` in pieces (paced.ts), a piece per sample evaluated: a gate takes seconds of CPU, which the learner takes only from granted slack. */
  *decideSteps(version: number, current: TailWeights, candidate: TailWeights, heldOutNew: readonly TrainSample[], oldRef: readonly TrainSample[], oldBaseline: TailWeights = current, margin = this.margin): Paced<GateDecision> {
    const cur = TfTails.create(this.manifest, current);
    const cand = TfTails.create(this.manifest, candidate);
    const base = oldBaseline === current ? cur : TfTails.create(this.manifest, oldBaseline);
    const cache = this.cache;
    cache.register(cur, current);
    cache.register(cand, candidate);
    cache.register(base, oldBaseline);
    const owned: TfTails[] = [];
    try {
      // A routed set (tails + router) serves each sample as perception would: its own tails
      // where the router reads the new domain, the baseline's (the shipped tails) elsewhere.
      const routing = (w: TailWeights): EvalRouting | undefined => {
        const router = routerOf(w);
        return router ? { router, fallback: base } : undefined;
      };
      const teacherBoxes = heldOutNew.some((s) => s.labels.boxes !== undefined && s.labels.boxSource === 'teacher');
      const nb = yield* evaluateTailsPaced(cur, heldOutNew, this.manifest, this.options, routing(current), ALL_HEADS, true, cache);
      const trained = yield* evaluateTailsPaced(cand, heldOutNew, this.manifest, this.options, routing(candidate), ALL_HEADS, true, cache);
      // Heads the candidate made worse keep the serving tail (see the file comment); the
      // composite is scored again on those heads only, under the candidate's routing.
      let worse = headsWorse(nb, trained);
      const judged = scoredHeads(nb, trained);
      if (worse.length === judged.length) worse = []; // every head worse: nothing to keep, rejected below
      // A head the held-out new-domain frames carry no labels for (label-free mode: a teacher
      // labels boxes only) cannot be judged on the new domain: its serving tail stays too.
      const unjudged = judged.length > 0 ? HEADS.filter((h) => !judged.includes(h)) : [];
      const reverted = HEADS.filter((h) => worse.includes(h) || unjudged.includes(h));
      let na = trained;
      let scored = cand;
      if (reverted.length > 0) {
        const composed = composeTails(candidate, current, reverted);
        scored = TfTails.create(this.manifest, composed);
        cache.register(scored, composed);
        owned.push(scored);
        if (worse.length > 0) na = withParts(trained, yield* evaluateTailsPaced(scored, heldOutNew, this.manifest, this.options, routing(candidate), new Set(worse), true, cache), worse);
      }
      const ob = yield* evaluateTailsPaced(base, oldRef, this.manifest, this.options, routing(oldBaseline), ALL_HEADS, false, cache);
      const oa = yield* evaluateTailsPaced(scored, oldRef, this.manifest, this.options, routing(candidate), ALL_HEADS, false, cache);
      cache.sweep();
      const gain = na.score - nb.score;
      const drop = ob.score - oa.score;
      let decision: GateDecision['decision'] = 'reject';
      let reason: string;
      let winRate = NaN;
      // A gain short of the margin that most resamples of the frames agree on (see GateOptions.consistency).
      let consistent = NaN;
      if (Number.isFinite(gain) && gain > 0 && gain < margin && this.consistency > 0 && nb.frames && na.frames) consistent = yield* scoreWinRatePaced(nb.frames, na.frames, this.manifest.classes);
      const pct = (v: number) => `${(v * 100).toFixed(0)} %`;
      if (!Number.isFinite(nb.score) || !Number.isFinite(na.score)) reason = 'no labelled held-out new-domain samples';
      else if (!Number.isFinite(ob.score) || !Number.isFinite(oa.score)) reason = 'no labelled old-domain reference samples';
      else if (gain < margin && !(consistent >= this.consistency)) {
        reason = `new-domain gain ${gain.toFixed(4)} < margin ${margin}`;
        if (Number.isFinite(consistent)) reason += `, better in ${pct(consistent)} of resamples of the held-out frames < ${pct(this.consistency)}`;
      } else if (drop > this.tolerance) reason = `old-domain drop ${drop.toFixed(4)} > tolerance ${this.tolerance}`;
      // A router refresh keeps the serving det tail: nothing to resample there.
      else if (teacherBoxes && !reverted.includes('det') && !sameHead(candidate, current, 'det') && this.teacherConfidence > 0 && nb.detRecords && trained.detRecords && (winRate = detWinRate(nb.detRecords, trained.detRecords, this.manifest.classes)) < this.teacherConfidence) {
        reason = `det mAP on the teacher's held-out boxes beats the serving tails in ${(winRate * 100).toFixed(0)} % of resamples < ${(this.teacherConfidence * 100).toFixed(0)} %`;
      } else {
        decision = 'promote';
        const newPart = gain >= margin ? `new-domain gain ${gain.toFixed(4)} ≥ ${margin}` : `new-domain gain ${gain.toFixed(4)} < margin ${margin}, better in ${pct(consistent)} of resamples of the held-out frames ≥ ${pct(this.consistency)}`;
        reason = `${newPart}, old-domain drop ${drop.toFixed(4)} ≤ ${this.tolerance}`;
        if (Number.isFinite(winRate)) reason += `, det better on the teacher's boxes in ${(winRate * 100).toFixed(0)} % of resamples`;
      }
      if (worse.length > 0) reason += `; serving tail kept for ${worse.join(', ')} (candidate worse there: ${describeWorse(nb, trained, worse)})`;
      if (unjudged.length > 0) reason += `; serving tail kept for ${unjudged.join(', ')} (no new-domain labels to judge it)`;
      return {
        version,
        val_new_before: nb.score,
        val_new_after: na.score,
        val_old_before: ob.score,
        val_old_after: oa.score,
        decision,
        reason,
        detail: reverted.length > 0 ? { new_before: bare(nb), new_after: bare(na), old_before: ob, old_after: oa, candidate_new_after: bare(trained) } : { new_before: bare(nb), new_after: bare(na), old_before: ob, old_after: oa },
        reverted,
      };
    } finally {
      for (const t of owned) t.dispose();
      cur.dispose();
      cand.dispose();
      if (base !== cur) base.dispose();
    }
  }
}

function describeWorse(before: Metrics, after: Metrics, heads: readonly HeadName[]): string {
  const f = (v: number | null) => (v === null ? 'n/a' : v.toFixed(3));
  const name = { det: 'mAP', seg: 'lane IoU', depth: 'AbsRel' } as const;
  return heads.map((h) => `${name[h]} ${f(part(before, h))} → ${f(part(after, h))}`).join(', ');
}
