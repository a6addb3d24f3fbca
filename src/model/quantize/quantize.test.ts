import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyModel } from '../../../test/support/tiny-model/tiny-model.js';
import { isPerceptionError } from '../../core/errors.js';
import { loadModelPackage, type ModelPackage } from '../package.js';
import { calibrate, mseRange } from './calibrate.js';
import { probeTypes, toFloat16, toHalf } from './fp16.js';
import { DT, decodeModel, encodeModel, readModel, type ModelProto } from './onnx.js';
import { resizeFirst } from './preprocess.js';
import { applyQdq, planQdq } from './qdq.js';

let tiny: { dir: string; cleanup: () => void };
let pkg: ModelPackage;
let fp32: ModelProto;
let work: string;

beforeAll(async () => {
  tiny = makeTinyModel();
  pkg = await loadModelPackage(tiny.dir);
  fp32 = readModel(pkg.modelPath);
  work = mkdtempSync(join(tmpdir(), 'ap-quantize-'));
});
afterAll(() => {
  tiny?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

/** A smooth random camera frame (noise alone would make every value an outlier). */
function frame(w: number, h: number, seed: number): Uint8Array {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) d[(y * w + x) * 3 + c] = Math.round(127 + 100 * Math.sin((x + seed * 7) / (9 + c * 3)) * Math.cos((y - seed) / (7 + c)));
    }
  }
  return d;
}

function feeds(seed: number, size: readonly [number, number] = [64, 128]): Record<string, ort.Tensor> {
  const f: Record<string, ort.Tensor> = {
    image: new ort.Tensor('uint8', frame(160, 90, seed), [1, 90, 160, 3]),
    size: new ort.Tensor('int64', BigInt64Array.of(BigInt(size[0]), BigInt(size[1])), [2]),
  };
  for (const [n, t] of pkg.tails) f[n] = new ort.Tensor('float32', t.data, [...t.shape]);
  return f;
}

async function run(model: ModelProto | string, f: Record<string, ort.Tensor>, optimized?: string) {
  const src = typeof model === 'string' ? readFileSync(model) : encodeModel(model);
  const s = await ort.InferenceSession.create(src, {
    graphOptimizationLevel: 'all',
    ...(optimized ? { optimizedModelFilePath: optimized } : {}),
  });
  try {
    return { out: await s.run(f), inputs: [...s.inputNames], outputs: [...s.outputNames] };
  } finally {
    await s.release();
  }
}

const maxRel = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]) / Math.max(1e-3, Math.abs(v))), 0);

describe('onnx protobuf', () => {
  it('round-trips a model byte for byte', () => {
    const bytes = readFileSync(pkg.modelPath);
    expect(Buffer.from(encodeModel(decodeModel(bytes)))).toEqual(bytes);
  });
  it('names the file when the bytes are not a model', () => {
    let err: unknown;
    try {
      decodeModel(Uint8Array.of(1, 2, 3, 250, 250), 'x.onnx');
    } catch (e) {
      err = e;
    }
    expect(isPerceptionError(err, 'MODEL_INVALID')).toBe(true);
    expect(String(err)).toMatch(/x\.onnx is not an ONNX model/);
  });
});

