// Raw onnxruntime-node session.run timing of ONNX files, side by side in one process:
//   node training/pretrained/ort_time.mjs FILE:INPUT:N,C,H,W[:dtype] ... [--runs 30] [--threads 2]
// (the model package's own floor, with its uint8 + size + tail inputs, is timed by
// training/bench_floor.mjs).
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? Number(args.splice(i, 2)[1]) : d; };
const runs = opt('--runs', 30);
const threads = opt('--threads', 2);
for (const spec of args) {
  const [file, input, shapeStr, dtype = 'float32'] = spec.split(':');
  const shape = shapeStr.split(',').map(Number);
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'uint8' ? new Uint8Array(n).map((_, i) => (i * 7) & 255) : new Float32Array(n).map((_, i) => ((i * 7) % 255) / 255);
  const feeds = { [input]: new ort.Tensor(dtype, data, shape) };
  for (let i = 0; i < 5; i++) await s.run(feeds);
  const t = [];
  for (let i = 0; i < runs; i++) { const t0 = performance.now(); await s.run(feeds); t.push(performance.now() - t0); }
  t.sort((a, b) => a - b);
  console.log(`${file} ${shapeStr}: p50 ${t[Math.floor(runs / 2)].toFixed(2)} ms, min ${t[0].toFixed(2)} ms`);
}
