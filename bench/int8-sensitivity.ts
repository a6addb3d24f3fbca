/**
 * Which quantized ops put the most noise into the outputs: the INT8 graph with ONE op
 * quantized at a time (everything else FP32), against FP32 on held-out frames. Prints, per
 * op, the RMS of log(depth_int8 / depth_fp32) and the mean summed |det_heat| difference, worst
 * first, beside the same figures with every op quantized. This is what chose the quantizer's
 * `keepFirstConvs` default (src/compress/build.ts); re-run it on a new model.
 *
 *   npx tsx bench/int8-sensitivity.ts [--model DIR] [--frames N] [--top N] [--json]
 */
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DEFAULT_METHOD, feedsFor } from '../src/compress/build.js';
import { loadModelPackage } from '../src/model/package.js';
import { calibrate } from '../src/model/quantize/calibrate.js';
import { encodeModel, readModel, type ModelProto } from '../src/model/quantize/onnx.js';
import { resizeFirst } from '../src/model/quantize/preprocess.js';
import { applyQdq, planQdq, type QdqOptions } from '../src/model/quantize/qdq.js';
import { calibrationFrames, heldoutFrames } from './eval-frames.js';

const argv = process.argv.slice(2);
const val = (k: string, d: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const log = (l: string) => process.stderr.write(`${l}\n`);
const pkg = await loadModelPackage(resolve(val('--model', 'models/default')), { precision: 'fp32' });
const size = pkg.manifest.input.sizes[0];
const held = (await heldoutFrames(40, log)).filter((_, i, a) => i % Math.max(1, Math.floor(a.length / Number(val('--frames', '12')))) === 0);
const calib = (await calibrationFrames(16, log)).map((f, i) => feedsFor(pkg, f.image, pkg.manifest.input.sizes[i % pkg.manifest.input.sizes.length]));
const src = readModel(pkg.modelPath);
resizeFirst(src);
const base: QdqOptions = { keepFirstConvs: 0 };
const plan = planQdq(src, base);
const ranges = await calibrate(src, [...plan.tensors, ...plan.observe], calib, { method: DEFAULT_METHOD, log });
const feeds = held.map((f) => feedsFor(pkg, f.image, size));
ort.env.logLevel = 'error';
const ref = await ort.InferenceSession.create(encodeModel(src));
const refOut: ort.InferenceSession.OnnxValueMapType[] = [];
for (const f of feeds) refOut.push(await ref.run(f, ['depth', 'det_heat']));
await ref.release();

async function noise(m: ModelProto): Promise<{ depth_log_rms: number; det_heat_abs: number }> {
  const s = await ort.InferenceSession.create(encodeModel(m));
  let sl2 = 0;
  let n = 0;
  let hd = 0;
  for (let i = 0; i < feeds.length; i++) {
    const o = await s.run(feeds[i], ['depth', 'det_heat']);
    const x = refOut[i].depth.data as Float32Array;
    const y = o.depth.data as Float32Array;
    for (let j = 0; j < x.length; j++) {
      const l = Math.log(y[j] / x[j]);
      sl2 += l * l;
      n++;
    }
    const a = refOut[i].det_heat.data as Float32Array;
    const b = o.det_heat.data as Float32Array;
    for (let j = 0; j < a.length; j++) hd += Math.abs(a[j] - b[j]);
  }
  await s.release();
  return { depth_log_rms: Math.round(Math.sqrt(sl2 / n) * 1e5) / 1e5, det_heat_abs: Math.round((hd / feeds.length) * 1e3) / 1e3 };
}

const all = await noise(applyQdq(src, plan, ranges, base).model);
log(`int8-sensitivity: every op quantized: ${JSON.stringify(all)}; now ${plan.quantized.length} ops one at a time on ${feeds.length} frames`);
const rows: { op: string; depth_log_rms: number; det_heat_abs: number }[] = [];
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
for (const op of plan.quantized) {
  const o: QdqOptions = { ...base, exclude: [new RegExp(`^(?!${esc(op)}$)`)] };
  const p1 = planQdq(src, o);
  if (p1.quantized.length !== 1) continue;
  rows.push({ op, ...(await noise(applyQdq(src, p1, ranges, o).model)) });
}
rows.sort((a, b) => b.depth_log_rms - a.depth_log_rms);
const top = rows.slice(0, Number(val('--top', '15')));
if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ all, ops: rows }, null, 2)}\n`);
else {
  process.stdout.write(`all ops quantized: depth log-RMS ${all.depth_log_rms}, det_heat |diff| ${all.det_heat_abs}\n`);
  for (const r of top) process.stdout.write(`${r.depth_log_rms.toFixed(5)}  ${r.det_heat_abs.toFixed(3).padStart(8)}  ${r.op}\n`);
}
