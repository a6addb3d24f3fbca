/**
 * Labelled frames for accuracy figures (INT8 against FP32, the Pareto front): bags of the
 * synthetic world with ground truth, rendered once into bench/.cache/eval/ (git-ignored).
 * - held-out: day, dusk and fog, seed 5151 (never used for training or calibration);
 * - calibration: day, dusk and fog, seed 6161.
 * 1280x720 raw rgb8 like the benchmark's camera; ground truth at a quarter size.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSimBag } from '../src/sim/bag-writer.js';
import { readLabelledFrames, type LabelledFrame } from '../src/compress/frames.js';
import type { Domain } from '../src/sim/index.js';
import { CACHE } from './frames.js';

export const EVAL_DOMAINS: readonly Domain[] = ['day', 'dusk', 'fog'];
export const HELDOUT_SEED = 5151;
export const CALIBRATION_SEED = 6161;

export async function ensureEvalBag(domain: Domain, seed: number, frames: number, log: (l: string) => void): Promise<string> {
  const dir = join(CACHE, 'eval');
  const path = join(dir, `${domain}_s${seed}_n${frames}.mcap`);
  if (existsSync(path)) return path;
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}.mcap`;
  log(`bench: rendering ${frames} ${domain} frames (seed ${seed}) -> ${path} (once; cached)`);
  try {
    await writeSimBag({ out: tmp, domain, frames, seed, cameras: ['front'], width: 1280, height: 720, rateHz: 10, compressed: false, jpegQuality: 85, gtScale: 4 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return path;
}

/** `perDomain` held-out frames of each domain, with ground truth. */
export async function heldoutFrames(perDomain: number, log: (l: string) => void): Promise<LabelledFrame[]> {
  const bags = [];
  for (const d of EVAL_DOMAINS) bags.push(await ensureEvalBag(d, HELDOUT_SEED, perDomain, log));
  return readLabelledFrames(bags, perDomain);
}

/** `perDomain` calibration frames of each domain. */
export async function calibrationFrames(perDomain: number, log: (l: string) => void): Promise<LabelledFrame[]> {
  const bags = [];
  for (const d of EVAL_DOMAINS) bags.push(await ensureEvalBag(d, CALIBRATION_SEED, perDomain, log));
  return readLabelledFrames(bags, perDomain);
}
