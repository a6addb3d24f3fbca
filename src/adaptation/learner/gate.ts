import { decodeDetections } from '../../engine/decode.js';
import { PerceptionError } from '../../core/errors.js';
import { DepthEvaluator } from '../../eval/depth.js';
import { DetectionEvaluator } from '../../eval/detection.js';
import { isIgnoredBox } from '../../eval/ignore.js';
import { SegmentationEvaluator } from '../../eval/segmentation.js';
import type { Manifest } from '../../model/manifest.js';
import type { TailWeights } from '../../model/package.js';
import { poolFeatures, routerScore, type Router } from '../../engine/router.js';
import { depthFromRaw, detOutputs, segArgmax } from './tails-tf-post.js';
import { TfTails } from './tails-tf.js';
import { depthTargets, segTargets } from './targets.js';
import type { TrainSample } from './trainer.js';
import { runNow, type Paced } from './paced.js';

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
 */

export interface GateOptions {
  /** New-domain score must rise by at least this (default 0.01). */
  readonly margin?: number;
  /** Old-domain score may fall by at most this (default 0.02). */
  readonly tolerance?: number;
  /** Heat threshold for decoding detections (default 0.03, as training/train.py evaluates). */
  readonly detThreshold?: number;
  readonly maxDetections?: number;
}

export interface Metrics {
  readonly mAP: number | null;
  readonly laneIoU: number | null;
  readonly absRel: number | null;
  readonly score: number;
  readonly samples: number;
}

export interface GateDecision {
  readonly version: number;
  readonly val_new_before: number;
  readonly val_new_after: number;
  readonly val_old_before: number;
  readonly val_old_after: number;
  readonly decision: 'promote' | 'reject';
  readonly reason: string;
  readonly detail: { readonly new_before: Metrics; readonly new_after: Metrics; readonly old_before: Metrics; readonly old_after: Metrics };
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

/** Scores tails on samples (see the file comment for how), routed per sample when `routing` is given. */
export function evaluateTails(chosen: TfTails, samples: readonly TrainSample[], manifest: GateManifest, options: GateOptions = {}, routing?: EvalRouting): Metrics {
  return runNow(evaluateTailsPaced(chosen, samples, manifest, options, routing));
}

/** evaluateTails in pieces: yields after each sample (a few ms of tail runs). */
export function* evaluateTailsPaced(chosen: TfTails, samples: readonly TrainSample[], manifest: GateManifest, options: GateOptions = {}, routing?: EvalRouting): Paced<Metrics> {
  const K = manifest.classes.length;
  const maxM = manifest.depth?.max_m ?? 120;
  const minM = manifest.depth?.min_m ?? 1;
  const det = new DetectionEvaluator(manifest.classes);
  const seg = new SegmentationEvaluator();
  const dep = new DepthEvaluator({ minDepth: 0, maxDepth: maxM });
  let nDet = 0;
  let nSeg = 0;
  let nDep = 0;
  for (const s of samples) {
    const f = s.features;
    const tails = routing && routerScore(routing.router, poolFeatures(f, manifest.tails)) <= 0 ? routing.fallback : chosen;
    if (s.labels.boxes) {
      const { heat, box } = detOutputs(tails.applyMap('det', f.det), K, f.det.height, f.det.width);
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
      det.add(preds, s.labels.boxes.filter((b) => !hidden(b)), s.labels.boxes.filter(hidden));
      nDet++;
    }
    if (s.labels.lane) {
      seg.add(segArgmax(tails.applyMap('seg', f.seg)), segTargets(s.labels.lane, f.seg.height, f.seg.width));
      nSeg++;
    }
    if (s.labels.depth) {
      const raw = tails.applyMap('depth', f.depth);
      const t = depthTargets(s.labels.depth, f.depth.height, f.depth.width, { minM, maxM });
      const pred = new Float32Array(raw.length);
      const gt = new Float32Array(raw.length);
      for (let i = 0; i < raw.length; i++) {
        pred[i] = depthFromRaw(raw[i], minM, maxM);
        gt[i] = t.valid[i] ? Math.exp(t.logDepth[i]) : 0;
      }
      dep.add(pred, gt);
      nDep++;
    }
    yield;
  }
  const mAP = nDet ? det.result().mAP : NaN;
  const lane = nSeg ? seg.result().iou.lane : null;
  const absRel = nDep ? dep.result().absRel : NaN;
  const parts = [mAP, lane ?? NaN, 1 - absRel].filter((v) => Number.isFinite(v));
  return {
    mAP: Number.isFinite(mAP) ? mAP : null,
    laneIoU: lane,
    absRel: Number.isFinite(absRel) ? absRel : null,
    score: parts.length ? parts.reduce((a, b) => a + b, 0) / parts.length : NaN,
    samples: samples.length,
  };
}

export class Gate {
  private readonly margin: number;
  private readonly tolerance: number;

  constructor(
    private readonly manifest: GateManifest,
    private readonly options: GateOptions = {},
  ) {
    this.margin = options.margin ?? 0.01;
    this.tolerance = options.tolerance ?? 0.02;
    if (!(this.margin >= 0)) throw new PerceptionError('INVALID_CONFIG', `gate margin must be ≥ 0, got ${this.margin}`, { field: 'margin' });
    if (!(this.tolerance >= 0)) throw new PerceptionError('INVALID_CONFIG', `gate tolerance must be ≥ 0, got ${this.tolerance}`, { field: 'tolerance' });
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
    try {
      // A routed set (tails + router) serves each sample as perception would: its own tails
      // where the router reads the new domain, the baseline's (the shipped tails) elsewhere.
      const routing = (w: TailWeights): EvalRouting | undefined => {
        const router = routerOf(w);
        return router ? { router, fallback: base } : undefined;
      };
      const nb = yield* evaluateTailsPaced(cur, heldOutNew, this.manifest, this.options, routing(current));
      const na = yield* evaluateTailsPaced(cand, heldOutNew, this.manifest, this.options, routing(candidate));
      const ob = yield* evaluateTailsPaced(base, oldRef, this.manifest, this.options, routing(oldBaseline));
      const oa = yield* evaluateTailsPaced(cand, oldRef, this.manifest, this.options, routing(candidate));
      const gain = na.score - nb.score;
      const drop = ob.score - oa.score;
      let decision: GateDecision['decision'] = 'reject';
      let reason: string;
      if (!Number.isFinite(nb.score) || !Number.isFinite(na.score)) reason = 'no labelled held-out new-domain samples';
      else if (!Number.isFinite(ob.score) || !Number.isFinite(oa.score)) reason = 'no labelled old-domain reference samples';
      else if (gain < margin) reason = `new-domain gain ${gain.toFixed(4)} < margin ${margin}`;
      else if (drop > this.tolerance) reason = `old-domain drop ${drop.toFixed(4)} > tolerance ${this.tolerance}`;
      else {
        decision = 'promote';
        reason = `new-domain gain ${gain.toFixed(4)} ≥ ${margin}, old-domain drop ${drop.toFixed(4)} ≤ ${this.tolerance}`;
      }
      return {
        version,
        val_new_before: nb.score,
        val_new_after: na.score,
        val_old_before: ob.score,
        val_old_after: oa.score,
        decision,
        reason,
        detail: { new_before: nb, new_after: na, old_before: ob, old_after: oa },
      };
    } finally {
      cur.dispose();
      cand.dispose();
      if (base !== cur) base.dispose();
    }
  }
}
