/**
 * Which quantized ops put the most noise into the outputs (src/compress/sensitivity.ts): the
 * INT8 graph with ONE op quantized at a time against FP32 on held-out frames, ranked by the
 * op's share of the whole graph's noise (depth log-ratio RMS + det_heat |diff| + changed
 * seg_mask pixels, each relative to every op quantized). This chose the quantizer's
 * `keepFirstConvs` default (src/compress/build.ts); `quantize --max-loss` uses the same ranking.
 *
 *   npx tsx bench/int8-sensitivity.ts [--model DIR] [--frames N] [--top N] [--json]
 */
import { resolve } from 'node:path';
import { DEFAULT_METHOD, feedsFor } from '../src/compress/build.js';
import { opSensitivity } from '../src/compress/sensitivity.js';
import { loadModelPackage } from '../src/model/package.js';
import { calibrate } from '../src/model/quantize/calibrate.js';
import { readModel } from '../src/model/quantize/onnx.js';
import { resizeFirst } from '../src/model/quantize/preprocess.js';
import { planQdq } from '../src/model/quantize/qdq.js';
import { calibrationFrames, heldoutFrames } from './eval-frames.js';

const argv = process.argv.slice(2);
const val = (k: string, d: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const log = (l: string) => process.stderr.write(`${l}\n`);
const pkg = await loadModelPackage(resolve(val('--model', 'models/default')), { precision: 'fp32' });
const sizes = pkg.manifest.input.sizes;
const held = (await heldoutFrames(40, log)).filter((_, i, a) => i % Math.max(1, Math.floor(a.length / Number(val('--frames', '12')))) === 0);
const calib = (await calibrationFrames(16, log)).map((f, i) => feedsFor(pkg, f.image, sizes[i % sizes.length]));
const src = readModel(pkg.modelPath);
resizeFirst(src);
const base = { keepFirstConvs: 0 };
const plan = planQdq(src, base);
const ranges = await calibrate(src, [...plan.tensors, ...plan.observe], calib, { method: DEFAULT_METHOD, log });
const { all, ops } = await opSensitivity(src, ranges, held.map((f) => feedsFor(pkg, f.image, sizes[0])), base, log);
if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ all, ops }, null, 2)}\n`);
else {
  process.stdout.write(`every op quantized: depth log-RMS ${all.depth_log_rms}, det_heat |diff| ${all.det_heat_abs}, seg_mask changed ${all.seg_changed}\nscore  depth  det_heat  seg  op\n`);
  for (const r of ops.slice(0, Number(val('--top', '15')))) {
    process.stdout.write(`${r.score.toFixed(3)}  ${r.depth_log_rms.toFixed(5)}  ${r.det_heat_abs.toFixed(3)}  ${r.seg_changed.toFixed(5)}  ${r.op}\n`);
  }
}
