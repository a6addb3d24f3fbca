import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import type { RunnerTensor } from '../../engine/runner.js';
import { loadModelPackage, type ModelPackage } from '../../model/package.js';
import type { FeatureMap } from './store-types.js';
import { depthFromRaw, detOutputs, segArgmax, segEntropy, toPlanar, upsampleBilinear } from './tails-tf-post.js';
import { featureRows, initTf, TfTails } from './tails-tf.js';

const MODEL_DIR = fileURLToPath(new URL('../../../models/default', import.meta.url));
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
