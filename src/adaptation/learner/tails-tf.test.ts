import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import type { RunnerTensor } from '../../engine/runner.js';
import { tailRowWidth } from '../../model/manifest.js';
import { loadModelPackage, type ModelPackage } from '../../model/package.js';
import type { FeatureMap } from './store-types.js';
import { depthFromRaw, detOutputs, segArgmax, segEntropy, toPlanar, upsampleBilinear } from './tails-tf-post.js';
import { mulberry32 } from './random.js';
import { HALF_TABLE, halfArray } from './store-codec.js';
import { featureRows, initTf, tailRows, tailRowsBatch, TfTails, type HalfFeatureMap } from './tails-tf.js';

// The synthetic-only package: the trunk and tails of models/default, whose det outputs also carry
// FastestDet's COCO boxes, which the tails do not compute (training/coco_head.py).
const MODEL_DIR = fileURLToPath(new URL('../../../models/synthetic', import.meta.url));
let engine: Engine;
let pkg: ModelPackage;

beforeAll(async () => {
  await initTf();
  pkg = await loadModelPackage(MODEL_DIR);
  engine = await Engine.create({ modelDir: MODEL_DIR, providers: ['cpu'], threads: 1 });
});
afterAll(() => engine?.dispose());

const fmap = (t: RunnerTensor | undefined): FeatureMap => {
  const [c, h, w] = t!.dims;
  return { channels: c, height: h, width: w, data: t!.data as Float32Array };
};

