import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { asFloatMap, decodeDetections } from './decode.js';
import { Engine } from './engine.js';
import { OverlayRenderer } from './overlay.js';
import { mergeServed } from '../adaptation/learner/tails-tf-post.js';

// The bundled package (models/default, built by training/build.sh) must always load and run.
const MODEL_DIR = fileURLToPath(new URL('../../models/default', import.meta.url));

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.create({ modelDir: MODEL_DIR, providers: ['cpu'], threads: 1 });
});
afterAll(() => engine?.dispose());

// The candidate's seg_feat at a size off its ladder: onnxruntime directly (the engine keeps to the ladder).
async function candidateSegFeat(frame: { width: number; height: number; data: Uint8Array }, side: number): Promise<{ dims: number[]; data: Float32Array }> {
  const dir = fileURLToPath(new URL('../../models/candidates/real', import.meta.url));
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: { model: string; tails: string } };
  const tails = JSON.parse(readFileSync(join(dir, manifest.files.tails), 'utf8')) as Record<string, { shape: number[]; data: number[] }>;
  const session = await ort.InferenceSession.create(join(dir, manifest.files.model), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = {
      image: new ort.Tensor('uint8', frame.data, [1, frame.height, frame.width, 3]),
      size: new ort.Tensor('int64', BigInt64Array.of(BigInt(side), BigInt(side)), [2]),
    };
    for (const [n, t] of Object.entries(tails)) feeds[n] = new ort.Tensor('float32', Float32Array.from(t.data), t.shape);
    const out = (await session.run(feeds, ['seg_feat'])).seg_feat;
    return { dims: out.dims.slice(1), data: out.data as Float32Array };
  } finally {
    await session.release();
  }
}

