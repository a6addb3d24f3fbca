/**
 * The raw onnxruntime-node floor of model packages side by side, on the graph the engine serves
 * for each package's shipped weights (narrow tails: src/engine/narrow-tail.ts servingGraph), in
 * one process with rounds alternated so every package sees the same load. 1280x720 camera frames
 * (a fixed smooth pattern), the manifest's default input, the engine's default fetches. Prints
 * p50 and min per package and each one's ratio to the first.
 *
 *   npx tsx bench/floor-compare.ts [--frames N] [--rounds R] [--size HxW] PKG_DIR...
 */
import * as ort from 'onnxruntime-node';
import { loadModelPackage } from '../src/model/package.js';
import { servingGraph } from '../src/engine/narrow-tail.js';

const args = process.argv.slice(2);
const opt = (k: string, d: number): number => {
  const i = args.indexOf(k);
  return i >= 0 ? Number(args.splice(i, 2)[1]) : d;
};
// --size HxW: one ladder size for every package instead of each manifest's default input.
const sizeAt = args.indexOf('--size');
const size = sizeAt >= 0 ? args.splice(sizeAt, 2)[1].split('x').map(Number) : undefined;
if (size && !(size.length === 2 && size.every((v) => Number.isInteger(v) && v > 0))) {
  console.error('floor-compare: --size wants HxW, e.g. 128x256');
  process.exit(2);
}
const frames = opt('--frames', 240);
const rounds = opt('--rounds', 24);
if (args.length === 0 || !(frames >= rounds && rounds >= 1)) {
  console.error('usage: npx tsx bench/floor-compare.ts [--frames N] [--rounds R] [--size HxW] PKG_DIR... (N >= R >= 1)');
  process.exit(2);
}
const cw = 1280;
const ch = 720;
const img = new Uint8Array(cw * ch * 3);
for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) for (let c = 0; c < 3; c++) img[(y * cw + x) * 3 + c] = (128 + 100 * Math.sin(x / (17 + 5 * c)) * Math.cos(y / 23) + ((x * 7 + y * 13) % 11)) & 255;
const FETCH = ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth', 'feat_mean'];
const pkgs: { dir: string; narrow: boolean; s: ort.InferenceSession; feeds: Record<string, ort.Tensor>; ms: number[] }[] = [];
for (const dir of args) {
  const pkg = await loadModelPackage(dir);
  const graph = servingGraph(pkg.modelPath, pkg.manifest, pkg.tails, FETCH);
  const s = typeof graph === 'string' ? await ort.InferenceSession.create(graph, { graphOptimizationLevel: 'all' }) : await ort.InferenceSession.create(graph, { graphOptimizationLevel: 'all' });
  const [H, W] = size ?? pkg.manifest.input.sizes[0];
  if (!pkg.manifest.input.sizes.some(([h, w]) => h === H && w === W)) {
    console.error(`floor-compare: ${dir}: ${H}x${W} is not on its ladder (${pkg.manifest.input.sizes.map((x) => x.join('x')).join(', ')})`);
    process.exit(2);
  }
  const feeds: Record<string, ort.Tensor> = { size: new ort.Tensor('int64', BigInt64Array.of(BigInt(H), BigInt(W)), [2]), image: new ort.Tensor('uint8', img, [1, ch, cw, 3]) };
  for (const [n, t] of pkg.tails) feeds[n] = new ort.Tensor('float32', Float32Array.from(t.data), [...t.shape]);
  for (let i = 0; i < 5; i++) await s.run(feeds, FETCH);
  pkgs.push({ dir, narrow: typeof graph !== 'string', s, feeds, ms: [] });
}
for (let r = 0; r < rounds; r++) {
  process.stderr.write(`\rround ${r + 1}/${rounds}`);
  for (const p of pkgs) {
    for (let i = 0; i < Math.floor(frames / rounds); i++) {
      const t0 = performance.now();
      await p.s.run(p.feeds, FETCH);
      p.ms.push(performance.now() - t0);
    }
  }
}
process.stderr.write('\n');
const q = (a: number[], f: number) => [...a].sort((x, y) => x - y)[Math.floor(f * (a.length - 1))];
const [p50, min] = [q(pkgs[0].ms, 0.5), q(pkgs[0].ms, 0)];
console.log(`${new Date().toISOString()}, camera ${cw}x${ch}, input ${size ? size.join('x') : 'each default'}, ${pkgs[0].ms.length} frames each`);
for (const p of pkgs) {
  console.log(`${p.dir} (served graph${p.narrow ? ', narrow tails' : ''}): p50 ${q(p.ms, 0.5).toFixed(2)} ms (x${(q(p.ms, 0.5) / p50).toFixed(2)}), min ${q(p.ms, 0).toFixed(2)} ms (x${(q(p.ms, 0) / min).toFixed(2)})`);
}
for (const p of pkgs) await p.s.release();
