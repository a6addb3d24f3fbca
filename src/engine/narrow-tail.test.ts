import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUTPUTS, Engine } from './engine.js';
import { isNarrow, keepOutputs, narrowSpecs, narrowTailGraph, servingGraph, type NarrowSpec } from './narrow-tail.js';
import { loadModelPackage, type ModelPackage } from '../model/package.js';
import { readModel } from '../model/quantize/onnx.js';
import { PerceptionError } from '../core/errors.js';
import { openOrtSession } from './session.js';

const MODEL_DIR = fileURLToPath(new URL('../../models/default', import.meta.url));
const frame = { width: 320, height: 180, data: new Uint8Array(320 * 180 * 3).map((_, i) => ((i % 960) * 7 + Math.floor(i / 320)) & 0xff) };
const OUTS = ['det_heat', 'det_box', 'seg_mask', 'depth', 'det_feat'] as const;
let pkg: ModelPackage;
const specOf = (head: NarrowSpec['head']) => narrowSpecs(pkg.manifest).find((s) => s.head === head)!;
let narrow: Engine;
let wide: Engine;

beforeAll(async () => {
  pkg = await loadModelPackage(MODEL_DIR);
  // The narrow graph keeps only the engine's outputs: these tests fetch det_feat too.
  narrow = await Engine.create({ modelDir: MODEL_DIR, providers: ['cpu'], threads: 1, outputs: [...DEFAULT_OUTPUTS, 'det_feat'] });
  wide = await Engine.create({ modelDir: MODEL_DIR, providers: ['cpu'], threads: 1, narrowTail: false });
});
afterAll(async () => {
  await narrow?.dispose();
  await wide?.dispose();
});

