import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { DEFAULT_OUTPUTS } from '../src/engine/engine.js';
import { loadModelPackage } from '../src/model/package.js';
import { servingGraph } from '../src/engine/narrow-tail.js';
import { ensureBag, loadImages } from './frames.js';
const one = { cameras: ['front'], frames: 60, seed: 4242, width: 1280, height: 720, rateHz: 30 } as any;
const images = (await loadImages(await ensureBag(one, console.log))).slice(0, 60);
const modelDir = 'models/default';
const pkg = await loadModelPackage(modelDir);
const [H, W] = pkg.manifest.input.sizes[0];
const graph = servingGraph(join(modelDir, pkg.manifest.files.model), pkg.manifest, pkg.tails);
const fixed: Record<string, ort.Tensor> = { size: new ort.Tensor('int64', BigInt64Array.of(BigInt(H), BigInt(W)), [2]) };
for (const [name, t] of pkg.tails) fixed[name] = new ort.Tensor('float32', t.data, [...t.shape]);
const mk = async (o: ort.InferenceSession.SessionOptions) => ort.InferenceSession.create(graph as any, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', ...o });
const cfgs: [string, ort.InferenceSession.SessionOptions][] = [
  ['t2 spin', { intraOpNumThreads: 2 }],
  ['t2 nospin', { intraOpNumThreads: 2, extra: { session: { intra_op: { allow_spinning: '0' } } } }],
  ['t1', { intraOpNumThreads: 1 }],
];
const sess = await Promise.all(cfgs.map(([, o]) => mk(o)));
const stats = cfgs.map(() => [] as number[]);
for (let r = 0; r < 3; r++) for (let k = 0; k < cfgs.length; k++) {
  const s = sess[k];
  for (let i = 0; i < 5; i++) await s.run({ ...fixed, image: new ort.Tensor('uint8', images[i].data.subarray(0, 1280*720*3), [1, 720, 1280, 3]) }, [...DEFAULT_OUTPUTS]);
  for (const img of images) {
    const t0 = performance.now();
    await s.run({ ...fixed, image: new ort.Tensor('uint8', img.data.subarray(0, 1280*720*3), [1, 720, 1280, 3]) }, [...DEFAULT_OUTPUTS]);
    stats[k].push(performance.now() - t0);
  }
}
for (let k = 0; k < cfgs.length; k++) { const s = stats[k].sort((a, b) => a - b); console.log(cfgs[k][0], 'median', s[s.length >> 1].toFixed(2), 'p90', s[Math.floor(s.length * 0.9)].toFixed(2)); }
