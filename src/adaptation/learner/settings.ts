import { HEADS, type HeadName } from '../../model/manifest.js';
import { PerceptionError } from '../../core/errors.js';
import { CAMERA_HEIGHT_RANGE_M, TEACHER_HEADS, TEACHER_MODELS, type TeacherHead, type TeacherModel } from './teacher/types.js';
import type { TrainerOptions } from './trainer-options.js';

export { DEFAULT_TRAINER_CACHE_MB } from './trainer-options.js';

/**
 * The new-domain score (mean of det mAP@0.5, lane IoU, 1 − AbsRel on the held-out flagged
 * frames) a candidate must gain over the serving set. 0.005 rather than 0.01: a promoted set's
 * held-out score is the best of those tried on the same frames, so later candidates clear it by
 * less than they are better; at 0.01 a rain drive's learner served the set of its 600th step of
 * 2,000 to the end (docs/experiments/2026-12-08-gate-and-grants.md).
 */
export const DEFAULT_GATE_MARGIN = 0.005;

/**
 * A gain above zero and below the margin passes when the decided set scores higher than the
 * serving one in at least this share of bootstrap resamples of the held-out frames
 * (GateOptions.consistency; docs/experiments/2026-12-08-depth-tail.md).
 */
export const DEFAULT_GATE_CONSISTENCY = 0.9;

/**
 * Trainer settings of online adaptation (the learner process and the ROS learner node): half
 * of each step from the old-domain reservoir (the gate refuses candidates that forget); lane
 * pixels weigh 8 (the offline factory's 4 is for a model that already knows lanes; 8 did
 * better than 4 and 16 on one scenario run's samples: docs/experiments/2026-11-28-online-training.md).
 * Candidates are the running average of the trained weights (decay 0.98, a horizon of ~50
 * steps): on a rain run's samples the raw weights' held-out det mAP@0.5 swung 0.11–0.24
 * between checkpoints, the average's less, and higher on the mean
 * (docs/experiments/2026-12-07-averaged-tails.md). Steps sample 256 pixels a frame and head
 * (the Trainer's default 512 for offline use): on a night run's samples held-out det mAP rose as
 * fast per step with 256 as with 512, at half the cost, and a step then fits the slack between
 * two 10 Hz frames (same log).
 */
export const ADAPT_TRAINER: TrainerOptions = { oldRatio: 0.5, segClassWeights: [1, 8, 1], averageDecay: 0.98, pixelsPerSample: 256 };

/**
 * Every head adapts online by default. Detection was opt-in while its tail read only the trunk's
 * 32 channels through 1×1 layers (night det mAP@0.5 0.07 → 0.07); with the widened tail (a
 * backbone tap, 3×3 first layer: training/widen_tail.py) the scenarios recover night 0.08 →
 * 0.21 and a knocked camera 0.22 → 0.51 with no old-domain regression
 * (docs/experiments/2026-12-06-detection-tail.md). A package whose det tail is not widened
 * still trains it; `--heads seg,depth` leaves detection alone.
 */
export const DEFAULT_ADAPT_HEADS: readonly HeadName[] = ['det', 'seg', 'depth'];

/** `det,seg` → the heads; INVALID_ARGUMENT naming the unknown one. */
export function parseHeads(value: string): HeadName[] {
  const heads = value.split(',').map((h) => h.trim());
  for (const h of heads) {
    if (!(HEADS as readonly string[]).includes(h)) throw new PerceptionError('INVALID_ARGUMENT', `--heads: unknown head '${h}' (allowed: ${HEADS.join(', ')})`, { field: '--heads' });
  }
  return heads as HeadName[];
}

/**
 * Where the learner's labels come from: an annotator (a person, or in a bag replay the bag's
 * ground truth, released only for flagged frames and late), a teacher model (label-free:
 * pseudo-labels for the flagged frames' boxes), or both (the annotator's override the teacher's).
 */
export const LABEL_MODES = ['gt', 'teacher', 'both'] as const;
export type LabelMode = (typeof LABEL_MODES)[number];

export function parseLabelMode(value: string, field = '--labels'): LabelMode {
  if (!(LABEL_MODES as readonly string[]).includes(value)) throw new PerceptionError('INVALID_ARGUMENT', `${field} must be one of ${LABEL_MODES.join(', ')}, got '${value}'`, { field });
  return value as LabelMode;
}

/** `--teacher-heads det,seg`: distinct heads a teacher labels. */
export function parseTeacherHeads(v: string, field = '--teacher-heads'): TeacherHead[] {
  const heads = v.split(',').map((h) => h.trim());
  const bad = heads.filter((h) => !(TEACHER_HEADS as readonly string[]).includes(h));
  if (bad.length > 0 || heads.length === 0 || new Set(heads).size !== heads.length) {
    throw new PerceptionError('INVALID_ARGUMENT', `${field} must be distinct heads among ${TEACHER_HEADS.join(', ')}, got '${v}'`, { field });
  }
  return heads as TeacherHead[];
}

/** `--camera-height M`: the cameras' height above the road for the ground-plane depth cue (0: off). */
export function parseCameraHeight(v: string, field = '--camera-height'): number {
  const h = Number(v);
  const [lo, hi] = CAMERA_HEIGHT_RANGE_M;
  if (v.trim() === '' || !(h === 0 || (h >= lo && h <= hi))) {
    throw new PerceptionError('INVALID_ARGUMENT', `${field} must be 0 (off) or the cameras' height above the road in metres, ${lo}..${hi}, got '${v}'`, { field });
  }
  return h;
}

/** `--teacher MODEL`. */
export function parseTeacher(v: string): TeacherModel {
  if (!(TEACHER_MODELS as readonly string[]).includes(v)) throw new PerceptionError('INVALID_ARGUMENT', `--teacher must be one of ${TEACHER_MODELS.join(', ')}, got '${v}'`, { field: '--teacher' });
  return v as TeacherModel;
}
