import { HEADS, type HeadName } from '../../model/manifest.js';
import { PerceptionError } from '../../core/errors.js';
import type { TrainerOptions } from './trainer.js';

/**
 * Trainer settings of online adaptation (the learner process and the ROS learner node): half
 * of each step from the old-domain reservoir (the gate refuses candidates that forget); lane
 * pixels weigh 8 (the offline factory's 4 is for a model that already knows lanes; 8 did
 * better than 4 and 16 on one scenario run's samples: docs/experiments/2026-11-28-online-training.md).
 */
export const ADAPT_TRAINER: TrainerOptions = { oldRatio: 0.5, segClassWeights: [1, 8, 1] };

/**
 * Detection is not adapted online by default: the online targets have no ignore regions for
 * tiny or hidden objects (the offline trainer has), and in the adaptation scenario training
 * the det tail on them cost the training domain half its mAP@0.5 while the gate's small
 * old-domain set did not see it. Seg and depth adapt safely. `--heads det,seg,depth` opts in.
 */
export const DEFAULT_ADAPT_HEADS: readonly HeadName[] = ['seg', 'depth'];

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
