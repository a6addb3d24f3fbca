/**
 * Per-op quantization sensitivity: the INT8 graph with ONE op quantized at a time (everything
 * else FP32), against FP32 on a few frames. Noise per output: depth — RMS of log(depth ratio);
 * detection — mean |det_heat difference| summed over the map; segmentation — share of seg_mask
 * pixels that change. `score` adds the three, each divided by its value with every op
 * quantized, so the ops are ranked by their share of the whole graph's noise.
 * Used by `quantize --max-loss` (the most sensitive ops stay FP32 until INT8 is within the
 * loss) and printed by bench/int8-sensitivity.ts.
 */
import * as ort from 'onnxruntime-node';
import type { Range } from '../model/quantize/calibrate.js';
import { encodeModel, type ModelProto } from '../model/quantize/onnx.js';
import { applyQdq, planQdq, type QdqOptions } from '../model/quantize/qdq.js';

export interface Noise {
  depth_log_rms: number;
  det_heat_abs: number;
  seg_changed: number;
}

export interface OpSensitivity extends Noise {
  op: string;
  /** Share of the all-quantized noise, summed over the three outputs. */
  score: number;
}

const FETCH = ['depth', 'det_heat', 'seg_mask'];

async function outputs(model: ModelProto, feeds: readonly Record<string, ort.Tensor>[]) {
  const s = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'all' });
  try {
    const out = [];
    for (const f of feeds) out.push(await s.run(f, FETCH));
    return out;
  } finally {
    await s.release();
  }
}

type Outs = Awaited<ReturnType<typeof outputs>>;

function noise(ref: Outs, got: Outs): Noise {
  let sl2 = 0;
  let n = 0;
  let hd = 0;
  let changed = 0;
  let px = 0;
  for (let i = 0; i < ref.length; i++) {
    const x = ref[i].depth.data as Float32Array;
    const y = got[i].depth.data as Float32Array;
    for (let j = 0; j < x.length; j++) {
      const l = Math.log(y[j] / x[j]);
      sl2 += l * l;
      n++;
    }
    const a = ref[i].det_heat.data as Float32Array;
    const b = got[i].det_heat.data as Float32Array;
    for (let j = 0; j < a.length; j++) hd += Math.abs(a[j] - b[j]);
    const ma = ref[i].seg_mask.data as Uint8Array;
    const mb = got[i].seg_mask.data as Uint8Array;
    for (let j = 0; j < ma.length; j++) changed += ma[j] === mb[j] ? 0 : 1;
    px += ma.length;
  }
  const r = (v: number) => Math.round(v * 1e6) / 1e6;
  return { depth_log_rms: r(Math.sqrt(sl2 / Math.max(1, n))), det_heat_abs: r(hd / Math.max(1, ref.length)), seg_changed: r(changed / Math.max(1, px)) };
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * Ranks the ops `planQdq(model, base)` would quantize, most sensitive first. `ranges` must
 * cover every tensor of that plan (calibrate `plan.tensors` and `plan.observe`).
 */
export async function opSensitivity(
  model: ModelProto,
  ranges: ReadonlyMap<string, Range>,
  feeds: readonly Record<string, ort.Tensor>[],
  base: QdqOptions = {},
  log: (l: string) => void = () => {},
): Promise<{ all: Noise; ops: OpSensitivity[] }> {
  const plan = planQdq(model, base);
  const ref = await outputs(model, feeds);
  const all = noise(ref, await outputs(applyQdq(model, plan, ranges, base).model, feeds));
  const ops: OpSensitivity[] = [];
  const t0 = performance.now();
  for (const op of plan.quantized) {
    const o: QdqOptions = { ...base, exclude: [...(base.exclude ?? []), new RegExp(`^(?!${esc(op)}$)`)] };
    const p1 = planQdq(model, o);
    if (p1.quantized.length !== 1) continue;
    const nz = noise(ref, await outputs(applyQdq(model, p1, ranges, o).model, feeds));
    const share = (v: number, w: number) => (w > 0 ? v / w : 0);
    ops.push({ op, ...nz, score: Math.round((share(nz.depth_log_rms, all.depth_log_rms) + share(nz.det_heat_abs, all.det_heat_abs) + share(nz.seg_changed, all.seg_changed)) * 1e4) / 1e4 });
    if (ops.length % 10 === 0) log(`sensitivity: ${ops.length}/${plan.quantized.length} ops in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  ops.sort((a, b) => b.score - a.score);
  return { all, ops };
}
