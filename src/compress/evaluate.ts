/**
 * Scores a model package (one precision variant, one ladder size) on labelled frames with the
 * product's own pieces: Engine → decodeFrame → replay's scoreFrame / CameraScorer (the same
 * ignore regions and thresholds as `replay`'s summary). Metrics: det mAP@0.5, lane and
 * drivable IoU, depth AbsRel and δ<1.25.
 */
import { Engine } from '../engine/engine.js';
import { decodeFrame } from '../engine/frame-result.js';
import type { InputSize } from '../model/manifest.js';
import { CameraScorer, scoreFrame } from '../replay/scoring.js';
import type { LabelledFrame } from './frames.js';

export interface Metrics {
  det_map50: number | null;
  lane_iou: number | null;
  drivable_iou: number | null;
  depth_absrel: number | null;
  depth_delta1: number | null;
  frames: number;
}

/** The metric keys, and whether higher is better (AbsRel: lower). */
export const METRIC_KEYS: readonly { key: keyof Omit<Metrics, 'frames'>; higherIsBetter: boolean }[] = [
  { key: 'det_map50', higherIsBetter: true },
  { key: 'lane_iou', higherIsBetter: true },
  { key: 'drivable_iou', higherIsBetter: true },
  { key: 'depth_absrel', higherIsBetter: false },
  { key: 'depth_delta1', higherIsBetter: true },
];

/** replay decodes for scoring at min(0.05, the publish threshold): AP needs the low-score tail. */
const EVAL_THRESHOLD = 0.05;

/**
 * Scores an open engine on frames at `size` (default: the engine's). Dense outputs are compared
 * on the engine's full-size grid whatever `size` is (scoreFrame's `grid`), as replay does, so
 * that sizes on a Pareto front are scored alike.
 */
export async function evaluateEngine(engine: Engine, frames: readonly LabelledFrame[], size?: InputSize): Promise<Metrics> {
  const scorer = new CameraScorer(engine.manifest.classes);
  const classIndex = new Map(engine.manifest.classes.map((c, i) => [c, i]));
  const sz = size ?? engine.inputSize;
  for (const f of frames) {
    const [raw] = await engine.infer([f.image], { size: sz, outputs: ['det_heat', 'det_box', 'seg_mask', 'depth'] });
    const d = decodeFrame(raw, engine.manifest, { threshold: EVAL_THRESHOLD });
    const pred = {
      camera: f.camera,
      stampNs: f.stampNs,
      cameraSize: { width: f.image.width, height: f.image.height },
      boxes: d.detections,
      lane: d.mask!,
      depth: d.depth!,
      size: sz,
      segEntropy: 0,
      weights: engine.currentWeights.id,
      tensors: {},
    };
    scorer.addScore(scoreFrame(classIndex, pred, f.truth, { height: engine.inputSize[0], width: engine.inputSize[1] }));
  }
  const m = scorer.result();
  return {
    det_map50: m.det_map50,
    lane_iou: m.lane_iou,
    drivable_iou: m.drivable_iou,
    depth_absrel: m.depth_absrel,
    depth_delta1: m.depth_delta1,
    frames: frames.length,
  };
}

/** Opens the package at `precision` on the CPU, scores it, closes it. */
export async function evaluatePackage(modelDir: string, precision: string, frames: readonly LabelledFrame[], size?: InputSize, threads?: number): Promise<Metrics> {
  const engine = await Engine.create({ modelDir, precision, providers: ['cpu'], threads });
  try {
    return await evaluateEngine(engine, frames, size);
  } finally {
    await engine.dispose();
  }
}

/**
 * Metric changes of `b` against `a`, in points (× 100), signed so that negative = worse
 * (AbsRel's drop counts as a gain). `worst` is the largest loss over the metrics.
 */
export function metricLoss(a: Metrics, b: Metrics): { points: Record<string, number | null>; worst: number } {
  const points: Record<string, number | null> = {};
  let worst = 0;
  for (const { key, higherIsBetter } of METRIC_KEYS) {
    const x = a[key];
    const y = b[key];
    if (x === null || y === null) {
      points[key] = null;
      continue;
    }
    const gain = (higherIsBetter ? y - x : x - y) * 100;
    points[key] = Math.round(gain * 100) / 100;
    worst = Math.min(worst, gain);
  }
  return { points, worst: Math.round(worst * 100) / 100 };
}
