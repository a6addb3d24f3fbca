// Prints tfjs training speed for the default model's tails on this machine:
//   npx tsx src/learner/trainer-bench.ts
// Random features and labels at the default 192×384 input (timing only, nothing is learnt).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModelPackage } from '../src/model/package.js';
import { evaluateTails } from '../src/adaptation/learner/gate.js';
import { SampleStore } from '../src/adaptation/learner/store.js';
import { randomFeature, rng } from '../test/support/store.js';
import { initTf, TfTails } from '../src/adaptation/learner/tails-tf.js';
import { Trainer, type TrainSample } from '../src/adaptation/learner/trainer.js';

const pkg = await loadModelPackage(fileURLToPath(new URL('../models/default', import.meta.url)));
const m = pkg.manifest;
const backend = await initTf();
const [H, W] = m.input.sizes[0];
const r = rng(1);
const sample = (): TrainSample => {
  const lane = new Uint8Array(H * W).map(() => Math.floor(r() * 3));
  const depth = new Float32Array(H * W).map(() => 2 + r() * 60);
  const boxes = Array.from({ length: 5 }, () => ({ classIndex: Math.floor(r() * m.classes.length), x0: r() * 500, y0: r() * 250, x1: 0, y1: 0 })).map((b) => ({ ...b, x1: b.x0 + 40, y1: b.y0 + 30 }));
  return {
    inputSize: [H, W],
    cameraSize: { width: 640, height: 360 },
    features: {
      det: randomFeature(m.tails.det.in, H / m.strides.det, W / m.strides.det, r),
      seg: randomFeature(m.tails.seg.in, H / m.strides.seg, W / m.strides.seg, r),
      depth: randomFeature(m.tails.depth.in, H / m.strides.depth, W / m.strides.depth, r),
    },
    labels: { boxes, lane: { width: W, height: H, data: lane }, depth: { width: W, height: H, data: depth } },
  };
};
const samples = Array.from({ length: 8 }, sample);
const src = { newIds: () => [0, 1, 2, 3, 4, 5], oldIds: () => [6, 7], load: (id: number) => samples[id] };
console.log(`backend ${backend}, input ${H}x${W}`);
for (const [spp, pps] of [[4, 512], [4, 2048], [8, 4096]] as const) {
  const t = new Trainer(m, pkg.tails, src, { samplesPerStep: spp, pixelsPerSample: pps });
  await t.trainFor(1500); // warm-up, fills the target cache
  const rep = await t.trainFor(4000);
  console.log(`train: ${spp} frames × ${pps} px/head/step: ${(rep.steps / (rep.ms / 1000)).toFixed(1)} steps/s (${rep.steps} steps in ${rep.ms.toFixed(0)} ms)`);
  t.dispose();
}
const tails = TfTails.create(m, pkg.tails);
let t0 = performance.now();
evaluateTails(tails, samples, m);
console.log(`gate eval: ${((performance.now() - t0) / samples.length).toFixed(1)} ms per sample per weight set`);
tails.dispose();
const dir = mkdtempSync(join(tmpdir(), 'ap-bench-'));
const st = SampleStore.open(join(dir, 'b.db'));
t0 = performance.now();
samples.forEach((s, i) => st.insert({ ...s, camera: 'c', stampNs: BigInt(i), domain: 'new', reasons: ['manual'], scores: {} }, s.labels));
console.log(`store insert (f16 features + labels, synchronous=FULL): ${((performance.now() - t0) / samples.length).toFixed(1)} ms per sample`);
t0 = performance.now();
for (const row of st.list()) st.get(row.id);
console.log(`store read + verify: ${((performance.now() - t0) / samples.length).toFixed(1)} ms per sample`);
// Training from the store with the prepared-sample cache holding a sixth of the samples (what
// the earlier 64-entry cache held of the scenario's 400) against the default 1024 MiB (all).
const N = 120;
for (let i = samples.length; i < N; i++) {
  const s = sample();
  st.insert({ ...s, camera: 'c', stampNs: BigInt(i), domain: 'new', reasons: ['manual'], scores: {} }, s.labels);
}
const ids = st.list({ split: 'train' }).map((row) => row.id);
const perSampleMb = ((m.tails.seg.in * (H / m.strides.seg) * (W / m.strides.seg) + m.tails.depth.in * (H / m.strides.depth) * (W / m.strides.depth)) * 2) / 2 ** 20; // cached as float16
for (const [what, cacheMb] of [['a sixth of the samples', (ids.length / 6.25) * perSampleMb], ['1024 MiB (the default: all)', 1024]] as const) {
  let reads = 0;
  const t = new Trainer(m, pkg.tails, { newIds: () => ids, oldIds: () => [], load: (id) => (reads++, st.get(id)) }, { heads: ['seg', 'depth'], cacheMb });
  await t.trainFor(3000); // warm-up
  reads = 0;
  const rep = await t.trainFor(6000);
  console.log(`train from the store (${ids.length} samples), cache ${what}: ${(rep.ms / rep.steps).toFixed(1)} ms per step, ${(reads / rep.steps).toFixed(2)} store reads per step of 4`);
  t.dispose();
}
st.close();
rmSync(dir, { recursive: true, force: true });