describe('widened tails, narrow graph', () => {
  it('the default ships widened det, seg and depth tails whose shipped weights are narrow', () => {
    expect(narrowSpecs(pkg.manifest).map((s) => s.head)).toEqual(['det', 'seg', 'depth']);
    for (const head of ['det', 'depth'] as const) {
      const spec = specOf(head);
      expect(spec.kernel).toBe(3);
      expect(spec.trunk).toBe(pkg.manifest.tails[head].in - pkg.manifest.tails[head].tap!.channels);
      expect(spec.keep).toBe(1);
    }
    // seg: the real-roads features under a trained 3×3 layer, the synthetic network's channels as its tap
    const seg = pkg.manifest.tails.seg;
    expect(specOf('seg')).toEqual({ head: 'seg', trunk: seg.in - seg.tap!.channels, in: seg.in, kernel: 3, keep: 3, tap: seg.tap!.tensor });
    expect(narrow.hasNarrowTail).toBe(true);
    expect(wide.hasNarrowTail).toBe(false);
    expect(narrow.currentWeights.narrow).toBe(true);
    expect(typeof servingGraph(pkg.modelPath, pkg.manifest, pkg.tails)).not.toBe('string');
  });

  it('isNarrow: any weight off the centre tap or on a tap channel makes a set wide', () => {
    const spec = { trunk: 2, kernel: 3 };
    const w = new Float32Array(1 * 3 * 9);
    w[0 * 9 + 4] = 1;
    w[1 * 9 + 4] = -2;
    expect(isNarrow(w, 1, 3, spec)).toBe(true);
    expect(isNarrow(w.map((v, i) => (i === 3 ? 0.1 : v)), 1, 3, spec)).toBe(false); // off-centre
    expect(isNarrow(w.map((v, i) => (i === 2 * 9 + 4 ? 0.1 : v)), 1, 3, spec)).toBe(false); // the tap's channel
    // keeping the 3×3 (narrow_kernel 3): any tap on the trunk channels, none on the tap's
    const keep3 = { trunk: 2, kernel: 3, keep: 3 };
    expect(isNarrow(w.map((v, i) => (i === 3 ? 0.1 : v)), 1, 3, keep3)).toBe(true);
    expect(isNarrow(w.map((v, i) => (i === 2 * 9 + 0 ? 0.1 : v)), 1, 3, keep3)).toBe(false);
  });

  it('the narrow graph reads the trunk of a [trunk | tap] concatenation itself, keeping the trained 3×3', () => {
    const g = narrowTailGraph(readModel(pkg.modelPath), pkg.manifest)!;
    const convOf = (w: string) => g.graph.node.find((n) => n.opType === 'Conv' && n.input[1] === w)!;
    const seg = convOf('narrow_tail/seg/w0');
    const cat = g.graph.node.find((n) => n.output.includes('seg_feat'))!;
    expect(cat.opType).toBe('Concat');
    expect(seg.input[0]).toBe(cat.input[0]);
    expect(g.graph.node.some((n) => n.name === 'narrow_tail/seg/SliceFeat')).toBe(false);
    const k = seg.attribute!.find((a) => a.name === 'kernel_shape')!;
    expect(Array.from(k.ints!, Number)).toEqual([3, 3]);
  });

  it('the narrow graph gives the wide graph outputs for the shipped weights, at every ladder size', async () => {
    for (const size of pkg.manifest.input.sizes) {
      const [a] = await narrow.infer([frame], { size, outputs: [...OUTS] });
      const [b] = await wide.infer([frame], { size, outputs: [...OUTS] });
      for (const name of OUTS) {
        const x = a.tensors[name]!.data as ArrayLike<number>;
        const y = b.tensors[name]!.data as ArrayLike<number>;
        expect(x.length).toBe(y.length);
        let worst = 0;
        for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(Number(x[i]) - Number(y[i])));
        expect(worst, `${name} at ${size.join('x')}`).toBeLessThan(1e-4);
      }
    }
  });

  it("the narrow graph keeps only the engine's outputs: the synthetic segmentation trunk, read only by seg_feat, is not run; a run that fetches seg_feat takes the wide graph", async () => {
    const full = narrowTailGraph(readModel(pkg.modelPath), pkg.manifest)!;
    const lean = narrowTailGraph(readModel(pkg.modelPath), pkg.manifest, DEFAULT_OUTPUTS)!;
    expect(lean.graph.output.map((o) => o.name)).toEqual(full.graph.output.map((o) => o.name).filter((n) => (DEFAULT_OUTPUTS as readonly (string | undefined)[]).includes(n)));
    const makes = (g: typeof full, t: string) => g.graph.node.some((n) => n.output.includes(t));
    const own = pkg.manifest.tails.seg.tap!.tensor;
    expect(makes(full, own)).toBe(true);
    expect(makes(lean, own)).toBe(false);
    expect(makes(lean, 'depth') && makes(lean, 'seg_mask') && makes(lean, 'det_heat')).toBe(true);
    expect(lean.graph.node.length).toBeLessThan(full.graph.node.length);
    expect(() => keepOutputs(readModel(pkg.modelPath), ['det_heat', 'nonsense'])).toThrow(/no output 'nonsense'/);
    // which session ran: count the runs of each
    const runs = { narrow: 0, wide: 0 };
    const e = await Engine.create({
      modelDir: MODEL_DIR,
      providers: ['cpu'],
      threads: 1,
      open: async (path, provider, opts) => {
        const r = await openOrtSession(path, provider, opts);
        const which = path.endsWith('(narrow tails)') ? 'narrow' : 'wide';
        const run = r.run.bind(r);
        r.run = (feeds, fetches) => {
          runs[which]++;
          return run(feeds, fetches);
        };
        return r;
      },
    });
    try {
      const before = { ...runs };
      const [a] = await e.infer([frame]);
      expect(runs.narrow).toBe(before.narrow + 1);
      const [b] = await e.infer([frame], { outputs: ['seg_mask', 'seg_feat'] });
      expect(runs.wide).toBe(before.wide + 1);
      expect(b.tensors.seg_feat!.dims[0]).toBe(pkg.manifest.tails.seg.in);
      expect(Array.from(b.tensors.seg_mask!.data as Uint8Array)).toEqual(Array.from(a.tensors.seg_mask!.data as Uint8Array));
    } finally {
      await e.dispose();
    }
  });

  it("an engine asked for the learner's features keeps them in its narrow graph, and outputs its package lacks do not cost it the narrow graph", async () => {
    const features = ['det_feat', 'seg_feat', 'depth_feat', 'feat_mean', 'coco_heat', 'coco_box'] as const;
    for (const dir of [MODEL_DIR, fileURLToPath(new URL('../../models/synthetic', import.meta.url))]) {
      const lines: string[] = [];
      const e = await Engine.create({ modelDir: dir, providers: ['cpu'], threads: 1, outputs: [...DEFAULT_OUTPUTS, ...features], log: (l) => lines.push(l) });
      try {
        expect(e.hasNarrowTail, `${dir}: ${lines.join('; ')}`).toBe(true);
        const [r] = await e.infer([frame], { outputs: [...DEFAULT_OUTPUTS, ...features] });
        expect(r.tensors.seg_feat!.dims[0]).toBe(e.manifest.tails.seg.in);
      } finally {
        await e.dispose();
      }
    }
  });

  it('an adapted set that reads the tap runs the wide graph', async () => {
    const w = new Map(pkg.tails);
    const w0 = pkg.tails.get('det_w0')!;
    const data = Float32Array.from(w0.data);
    const spec = specOf('det');
    // one weight on a tap channel, off-centre: big enough to move the heat map
    for (let o = 0; o < w0.shape[0]; o++) data[((o * w0.shape[1] + spec.trunk) * 3 + 0) * 3 + 0] = 0.5;
    w.set('det_w0', { shape: w0.shape, data });
    const set = narrow.makeWeightSet(w, 'tap');
    expect(set.narrow).toBe(false);
    const [a] = await narrow.infer([frame], { weights: set, outputs: ['det_box'] });
    const [b] = await wide.infer([frame], { weights: wide.makeWeightSet(w, 'tap'), outputs: ['det_box'] });
    const [c] = await narrow.infer([frame], { outputs: ['det_box'] });
    expect(Array.from(a.tensors.det_box!.data as Float32Array)).toEqual(Array.from(b.tensors.det_box!.data as Float32Array));
    expect(Array.from(a.tensors.det_box!.data as Float32Array)).not.toEqual(Array.from(c.tensors.det_box!.data as Float32Array));
  });

  it('an adapted set whose seg tail reads its tap (the synthetic network\'s channels) runs the wide graph', async () => {
    const w = new Map(pkg.tails);
    const w0 = pkg.tails.get('seg_w0')!;
    const [out, cin] = w0.shape;
    const trunk = specOf('seg').trunk;
    const data = Float32Array.from(w0.data);
    for (let o = 0; o < out; o++) for (let c = trunk; c < cin; c++) data[((o * cin + c) * 3 + 1) * 3 + 1] = data[((o * cin + (c - trunk)) * 3 + 1) * 3 + 1]; // the tap's centre copies the trunk's
    w.set('seg_w0', { shape: w0.shape, data });
    const set = narrow.makeWeightSet(w, 'seg-wide');
    expect(set.narrow).toBe(false);
    const [a] = await narrow.infer([frame], { weights: set, outputs: ['seg_mask'] });
    const [b] = await wide.infer([frame], { weights: wide.makeWeightSet(w, 'seg-wide'), outputs: ['seg_mask'] });
    const [c] = await narrow.infer([frame], { outputs: ['seg_mask'] });
    expect(Array.from(a.tensors.seg_mask!.data as Uint8Array)).toEqual(Array.from(b.tensors.seg_mask!.data as Uint8Array));
    expect(Array.from(a.tensors.seg_mask!.data as Uint8Array)).not.toEqual(Array.from(c.tensors.seg_mask!.data as Uint8Array));
  });

  it('a narrow session that fails to open leaves the engine on the wide graph, logged', async () => {
    const lines: string[] = [];
    const e = await Engine.create({
      modelDir: MODEL_DIR,
      providers: ['cpu'],
      threads: 1,
      log: (l) => lines.push(l),
      open: (path, provider, opts) => (path.endsWith('(narrow tails)') ? Promise.reject(new Error('out of memory')) : openOrtSession(path, provider, opts)),
    });
    try {
      expect(e.hasNarrowTail).toBe(false);
      expect(lines.some((l) => /narrow tails did not open.*out of memory/.test(l))).toBe(true);
      const [a] = await e.infer([frame], { outputs: ['det_box'] });
      const [b] = await narrow.infer([frame], { outputs: ['det_box'] });
      const x = a.tensors.det_box!.data as Float32Array;
      const y = b.tensors.det_box!.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await e.dispose();
    }
  });

  it('narrows a tail whose Conv reads det_feat through another node (as an INT8 variant\'s dequantize)', () => {
    const m = readModel(join(MODEL_DIR, pkg.manifest.files.model));
    const at = m.graph.node.findIndex((n) => n.input[1] === 'det_w0');
    m.graph.node.splice(at, 0, { opType: 'Identity', input: ['det_feat'], output: ['det_feat_dq'], name: 'dq', attribute: [] });
    m.graph.node[at + 1].input[0] = 'det_feat_dq';
    const g = narrowTailGraph(m, pkg.manifest)!;
    const slice = g.graph.node.find((n) => n.name === 'narrow_tail/det/SliceFeat')!;
    expect(slice.input[0]).toBe('det_feat_dq');
    expect(g.graph.node.findIndex((n) => n.name === 'dq')).toBeLessThan(g.graph.node.indexOf(slice));
  });

  it('BAD INPUT: a manifest that claims a widened tail the graph lacks is refused, naming the field', () => {
    const m = readModel(join(MODEL_DIR, pkg.manifest.files.model));
    for (const n of m.graph.node) if (n.input[1] === 'det_w0') n.input[1] = 'renamed';
    try {
      narrowTailGraph(m, pkg.manifest);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PerceptionError);
      expect((err as PerceptionError).message).toMatch(/det_w0/);
    }
  });
});
