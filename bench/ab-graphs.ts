/**
 * Two ONNX graphs of the same contract (e.g. a package before and after a graph change), timed
 * alternately frame by frame in one process on the benchmark's 1280x720 frames, with the first
 * package's tails and default size; ONNX Runtime's defaults as in the floor (bench/floor.ts).
 * `--model-b DIR` gives B its own package's tails (a graph whose tail shapes differ).
 *
 *   npx tsx bench/ab-graphs.ts A.onnx B.onnx [--model DIR] [--model-b DIR] [--rounds 3]
 *
 * Prints medians, the speed-up of B over A and the median of per-frame ratios, with the date
 * and load. Example: docs/experiments/2026-12-06-floor-preprocessing.md.
 */
import os from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelPackage } from '../src/model/package.js';
import { DEFAULT_OUTPUTS } from '../src/engine/engine.js';
import { ensureBag, loadImages, type BagSpec } from './frames.js';

const argv = process.argv.slice(2);
const opt = (k: string, d: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const [a, b] = argv.filter((x, i) => !x.startsWith('--') && !argv[i - 1]?.startsWith('--'));
if (!a || !b) {
  process.stderr.write('usage: npx tsx bench/ab-graphs.ts A.onnx B.onnx [--model DIR] [--model-b DIR] [--rounds N]\n');
  process.exit(2);
}
const rounds = Number(opt('--rounds', '3'));
const pkg = await loadModelPackage(resolve(opt('--model', join(import.meta.dirname, '..', 'models', 'default'))));
const pkgB = argv.includes('--model-b') ? await loadModelPackage(resolve(opt('--model-b', ''))) : pkg;
const spec: BagSpec = { cameras: ['front'], width: 1280, height: 720, rateHz: 30, frames: 60, seed: 4242 };
const images = await loadImages(await ensureBag(spec, (l) => process.stderr.write(`${l}\n`)));
const open = (p: string) => ort.InferenceSession.create(p, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
const [sa, sb] = [await open(a), await open(b)];
const [H, W] = pkg.manifest.input.sizes[0];
const feedsOf = (p: typeof pkg) => {
  const f: Record<string, ort.Tensor> = { size: new ort.Tensor('int64', BigInt64Array.of(BigInt(H), BigInt(W)), [2]) };
  for (const [name, t] of p.tails) f[name] = new ort.Tensor('float32', t.data, [...t.shape]);
  return f;
};
const fixedA = feedsOf(pkg);
const fixedB = feedsOf(pkgB);
const run = (s: ort.InferenceSession, i: number) => {
  const img = images[i];
  return s.run({ ...(s === sb ? fixedB : fixedA), image: new ort.Tensor('uint8', img.data.subarray(0, img.width * img.height * 3), [1, img.height, img.width, 3]) }, [...DEFAULT_OUTPUTS]);
};
for (let i = 0; i < 5; i++) {
  await run(sa, i);
  await run(sb, i);
}
const ta: number[] = [];
const tb: number[] = [];
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < images.length; i++) {
    // alternate which graph goes first, so neither always follows the other
    const order: [ort.InferenceSession, number[]][] = (r + i) % 2 === 0 ? [[sa, ta], [sb, tb]] : [[sb, tb], [sa, ta]];
    for (const [s, t] of order) {
      const t0 = performance.now();
      await run(s, i);
      t.push(performance.now() - t0);
    }
  }
}
const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
const r3 = (x: number) => Math.round(x * 1000) / 1000;
process.stdout.write(
  `${JSON.stringify({ date: new Date().toISOString(), a, b, frames: ta.length, a_ms: r3(med(ta)), b_ms: r3(med(tb)), speedup_b_over_a: r3(med(ta) / med(tb)), median_pair_ratio: r3(med(ta.map((x, i) => x / tb[i]))), loadavg_1m: r3(os.loadavg()[0]) })}\n`,
);
await sa.release();
await sb.release();
