// Prints what the learner's TensorFlow.js (wasm backend) takes for the products of a det-tail
// training step, autodiff's transposed forms beside the untransposed ones the tails use
// (src/adaptation/learner/tails-tf.ts, docs/experiments/2026-12-07-tidy-walk.md), and the JavaScript
// gather of a step's 3×3 rows from a float16 map: the learner's (channel by channel) beside pixel
// by pixel, the order it replaced
// (docs/experiments/2026-12-07-gather-order.md):
//   npx tsx bench/tfjs-products.ts
import * as tf from '@tensorflow/tfjs';
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
const [C, H, W] = [80, 48, 96];
const map = { channels: C, height: H, width: W, half: halfArray(new Float32Array(C * H * W).map((_, i) => Math.max(0, Math.sin(i)))) };
const spec: TailSpec = { feature: 'det_feat', in: C, layers: [{ out: 32, act: 'relu', kernel: 3 }, { out: 8, act: 'linear' }] };
const px = Array.from({ length: P }, (_, i) => (i * 2654435761) % (H * W));
// The reference: every channel of one pixel, then the next pixel (interior pixels only, as the
// learner's gather did before; a border pixel's zeros need bounds checks).
const pixelMajor = (): Float32Array => {
  const out = new Float32Array(P * I);
  for (let p = 0; p < P; p++) {
    const y = Math.min(H - 2, Math.max(1, Math.floor(px[p] / W)));
    const x0 = Math.min(W - 2, Math.max(1, px[p] % W));
    let o = p * I;
    for (let c = 0; c < C; c++) {
      for (let dy = -1, row = c * H * W + (y - 1) * W + x0 - 1; dy <= 1; dy++, row += W) {
        for (let dx = 0; dx < 3; dx++) out[o++] = HALF_TABLE[map.half[row + dx]];
      }
    }
  }
  return out;
};
const parts = [0, 1, 2, 3].map((i) => ({ f: map, pixels: px.slice((i * P) / 4, ((i + 1) * P) / 4) }));
const gathers: [string, () => void][] = [
  ['pixel by pixel (the order replaced)', pixelMajor],
  ['tailRows, channel by channel', () => tailRows(spec, map, px)],
  ['tailRowsBatch, four samples into one array', () => tailRowsBatch(spec, parts)],
];
for (const [name, f] of gathers) console.log(`${P} rows of ${C}×3×3 from float16, ${name}: ${median(f, 50).toFixed(2)} ms (median of 50)`);
tf.dispose([x, w, dy]);
