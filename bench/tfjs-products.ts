// Prints what the learner's TensorFlow.js (wasm backend) takes for the products of a det-tail
// training step, autodiff's transposed forms beside the untransposed ones the tails use
// (src/adaptation/learner/tails-tf.ts, docs/experiments/2026-12-07-tidy-walk.md), and the JavaScript
// gather of a step's 3×3 rows from float16 maps: channel by channel or pixel by pixel, the pixels
// as drawn or in map order
// (docs/experiments/2026-12-07-gather-order.md):
//   npx tsx bench/tfjs-products.ts
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../src/adaptation/learner/random.js';
import { HALF_TABLE, halfArray } from '../src/adaptation/learner/store-codec.js';
import { initTf, tailRows, tailRowsBatch } from '../src/adaptation/learner/tails-tf.js';
import type { TailSpec } from '../src/model/manifest.js';

console.log(`backend ${await initTf()}`);
const P = 1200, I = 720, O = 32; // a det step: ~1,200 rows of (56 + 24 channels) × 3 × 3 into 32 units
const x = tf.randomNormal([P, I]) as tf.Tensor2D;
const w = tf.randomNormal([I, O]) as tf.Tensor2D;
const dy = tf.randomNormal([P, O]) as tf.Tensor2D;
const median = (f: () => void, n = 20): number => {
  for (let i = 0; i < 3; i++) f();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    f();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[n >> 1];
};
// Values read outside the tidy: returned from it, they would be walked one by one (the tidy-walk log).
const run = (make: () => tf.Tensor) => () => {
  const t = tf.tidy(make);
  t.dataSync();
  t.dispose();
};
const rows: [string, () => void][] = [
  ['x·w (forward)', run(() => tf.matMul(x, w))],
  ["dW, autodiff's form: matMul(x, dy, transposeA)", run(() => tf.matMul(x, dy, true, false))],
  ['dW, the tails\' form: transpose(x)·dy', run(() => tf.matMul(tf.transpose(x), dy))],
  ["dx, autodiff's form: matMul(dy, w, transposeB)", run(() => tf.matMul(dy, w, false, true))],
  ["dx, the tails' form: dy·transpose(w)", run(() => tf.matMul(dy, tf.transpose(w)))],
];
for (const [name, f] of rows) console.log(`${name}: ${median(f).toFixed(2)} ms (median of 20)`);
// A step's det rows: four samples (four maps of 56 channels, 48×96, float16), 300 pixels each.
const [C, H, W, S, N] = [56, 48, 96, 4, 300];
// Feature values and pixels drawn at random (seeded), as a step meets them: post-ReLU features, uniform pixels.
const rand = mulberry32(1);
const maps = Array.from({ length: S }, () => ({ channels: C, height: H, width: W, half: halfArray(new Float32Array(C * H * W).map(() => Math.max(0, rand() * 4 - 1))) }));
const spec: TailSpec = { feature: 'det_feat', in: C, layers: [{ out: 32, act: 'relu', kernel: 3 }, { out: 8, act: 'linear' }] };
const drawn = maps.map(() => Array.from({ length: N }, () => Math.floor(rand() * H * W)));
const sorted = drawn.map((px) => [...px].sort((a, b) => a - b));
// The reference: every channel of one pixel, then the next pixel (interior pixels only, as the
// learner's gather did before; a border pixel's zeros need bounds checks), one array a sample.
const pixelMajor = (pxs: number[][]) => () => {
  const width = C * 9;
  const out = new Float32Array(S * N * width);
  pxs.forEach((px, m) => {
    const half = maps[m].half;
    for (let p = 0; p < N; p++) {
      const y = Math.min(H - 2, Math.max(1, Math.floor(px[p] / W)));
      const x0 = Math.min(W - 2, Math.max(1, px[p] % W));
      let o = (m * N + p) * width;
      for (let c = 0; c < C; c++) {
        for (let dy = -1, row = c * H * W + (y - 1) * W + x0 - 1; dy <= 1; dy++, row += W) {
          for (let dx = 0; dx < 3; dx++) out[o++] = HALF_TABLE[half[row + dx]];
        }
      }
    }
  });
};
const batch = (pxs: number[][]) => () => tailRowsBatch(spec, pxs.map((pixels, m) => ({ f: maps[m], pixels })));
const gathers: [string, () => void][] = [
  ['pixel by pixel, pixels as drawn (the learner before)', pixelMajor(drawn)],
  ['pixel by pixel, pixels in map order', pixelMajor(sorted)],
  ['tailRowsBatch (channel by channel), pixels as drawn', batch(drawn)],
  ['tailRowsBatch (channel by channel), pixels in map order (the learner now)', batch(sorted)],
  ['tailRows, one sample, in map order', () => tailRows(spec, maps[0], sorted[0])],
];
for (const [name, f] of gathers) console.log(`det rows of ${S} samples × ${N} pixels, ${C}×3×3 from float16, ${name}: ${median(f, 50).toFixed(2)} ms (median of 50)`);
tf.dispose([x, w, dy]);
