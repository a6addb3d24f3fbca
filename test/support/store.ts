import { mulberry32 } from '../../src/adaptation/learner/random.js';
import type { Domain, FeatureMap, FlaggedSample } from '../../src/adaptation/learner/store-types.js';

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
export const rng = mulberry32;

export function randomFeature(c: number, h: number, w: number, r: () => number): FeatureMap {
  const data = new Float32Array(c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = r() * 2;
  return { channels: c, height: h, width: w, data };
}

/** A small flagged sample (input 32×64, tiny feature maps) for store and labels tests. */
export function fakeSample(camera: string, stampNs: bigint, domain: Domain = 'new', seed = 1): FlaggedSample {
  const r = rng(seed);
  return {
    camera,
    stampNs,
    domain,
    reasons: ['uncertainty'],
    scores: { ambiguousFraction: 0.5 },
    inputSize: [32, 64],
    cameraSize: { width: 128, height: 64 },
    features: { det: randomFeature(4, 8, 16, r), seg: randomFeature(3, 16, 32, r), depth: randomFeature(2, 8, 16, r) },
    image: Uint8Array.of(0xff, 0xd8, 1, 2, 3, 0xff, 0xd9),
    predictions: { detections: 2 },
  };
}