describe('TfTails', () => {
  it('BAD CALL: rejects weights of the wrong shape, naming the tensor', () => {
    const bad = new Map(pkg.tails);
    bad.set('seg_w0', { shape: [1, 1, 1, 1], data: new Float32Array(1) });
    expect(() => TfTails.create(pkg.manifest, bad)).toThrow(/seg_w0/);
  });

  it('round-trips TailWeights (ONNX [out,in,1,1] ↔ tfjs [in,out])', () => {
    const t = TfTails.create(pkg.manifest, pkg.tails);
    const back = t.export();
    for (const [name, w] of pkg.tails) {
      expect(back.get(name)!.shape).toEqual(w.shape);
      expect(Array.from(back.get(name)!.data)).toEqual(Array.from(w.data));
    }
    t.dispose();
    t.dispose();
  });

  it('agrees with the ONNX graph on its own features (default model)', async () => {
    const m = pkg.manifest;
    const K = m.classes.length;
    const [H, W] = m.input.sizes[m.input.sizes.length - 1];
    const frame = { width: 320, height: 180, data: new Uint8Array(320 * 180 * 3).map((_, i) => ((i % 960) * 3 + Math.floor(i / 960)) & 0xff) };
    const [out] = await engine.infer([frame], { size: [H, W], outputs: ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth', 'det_feat', 'seg_feat', 'depth_feat'] });
    const t = out.tensors;
    const tails = TfTails.create(m, pkg.tails);
    // det: heat (peak-suppressed) and boxes at feature resolution
    const df = fmap(t.det_feat);
    const det = detOutputs(tails.applyMap('det', df), K, df.height, df.width);
    const gHeat = t.det_heat!.data as Float32Array;
    let heatBad = 0;
    for (let i = 0; i < gHeat.length; i++) if (Math.abs(gHeat[i] - det.heat.data[i]) > 1e-4) heatBad++;
    expect(heatBad / gHeat.length).toBeLessThan(0.002); // ties at the 3×3 max may differ by rounding
    const gBox = t.det_box!.data as Float32Array;
    for (let i = 0; i < gBox.length; i++) expect(Math.abs(gBox[i] - det.box.data[i])).toBeLessThan(1e-3 * Math.max(1, Math.abs(gBox[i])));
    // seg: entropy (feature resolution) and argmax after the graph's ×2 bilinear upsampling
    const sf = fmap(t.seg_feat);
    const seg = tails.applyMap('seg', sf);
    expect(segEntropy(seg)).toBeCloseTo((t.seg_entropy!.data as Float32Array)[0], 4);
    const segUp = upsampleBilinear(toPlanar(seg, 3), 3, sf.height, sf.width, m.strides.seg);
    const P = H * W;
    const rows = new Float32Array(P * 3);
    for (let c = 0; c < 3; c++) for (let p = 0; p < P; p++) rows[p * 3 + c] = segUp[c * P + p];
    const mask = segArgmax(rows);
    const gMask = t.seg_mask!.data as Uint8Array;
    let same = 0;
    for (let i = 0; i < P; i++) if (mask[i] === gMask[i]) same++;
    expect(same / P).toBeGreaterThan(0.995);
    // depth: ×4 bilinear upsampling of the raw value, then the min·(max/min)^sigmoid mapping
    const pf = fmap(t.depth_feat);
    const up = upsampleBilinear(tails.applyMap('depth', pf), 1, pf.height, pf.width, m.strides.depth);
    const gDepth = t.depth!.data as Float32Array;
    const { min_m, max_m } = m.depth ?? { min_m: 1, max_m: 120 };
    let worst = 0;
    for (let i = 0; i < P; i++) worst = Math.max(worst, Math.abs(depthFromRaw(up[i], min_m, max_m) - gDepth[i]) / gDepth[i]);
    expect(worst).toBeLessThan(1e-3);
    tails.dispose();
  });

  it('a k×k first layer reads the same neighbourhood as the graph (random weights on every tap)', async () => {
    const m = pkg.manifest;
    const k = m.tails.det.layers[0].kernel ?? 1;
    expect(k).toBeGreaterThan(1); // the default ships a widened detection tail (training/widen_tail.py)
    const K = m.classes.length;
    const [H, W] = m.input.sizes[m.input.sizes.length - 1];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.2;
    const w = new Map(pkg.tails);
    const w0 = pkg.tails.get('det_w0')!;
    w.set('det_w0', { shape: w0.shape, data: w0.data.map((v) => v + rnd()) });
    const frame = { width: 320, height: 180, data: new Uint8Array(320 * 180 * 3).map((_, i) => ((i % 960) * 5 + Math.floor(i / 480)) & 0xff) };
    const shipped = engine.currentWeights;
    engine.swapWeights(engine.makeWeightSet(w, 'random-taps'));
    try {
      const [out] = await engine.infer([frame], { size: [H, W], outputs: ['det_heat', 'det_box', 'det_feat'] });
      const df = fmap(out.tensors.det_feat);
      const tails = TfTails.create(m, w);
      const det = detOutputs(tails.applyMap('det', df), K, df.height, df.width);
      const gBox = out.tensors.det_box!.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < gBox.length; i++) worst = Math.max(worst, Math.abs(gBox[i] - det.box.data[i]) / Math.max(1, Math.abs(gBox[i])));
      expect(worst).toBeLessThan(1e-3);
      tails.dispose();
    } finally {
      engine.swapWeights(shipped);
    }
  });

  it('tailRows: k×k neighbourhoods in ONNX weight order, zeros outside the map', () => {
    const f: FeatureMap = { channels: 2, height: 2, width: 3, data: Float32Array.from([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]) };
    const spec = { feature: 'x', in: 2, layers: [{ out: 1, act: 'linear' as const, kernel: 3 }] };
    const rows = tailRows(spec, f, [0, 5]);
    expect(rows.length).toBe(2 * 18);
    // pixel 0 (y 0, x 0): channel 0 rows -1, 0, 1 x cols -1, 0, 1
    expect(Array.from(rows.subarray(0, 9))).toEqual([0, 0, 0, 0, 1, 2, 0, 4, 5]);
    expect(Array.from(rows.subarray(9, 18))).toEqual([0, 0, 0, 0, 10, 20, 0, 40, 50]);
    // pixel 5 (y 1, x 2)
    expect(Array.from(rows.subarray(18, 27))).toEqual([2, 3, 0, 5, 6, 0, 0, 0, 0]);
    // a 1x1 first layer: plain feature rows
    expect(Array.from(tailRows({ ...spec, layers: [{ out: 1, act: 'linear' }] }, f, [4]))).toEqual([5, 50]);
  });

  it('tailRows and tailRowsBatch: every pixel, inside the map and on its border, in any order and repeated, as read one value at a time (k 1, 3 and 5; float32 and float16)', () => {
    const r = mulberry32(11);
    const [C, H, W] = [4, 7, 9];
    const f: FeatureMap = { channels: C, height: H, width: W, data: Float32Array.from({ length: C * H * W }, () => r() - 0.5) };
    const f16: HalfFeatureMap = { channels: C, height: H, width: W, half: halfArray(f.data) };
    const pixels = [...Array.from({ length: 40 }, () => Math.floor(r() * H * W)), 0, W - 1, H * W - 1, (H - 1) * W, 3 * W + 4, 3 * W + 4];
    const other = [5, 0, 2 * W + 3];
    const expected = (m: FeatureMap, px: readonly number[], k: number) => {
      const h = (k - 1) / 2;
      const want: number[] = [];
      for (const at of px) {
        const [y, x] = [Math.floor(at / W), at % W];
        for (let c = 0; c < C; c++) {
          for (let dy = -h; dy <= h; dy++) {
            for (let dx = -h; dx <= h; dx++) {
              const [yy, xx] = [y + dy, x + dx];
              want.push(yy >= 0 && yy < H && xx >= 0 && xx < W ? m.data[c * H * W + yy * W + xx] : 0);
            }
          }
        }
      }
      return Array.from(Float32Array.from(want));
    };
    const decoded: FeatureMap = { ...f, data: Float32Array.from(f16.half, (v) => HALF_TABLE[v]) };
    for (const k of [1, 3, 5]) {
      const spec = { feature: 'x', in: C, layers: [{ out: 1, act: 'linear' as const, ...(k > 1 ? { kernel: k } : {}) }] };
      expect(Array.from(tailRows(spec, f, pixels))).toEqual(expected(f, pixels, k));
      // Two samples in one batch: rows one after the other.
      const { rows, n } = tailRowsBatch(spec, [{ f, pixels }, { f: f16, pixels: other }]);
      expect(n).toBe(pixels.length + other.length);
      expect(Array.from(rows)).toEqual([...expected(f, pixels, k), ...expected(decoded, other, k)]);
    }
    const spec3 = { feature: 'x', in: C + 1, layers: [{ out: 1, act: 'linear' as const, kernel: 3 }] };
    expect(() => tailRowsBatch(spec3, [{ f, pixels }])).toThrow(/feature map has 4 channels, the tail reads 5/);
  });

  it('tailRows and featureRows read a float16 map (the trainer cache) as its float32 decode', () => {
    const r = mulberry32(3);
    const data = Float32Array.from({ length: 3 * 4 * 5 }, () => (r() - 0.5) * 40);
    const half = halfArray(data);
    const decoded = Float32Array.from(half, (h) => HALF_TABLE[h]);
    const f32: FeatureMap = { channels: 3, height: 4, width: 5, data: decoded };
    const f16: HalfFeatureMap = { channels: 3, height: 4, width: 5, half };
    const spec3 = { feature: 'x', in: 3, layers: [{ out: 1, act: 'linear' as const, kernel: 3 }] };
    const spec1 = { feature: 'x', in: 3, layers: [{ out: 1, act: 'linear' as const }] };
    expect(Array.from(tailRows(spec3, f16, [0, 7, 19]))).toEqual(Array.from(tailRows(spec3, f32, [0, 7, 19])));
    expect(Array.from(tailRows(spec1, f16, [3, 11]))).toEqual(Array.from(tailRows(spec1, f32, [3, 11])));
    expect(Array.from(featureRows(f16))).toEqual(Array.from(featureRows(f32)));
    // float16 keeps about three significant digits of the original
    for (let i = 0; i < data.length; i++) expect(Math.abs(decoded[i] - data[i])).toBeLessThanOrEqual(Math.abs(data[i]) * 2 ** -11 + 1e-7);
  });

  it('a k×k head scores a whole map (convolution) exactly as training reads it (tailRows), without leaking', () => {
    const m = pkg.manifest;
    const C = m.tails.det.in;
    const [H, W] = [5, 7];
    const f: FeatureMap = { channels: C, height: H, width: W, data: new Float32Array(C * H * W).map((_, i) => Math.sin(i * 0.37)) };
    let seed = 3;
    const w = new Map(pkg.tails);
    const w0 = pkg.tails.get('det_w0')!;
    w.set('det_w0', { shape: w0.shape, data: w0.data.map(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.3) });
    const tails = TfTails.create(m, w);
    const start = tf.memory().numTensors;
    const map = tails.applyMap('det', f);
    expect(tf.memory().numTensors).toBe(start);
    const rows = tf.tidy(() => tails.apply('det', tf.tensor2d(tailRows(m.tails.det, f), [H * W, tailRowWidth(m.tails.det)])).dataSync() as Float32Array);
    expect(map.length).toBe(rows.length);
    let worst = 0;
    for (let i = 0; i < map.length; i++) worst = Math.max(worst, Math.abs(map[i] - rows[i]));
    expect(worst).toBeLessThan(1e-4);
    expect(Math.max(...rows.map(Math.abs))).toBeGreaterThan(0.01); // not all zeros
    tails.dispose();
  });

  it('a 1×1 head scores a whole map into a plain array that outlives the tails, without leaking', () => {
    const m = pkg.manifest;
    const C = m.tails.depth.in;
    const [H, W] = [4, 6];
    const f: FeatureMap = { channels: C, height: H, width: W, data: new Float32Array(C * H * W).map((_, i) => Math.cos(i * 0.21)) };
    const tails = TfTails.create(m, pkg.tails);
    const start = tf.memory().numTensors;
    const map = tails.applyMap('depth', f);
    expect(tf.memory().numTensors).toBe(start);
    const again = Float32Array.from(map);
    tails.dispose();
    tf.tidy(() => tf.ones([64, 64]).add(1)); // reuse freed backend memory: the array must not be a view of it
    expect(map.length).toBe(H * W);
    expect(Array.from(map)).toEqual(Array.from(again));
  });

  it("a tail's gradients equal plain autodiff of the same layers (the products written without transposed matMuls)", () => {
    const m = pkg.manifest;
    const tails = TfTails.create(m, pkg.tails);
    const rand = mulberry32(11);
    for (const head of ['det', 'seg', 'depth'] as const) {
      const width = tailRowWidth(m.tails[head]);
      const x = tf.tensor2d(Float32Array.from({ length: 37 * width }, () => rand() * 2 - 1), [37, width]);
      const target = tf.tensor2d(Float32Array.from({ length: 37 * m.tails[head].layers.at(-1)!.out }, () => rand()), [37, m.tails[head].layers.at(-1)!.out]);
      const vars = tails.variables([head]);
      const ours = tf.variableGrads(() => tf.sum(tf.square(tf.sub(tails.apply(head, x), target))) as tf.Scalar, vars);
      const reference = tf.variableGrads(() => {
        let y: tf.Tensor2D = x;
        const acts = m.tails[head].layers.map((l) => l.act);
        for (let i = 0; i < acts.length; i++) {
          const z = tf.add(tf.matMul(y, vars[i]), vars[acts.length + i]) as tf.Tensor2D;
          y = acts[i] === 'relu' ? tf.relu(z) : z;
        }
        return tf.sum(tf.square(tf.sub(y, target))) as tf.Scalar;
      }, vars);
      expect(ours.value.dataSync()[0]).toBeCloseTo(reference.value.dataSync()[0], 3);
      for (const v of vars) {
        const a = ours.grads[v.name].dataSync();
        const b = reference.grads[v.name].dataSync();
        const scale = Math.max(...Array.from(b, Math.abs));
        expect(scale).toBeGreaterThan(0);
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        expect(worst / scale).toBeLessThan(1e-4);
      }
      tf.dispose([x, target, ours.value, reference.value, ...Object.values(ours.grads), ...Object.values(reference.grads)]);
    }
    tails.dispose();
  });

  it('leaks no tensors through a training step and disposal', () => {
    const start = tf.memory().numTensors;
    const tails = TfTails.create(pkg.manifest, pkg.tails);
    const opt = tf.train.adam(1e-3);
    const f: FeatureMap = { channels: 32, height: 4, width: 8, data: new Float32Array(32 * 32).map((_, i) => (i % 7) / 7) };
    const x = tf.tensor2d(featureRows(f), [32, 32]);
    const cost = opt.minimize(() => tf.mean(tf.square(tails.apply('depth', x))) as tf.Scalar, true, tails.variables(['depth']));
    cost?.dispose();
    x.dispose();
    opt.dispose();
    tails.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