describe('QDQ quantization of the tiny model', () => {
  it('quantizes the constant-weight convs, keeps the tails (weights fed as graph inputs) FP32', () => {
    const plan = planQdq(fp32, { keepFirstConvs: 0 });
    expect(plan.quantized).toHaveLength(3); // the three trunk convs
    expect(plan.foldedRelu).toHaveLength(3);
    const tailConvs = plan.keptFp32.map((k) => k.why);
    expect(tailConvs).toHaveLength(5); // det 2 layers, seg 2, depth 1
    for (const why of tailConvs) expect(why).toMatch(/graph input \(a trainable tail/);
  });

  it('keeps the first N constant-weight convs FP32 when asked', () => {
    const plan = planQdq(fp32, { keepFirstConvs: 2 });
    expect(plan.quantized).toHaveLength(1);
    expect(plan.keptFp32.filter((k) => /keepFirstConvs/.test(k.why))).toHaveLength(2);
  });

  it('runs on integer kernels, keeps the contract inputs and outputs, and stays close to FP32', async () => {
    const opts = { keepFirstConvs: 0 };
    const plan = planQdq(fp32, opts);
    const ranges = await calibrate(fp32, [...plan.tensors, ...plan.observe], [1, 2, 3, 4].map((s) => feeds(s)), { method: 'mse' });
    const q = applyQdq(fp32, plan, ranges, opts).model;
    // Every contract input keeps its name and type (the tails stay float32 graph inputs).
    expect(q.graph.input.map((v) => [v.name, v.type?.tensorType?.elemType])).toEqual(fp32.graph.input.map((v) => [v.name, v.type?.tensorType?.elemType]));
    expect(q.graph.initializer.some((t) => t.dataType === DT.INT8)).toBe(true);
    const optimized = join(work, 'int8.opt.onnx');
    const a = await run(fp32, feeds(9));
    const b = await run(q, feeds(9), optimized);
    expect(b.outputs).toEqual(a.outputs);
    const ops = readModel(optimized).graph.node.map((n) => n.opType);
    expect(ops.filter((o) => o === 'QLinearConv')).toHaveLength(3);
    expect(ops.filter((o) => o === 'Conv' || o === 'FusedConv')).toHaveLength(5); // the tails
    for (const name of a.outputs) {
      expect(b.out[name].type).toBe(a.out[name].type);
      expect(b.out[name].dims).toEqual(a.out[name].dims);
    }
    const fa = a.out.det_feat.data as Float32Array;
    const fb = b.out.det_feat.data as Float32Array;
    const range = fa.reduce((m, v) => Math.max(m, v), 0);
    // Quantization error of one uint8 step (range / 255) plus the input's: a few steps at most.
    expect(fa.reduce((m, v, i) => Math.max(m, Math.abs(v - fb[i])), 0)).toBeLessThan((range / 255) * 6);
  });

  it('refuses a model whose opset cannot carry per-channel scales', () => {
    const old = decodeModel(encodeModel(fp32));
    old.opsetImport = [{ domain: '', version: 11 }];
    expect(() => applyQdq(old, planQdq(old), new Map())).toThrow(/opset >= 13/);
  });

  it('names the tensor whose range is missing', () => {
    const plan = planQdq(fp32, { keepFirstConvs: 0 });
    expect(() => applyQdq(fp32, plan, new Map())).toThrow(/no calibrated range for tensor/);
  });
});

describe('least-squared-error calibration range', () => {
  it('keeps the whole range of evenly spread values', () => {
    const h = new Float64Array(2048).fill(10);
    expect(mseRange(h, 0, 8)).toEqual({ lo: 0, hi: 8 });
  });
  it('clips a lone outlier far beyond the bulk (rounding error dominates otherwise)', () => {
    const h = new Float64Array(2048);
    h.fill(100_000, 0, 256); // 25.6 M values in [0, 1)
    h[2047] = 1; // one value near 8
    const r = mseRange(h, 0, 8);
    expect(r.lo).toBe(0);
    expect(r.hi).toBeLessThan(4);
    expect(r.hi).toBeGreaterThan(1);
  });
});

describe('resize-first preprocessing', () => {
  it('resizes the uint8 image before the cast and matches the FP32 graph to uint8 rounding', async () => {
    const m = decodeModel(encodeModel(fp32));
    expect(resizeFirst(m)).toBe(true);
    const resize = m.graph.node.find((n) => n.opType === 'Resize')!;
    expect(resize.input[0]).toBe('image');
    const a = await run(fp32, feeds(5));
    const b = await run(m, feeds(5));
    // Rounding a pixel to uint8 moves a normalised value by at most 0.5 / 57: depth (a sigmoid of
    // a 1x1 conv of pooled pixels) moves well under 1 %.
    expect(maxRel(a.out.depth.data as Float32Array, b.out.depth.data as Float32Array)).toBeLessThan(0.01);
  });

  it('leaves a graph without the contract preprocessing alone', () => {
    const m = decodeModel(encodeModel(fp32));
    m.graph.node = m.graph.node.filter((n) => n.opType !== 'Cast' || n.input[0] !== 'image');
    const logs: string[] = [];
    expect(resizeFirst(m, (l) => logs.push(l))).toBe(false);
    expect(logs[0]).toMatch(/skipped \('image' does not go through Cast to float\)/);
  });
});

describe('FP16 variant', () => {
  it('converts float32 to IEEE half bits', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(70000)).toBe(0x7c00);
    expect(toHalf(2 ** -24)).toBe(1); // smallest subnormal
    expect(toHalf(1e-9)).toBe(0);
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });

  it('loads on the CPU with the contract inputs and outputs and matches FP32 within half precision', async () => {
    const types = await probeTypes(fp32, feeds(1));
    const { model, report } = toFloat16(fp32, types);
    expect(report.fp16Nodes).toBeGreaterThan(10);
    expect(model.graph.initializer.some((t) => t.dataType === DT.FLOAT16)).toBe(true);
    const a = await run(fp32, feeds(3));
    const b = await run(model, feeds(3));
    expect(b.inputs).toEqual(a.inputs);
    for (const name of a.outputs) expect(b.out[name].type).toBe(a.out[name].type);
    expect(maxRel(a.out.depth.data as Float32Array, b.out.depth.data as Float32Array)).toBeLessThan(0.01);
    const ma = a.out.seg_mask.data as Uint8Array;
    const mb = b.out.seg_mask.data as Uint8Array;
    expect(ma.filter((v, i) => v === mb[i]).length / ma.length).toBeGreaterThan(0.99);
  });
});
