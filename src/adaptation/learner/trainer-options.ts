import type { HeadName } from '../../model/manifest.js';

/**
 * The Trainer's options (trainer.ts), apart from it so that settings and the ROS parameters can
 * name them and their defaults without loading TensorFlow.js.
 */

/**
 * The trainer's memory for prepared samples by default, MiB (TrainerOptions.cacheMb; the learner's
 * `--cache-mb`, ROS `trainer_cache_mb`): the scenario's 400 samples with the bundled model
 * (2.2 MB each) fit (docs/experiments/2026-12-07-learner-cache.md).
 */
export const DEFAULT_TRAINER_CACHE_MB = 1024;

export interface TrainerOptions {
  /** Adam learning rate (default 1e-3: the tails start from good weights). */
  readonly lr?: number;
  /** Frames per step (default 4). */
  readonly samplesPerStep?: number;
  /** Random pixels per frame and head per step, depth apart (default 512; det centres are always added). */
  readonly pixelsPerSample?: number;
  /**
   * Random valid pixels per frame for the depth head per step (default 64). Depth varies
   * smoothly, and the widened depth tail (3×3 over 56 channels) makes each pixel a row of 504
   * values: at 256 pixels a step of every head took 22.7 ms against 13.3 before widening; at 64
   * the held-out AbsRel after 1,200 steps is 0.163 against 0.158
   * (docs/experiments/2026-12-08-depth-tail.md).
   */
  readonly depthPixelsPerSample?: number;
  /** Fraction of a step's frames drawn from the old-domain reservoir (default 0.25). */
  readonly oldRatio?: number;
  readonly heads?: readonly HeadName[];
  readonly seed?: number;
  /**
   * Memory for prepared samples (the trained heads' features as float16 and their targets), MiB
   * (default 1024: the scenario's 400 samples at 2.2 MB each with the bundled model fit). A
   * sample not in memory is read from the store (SQLite, checksum, float16 decode) and its
   * targets rebuilt: with 512 MiB of float32 features (a third of the samples) a step of every
   * head took 100 ms on the stored night run, 48 ms with all of them in memory
   * (docs/experiments/2026-12-07-learner-cache.md). `npx tsx bench/trainer.ts` prints a small and
   * a full cache side by side; `bench/offline-heads.ts --cache-mb` on a run's store.
   */
  readonly cacheMb?: number;
  /** Loss weight of each segmentation class, background / lane / drivable (default 1, 4, 1). */
  readonly segClassWeights?: readonly [number, number, number];
  /**
   * Weight of the soft Dice loss on lane markings, over the sampled seg pixels (default 0.5, as
   * training/train.py). Weighted CE alone drifts the tail toward fewer lane pixels: lane IoU
   * fell in every scenario while CE fell (docs/experiments/2026-12-06-per-head-gate.md). 0: off.
   */
  readonly segDiceWeight?: number;
  /** Milliseconds, monotonic: what `trainFor` budgets against (default performance.now). */
  readonly clock?: () => number;
  /**
   * Decay of the running average of the trained weights that `candidate()` exports (Polyak
   * averaging; 0: the raw weights). On ~100 labelled frames the raw weights wander from step to
   * step (held-out det mAP@0.5 0.11–0.24 between checkpoints 100 steps apart), so a gate scored
   * whichever point the trajectory was at; the average is what they wander around.
   */
  readonly averageDecay?: number;
}
