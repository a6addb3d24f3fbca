// The raw onnxruntime-node floor of model packages side by side, in one process, rounds
// alternated so every package sees the same load (bench/floor.ts's loop: session options
// 'all' / ORT's own threads, the engine's default fetches, the manifest's default input size):
//   node training/bench_floor.mjs [--frames N] [--rounds R] [--camera WxH] PKG_DIR...
// Frames: WxH rgb8 (default 1280x720) from a fixed pseudo-random pattern with image-like
// smoothness. Prints ms per frame (p50, mean) per package, and each package's ratio to the first.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args.splice(i, 2)[1] : d; };
const frames = Number(opt('--frames', 40));
const rounds = Number(opt('--rounds', 5));
const [cw, ch] = opt('--camera', '1280x720').split('x').map(Number);
const FETCH = ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth', 'feat_mean'];

const img = new Uint8Array(cw * ch * 3);
for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) for (let c = 0; c < 3; c++) {
  img[(y * cw + x) * 3 + c] = (128 + 100 * Math.sin(x / (17 + 5 * c)) * Math.cos(y / 23) + ((x * 7 + y * 13) % 11)) & 255;
}
const pkgs = [];
for (const dir of args) {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const tails = JSON.parse(readFileSync(join(dir, m.files.tails), 'utf8'));
  const s = await ort.InferenceSession.create(join(dir, m.files.model), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  const [H, W] = m.input.sizes[0];
  const feeds = { size: new ort.Tensor('int64', BigInt64Array.of(BigInt(H), BigInt(W)), [2]), image: new ort.Tensor('uint8', img, [1, ch, cw, 3]) };
  for (const [n, t] of Object.entries(tails)) feeds[n] = new ort.Tensor('float32', Float32Array.from(t.data), t.shape);
  for (let i = 0; i < 5; i++) await s.run(feeds, FETCH);
  pkgs.push({ dir, size: `${H}x${W}`, gmac: m.training?.gmac, s, feeds, ms: [] });
}
for (let r = 0; r < rounds; r++) {
  for (const p of pkgs) {
    for (let i = 0; i < frames / rounds; i++) {
      const t0 = performance.now();
      await p.s.run(p.feeds, FETCH);
      p.ms.push(performance.now() - t0);
    }
  }
}
const q = (a, f) => [...a].sort((x, y) => x - y)[Math.floor(f * (a.length - 1))];
const base = q(pkgs[0].ms, 0.5);
for (const p of pkgs) {
  const p50 = q(p.ms, 0.5);
  const mean = p.ms.reduce((a, b) => a + b, 0) / p.ms.length;
  console.log(`${p.dir}: input ${p.size}${p.gmac ? ` (${p.gmac} GMAC)` : ''}, camera ${cw}x${ch}: floor p50 ${p50.toFixed(2)} ms, mean ${mean.toFixed(2)} ms, min ${q(p.ms, 0).toFixed(2)} ms (x${(p50 / base).toFixed(2)} of the first)`);
}
