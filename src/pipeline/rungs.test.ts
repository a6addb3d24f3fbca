import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateManifest, type Manifest } from '../model/manifest.js';
import { loadModelPackage } from '../model/package.js';
import type { FrameOutcome } from './frame-runner.js';
import { PerceptionWorker } from './perception-worker.js';
import { defaultLadderVariants, ladderRungs } from './rungs.js';

const MODEL = resolve(import.meta.dirname, '..', '..', 'models', 'default');

async function manifestWith(precisions: unknown): Promise<Manifest> {
  const raw = JSON.parse(await readFile(join(MODEL, 'manifest.json'), 'utf8'));
  raw.precisions = precisions;
  for (const v of Object.values((precisions as { variants: Record<string, { file: string }> }).variants)) raw.sha256[v.file] ??= raw.sha256[raw.files.model];
  return validateManifest(raw, 'manifest.json');
}

describe('ladder rungs from a model package', () => {
  it('size-major, the main precision first at each size; only the variants meant for the provider by default', async () => {
    const m = await manifestWith({ variants: { fp32: { file: 'model.onnx' }, int8: { file: 'model.int8.onnx', providers: ['cpu'] }, fp16: { file: 'model.fp16.onnx', providers: ['cuda', 'tensorrt'] } } });
    expect(defaultLadderVariants(m, 'cpu')).toEqual(['fp32', 'int8']);
    expect(defaultLadderVariants(m, 'cuda')).toEqual(['fp32', 'fp16']);
    const rungs = ladderRungs(m, { main: 'fp32', maxSize: [160, 320], variants: defaultLadderVariants(m, 'cpu') });
    expect(rungs).toEqual([{ size: [160, 320] }, { size: [160, 320], variant: 'int8' }, { size: [128, 256] }, { size: [128, 256], variant: 'int8' }]);
    // An int8-first package: its main precision's rungs carry no variant name.
    expect(ladderRungs(m, { main: 'int8', maxSize: [128, 256], variants: ['fp32', 'int8'] })).toEqual([{ size: [128, 256] }, { size: [128, 256], variant: 'fp32' }]);
  });

  it('a package without precisions: one rung per size, as before', async () => {
    const m = (await loadModelPackage(MODEL)).manifest;
    expect(defaultLadderVariants(m, 'cpu')).toEqual(['fp32']);
    expect(ladderRungs(m, { main: 'fp32', maxSize: m.input.sizes[0], variants: ['fp32'] })).toEqual(m.input.sizes.map((size) => ({ size })));
  });
});

describe('PerceptionWorker with a second precision variant', () => {
  // The bundled model with an "int8" variant that is a copy of its fp32 graph: two sessions, one result.
  let dir: string;
  let worker: PerceptionWorker;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ap-rungs-'));
    for (const f of ['manifest.json', 'model.onnx', 'tails.json']) await copyFile(join(MODEL, f), join(dir, f));
    await copyFile(join(MODEL, 'model.onnx'), join(dir, 'model.int8.onnx'));
    const raw = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    raw.sha256['model.int8.onnx'] = raw.sha256['model.onnx'];
    raw.precisions = { variants: { fp32: { file: 'model.onnx' }, int8: { file: 'model.int8.onnx', providers: ['cpu'] } } };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(raw));
    worker = await PerceptionWorker.create({ modelDir: dir, providers: ['cpu'], threads: 1, variants: ['int8'], perception: { scoreThreshold: 0.3, denseAtCameraSize: false, overlayWidth: 320 } });
  });
  afterAll(async () => {
    await worker?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs a rung on its variant, and a weight swap reaches it', async () => {
    expect(worker.variants).toEqual(['fp32', 'int8']);
    const data = new Uint8Array(320 * 180 * 3).map((_, i) => (i * 37) % 251);
    const frame = () => ({ camera: 'front', topic: '/front/image_raw', index: 0, stampNs: 1n, logTimeNs: 1n, encoded: { kind: 'raw' as const, width: 320, height: 180, encoding: 'rgb8', step: 960, data } });
    const ok = (o: FrameOutcome) => {
      if (!o.ok) throw o.error;
      return o.result;
    };
    const a = ok((await worker.run([frame()], [128, 256]))[0]);
    const b = ok((await worker.run([frame()], [128, 256], 'int8'))[0]);
    expect(a.variant).toBeUndefined();
    expect(b.variant).toBe('int8');
    // the same depth to float rounding: the variant's graph runs the widened depth tail whole,
    // the fp32 session its narrow copy
    const rel = (x: Float32Array, y: Float32Array) => x.reduce((w, v, k) => Math.max(w, Math.abs(v - y[k]) / y[k]), 0);
    expect(b.depth.data.length).toBe(a.depth.data.length);
    expect(rel(b.depth.data, a.depth.data)).toBeLessThan(1e-5);
    const pkg = await loadModelPackage(dir);
    const scaled = new Map([...pkg.tails].map(([k, t]) => [k, { shape: t.shape, data: t.data.map((v) => v * 1.5) }]));
    await worker.swapWeights(scaled, 'v2');
    const c = ok((await worker.run([frame()], [128, 256], 'int8'))[0]);
    expect(c.weights).toBe('v2');
    expect(rel(c.depth.data, b.depth.data)).toBeGreaterThan(1e-3);
    await expect(worker.run([frame()], [128, 256], 'fp16')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/variant 'fp16' has no session/) });
  });
});