// ONNX Resize, mode linear, half_pixel, of a [C, h, w] map to [C, H, W].
function resizeBilinear(src: Float32Array, [C, h, w]: readonly number[], H: number, W: number): Float32Array {
  const out = new Float32Array(C * H * W);
  const axis = (o: number, n: number, m: number): [number, number, number] => {
    const x = Math.min(Math.max((o + 0.5) * (n / m) - 0.5, 0), n - 1);
    const i0 = Math.floor(x);
    return [i0, Math.min(i0 + 1, n - 1), x - i0];
  };
  for (let y = 0; y < H; y++) {
    const [y0, y1, fy] = axis(y, h, H);
    for (let x = 0; x < W; x++) {
      const [x0, x1, fx] = axis(x, w, W);
      for (let c = 0; c < C; c++) {
        const p = (yy: number, xx: number) => src[(c * h + yy) * w + xx];
        const top = p(y0, x0) * (1 - fx) + p(y0, x1) * fx;
        const bottom = p(y1, x0) * (1 - fx) + p(y1, x1) * fx;
        out[(c * H + y) * W + x] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

describe('models/default', () => {
  it('runs a camera frame at every ladder size with contract shapes, then decodes and renders', async () => {
    const m = engine.manifest;
    const K = m.classes.length;
    const frame = { width: 640, height: 360, data: new Uint8Array(640 * 360 * 3).map((_, i) => (i * 7) & 0xff) };
    const overlay = new OverlayRenderer({ depthInset: 0.25, depthRange: [m.depth?.min_m ?? 1, m.depth?.max_m ?? 120] });
    for (const size of m.input.sizes) {
      const [H, W] = size;
      const [out] = await engine.infer([frame], { size });
      const t = out.tensors;
      const sd = m.strides.det;
      expect(t.det_heat?.dims).toEqual([K, H / sd, W / sd]);
      expect(t.det_box?.dims).toEqual([4, H / sd, W / sd]);
      expect(t.seg_mask?.dims).toEqual([H, W]);
      expect(t.depth?.dims).toEqual([H, W]);
      expect((t.seg_mask!.data as Uint8Array).every((v) => v <= 2)).toBe(true);
      expect((t.depth!.data as Float32Array).every((v) => Number.isFinite(v) && v > 0)).toBe(true);
      const dets = decodeDetections(asFloatMap(t.det_heat, 'det_heat'), asFloatMap(t.det_box, 'det_box'), {
        threshold: 0.3,
        maxDetections: 50,
        stride: sd,
        inputSize: size,
        cameraSize: frame,
        classes: m.classes,
      });
      for (const d of dets) expect(d.x1 <= 640 && d.y1 <= 360 && d.x0 >= 0 && d.y0 >= 0).toBe(true);
      const img = overlay.render({
        image: frame,
        mask: { width: W, height: H, data: t.seg_mask!.data as Uint8Array },
        depth: { width: W, height: H, data: t.depth!.data as Float32Array },
        detections: dets,
      });
      expect([img.width, img.height]).toEqual([W, H]);
    }
  });

  // models/default = models/synthetic (trained on the synthetic world) + the real-roads network
  // (models/candidates/real) as a branch at 352x352 in the same graph (training/coco_head.py
  // --seg-from): its segmentation features feed the seg tail, its FastestDet predictions are
  // merged into det_heat / det_box.
  it('is the synthetic package with the real-roads branch: same detection features and depth; real-trained seg; boxes merged; batches', async () => {
    const synthetic = await Engine.create({ modelDir: fileURLToPath(new URL('../../models/synthetic', import.meta.url)), providers: ['cpu'], threads: 1 });
    try {
      const a = { width: 320, height: 180, data: new Uint8Array(320 * 180 * 3).map((_, i) => ((i % 960) * 5 + Math.floor(i / 480)) & 0xff) };
      const b = { width: 320, height: 180, data: new Uint8Array(320 * 180 * 3).map((_, i) => (i * 13 + (i >> 9)) & 0xff) };
      const outputs = ['det_heat', 'det_box', 'seg_mask', 'seg_feat', 'depth', 'det_feat'] as const;
      const [mine, other] = await engine.infer([a, b], { outputs: [...outputs] });
      const [ref] = await synthetic.infer([a], { outputs: [...outputs] });
      const [alone] = await engine.infer([a], { outputs: [...outputs] });
      expect(Array.from(mine.tensors.det_feat!.data as ArrayLike<number>)).toEqual(Array.from(ref.tensors.det_feat!.data as ArrayLike<number>));
      // depth: the same 1×1 tail, read off the centre of the widened one (default 1.3.0; the sums
      // run in another order, so equal to float rounding, not bit for bit)
      const dm = mine.tensors.depth!.data as Float32Array;
      const dr = ref.tensors.depth!.data as Float32Array;
      expect(dm.length).toBe(dr.length);
      let worstDepth = 0;
      for (let i = 0; i < dm.length; i++) worstDepth = Math.max(worstDepth, Math.abs(dm[i] - dr[i]) / dr[i]);
      expect(worstDepth).toBeLessThan(1e-5);
      // seg_feat = [the candidate's own, run at 352x352 and resized (bilinear, half-pixel) to the
      // seg grid | the synthetic network's]; the seg tail reads both (zero weights on the second at build)
      const donor = await candidateSegFeat(a, 352);
      const feat = mine.tensors.seg_feat!;
      const own = ref.tensors.seg_feat!;
      const C = donor.dims[0];
      expect(feat.dims).toEqual([C + own.dims[0], own.dims[1], own.dims[2]]);
      const plane = own.dims[1] * own.dims[2];
      const resized = resizeBilinear(donor.data, donor.dims, own.dims[1], own.dims[2]);
      const served = feat.data as Float32Array;
      let worstSeg = 0;
      for (let i = 0; i < resized.length; i++) worstSeg = Math.max(worstSeg, Math.abs(resized[i] - served[i]));
      expect(worstSeg).toBeLessThan(1e-3);
      expect(Array.from(served.subarray(C * plane))).toEqual(Array.from(own.data as Float32Array));
      const spec = engine.manifest.tails.seg;
      expect(spec.in).toBe(C + synthetic.manifest.tails.seg.in);
      expect(spec.layers).toEqual(synthetic.manifest.tails.seg.layers);
      // a batch of two runs each frame as it runs alone (the branch's reshapes are batch-free)
      for (const k of outputs) {
        const x = mine.tensors[k]!.data as ArrayLike<number>;
        const y = alone.tensors[k]!.data as ArrayLike<number>;
        let worst = 0;
        for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(Number(x[i]) - Number(y[i])));
        expect(worst, k).toBeLessThan(1e-4);
      }
      expect(other.tensors.det_heat!.dims).toEqual(mine.tensors.det_heat!.dims);
      // merged heat: every cell is the synthetic head's value or FastestDet's, peaks only
      const h = mine.tensors.det_heat!.data as Float32Array;
      const s = ref.tensors.det_heat!.data as Float32Array;
      let same = 0;
      for (let i = 0; i < h.length; i++) {
        expect(h[i]).toBeGreaterThanOrEqual(0);
        expect(h[i]).toBeLessThanOrEqual(1);
        if (h[i] === s[i]) same++;
      }
      expect(same / h.length).toBeGreaterThan(0.9);
      expect((engine.manifest as unknown as Record<string, unknown>).detection).toMatchObject({ coco_head: { alpha: 0.75 } });
      // the graph's merge is the learner's (mergeServed): the gate scores candidates as served
      const [extras] = await engine.infer([a], { outputs: ['coco_heat', 'coco_box'] });
      const map = (t: (typeof extras.tensors)['det_heat']) => ({ dims: t!.dims.slice(), data: t!.data as Float32Array });
      const js = mergeServed({ heat: map(ref.tensors.det_heat), box: map(ref.tensors.det_box) }, { heat: map(extras.tensors.coco_heat), box: map(extras.tensors.coco_box) });
      let off = 0;
      for (let i = 0; i < h.length; i++) if (Math.abs(js.heat.data[i] - h[i]) > 1e-5) off++;
      expect(off / h.length).toBeLessThan(0.002); // a peak tie may fall either way
      expect((extras.tensors.coco_heat!.data as Float32Array).some((v) => v > 0)).toBe(true);
      // a package without them is asked for them in vain, not refused (the learner's features ask every package)
      const [none] = await synthetic.infer([a], { outputs: ['det_heat', 'coco_heat', 'coco_box'] });
      expect(none.tensors.coco_heat).toBeUndefined();
      expect(none.tensors.det_heat).toBeDefined();
    } finally {
      await synthetic.dispose();
    }
  });

  // The branch's square side follows the ladder (352 at the default width, scaled with the width
  // and rounded to a multiple of 32): a lower rung lowers its cost too, which the scheduler needs
  // when cameras overrun their budget (training/coco_head.py donor_side).
  it("runs the real-roads branch at a side that follows the rung's width", async () => {
    const frame = { width: 320, height: 180, data: new Uint8Array(320 * 180 * 3).map((_, i) => ((i % 960) * 3 + Math.floor(i / 640)) & 0xff) };
    const sizes = engine.manifest.input.sizes;
    const sides = sizes.map(([, W]) => Math.max(2, Math.round((W * 352) / (sizes[0][1] * 32))) * 32);
    expect(sides[0]).toBe(352);
    expect(new Set(sides).size).toBe(sides.length);
    for (const [i, size] of sizes.entries()) {
      const [out] = await engine.infer([frame], { size, outputs: ['seg_feat'] });
      const donor = await candidateSegFeat(frame, sides[i]);
      const feat = out.tensors.seg_feat!;
      const resized = resizeBilinear(donor.data, donor.dims, feat.dims[1], feat.dims[2]);
      const served = feat.data as Float32Array;
      let worst = 0;
      for (let j = 0; j < resized.length; j++) worst = Math.max(worst, Math.abs(resized[j] - served[j]));
      expect(worst, `${size.join('x')}: the branch at ${sides[i]}x${sides[i]}`).toBeLessThan(1e-3);
    }
  });
});
