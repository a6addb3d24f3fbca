import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPerceptionError, type ErrorCode } from '../core/errors.js';
import { loadModelPackage, type ModelPackage, type TailWeights } from '../model/package.js';
import { DEFAULT_OUTPUTS, Engine } from './engine.js';
import { decodeFrame } from './frame-result.js';
import { makeTinyModel } from '../../test/support/tiny-model/tiny-model.js';
import type { Feeds, ModelRunner, RunnerTensor } from './runner.js';
import { createSession, openOrtSession } from './session.js';
import type { CameraImage } from './types.js';

let tiny: { dir: string; cleanup: () => void };
let pkg: ModelPackage;
let engine: Engine;
const logs: string[] = [];

beforeAll(async () => {
  tiny = makeTinyModel();
  pkg = await loadModelPackage(tiny.dir);
  engine = await Engine.create({ modelDir: tiny.dir, providers: ['cuda', 'cpu'], threads: 1, log: (l) => logs.push(l) });
});
afterAll(async () => {
  await engine?.dispose();
  tiny?.cleanup();
});

function frame(width: number, height: number, seed = 1): CameraImage {
  const data = new Uint8Array(width * height * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s >>> 16) & 0xff;
  }
  return { width, height, data };
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: ErrorCode, re?: RegExp): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(isPerceptionError(e, code), String(e)).toBe(true);
    if (re) expect((e as Error).message).toMatch(re);
    return;
  }
  throw new Error(`expected ${code}`);
}

function scaled(tails: TailWeights, factor: number): TailWeights {
  const m = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [k, t] of tails) m.set(k, { shape: t.shape, data: t.data.map((v) => v * factor) });
  return m;
}

describe('Engine on the tiny fixture model', () => {
  it('falls through cuda to cpu with one log line each', () => {
    expect(engine.provider).toBe('cpu');
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatch(/execution provider 'cuda' unavailable: .+ — trying 'cpu'/);
    expect(logs[1]).toMatch(/execution provider 'cpu' active/);
  });

  it.each([
    [[64, 128], [120, 200]],
    [[64, 128], [48, 64]],
    [[32, 64], [120, 200]],
    [[32, 64], [48, 64]],
  ] as const)('size %j, camera %j: output shapes follow the contract', async (size, [ch, cw]) => {
    const [out] = await engine.infer([frame(cw, ch)], { size });
    const [H, W] = size;
    const t = out.tensors;
    expect(out.size).toEqual(size);
    expect(out.camera).toEqual({ width: cw, height: ch });
    expect(t.det_heat?.dims).toEqual([2, H / 4, W / 4]);
    expect(t.det_box?.dims).toEqual([4, H / 4, W / 4]);
    expect(t.seg_mask?.type).toBe('uint8');
    expect(t.seg_mask?.dims).toEqual([H, W]);
    expect(t.seg_entropy?.dims).toEqual([]);
    expect(t.depth?.dims).toEqual([H, W]);
    expect(t.feat_mean?.dims).toEqual([6]);
    expect(t.det_feat).toBeUndefined();
    const d = t.depth!.data as Float32Array;
    expect(d.every((v) => v >= 1 && v <= 80)).toBe(true);
  });

  it('decodeFrame: views at model size by default, camera size on request', async () => {
    const [out] = await engine.infer([frame(100, 50)], { size: [32, 64] });
    const model = decodeFrame(out, engine.manifest);
    expect(model.mask?.data).toBe(out.tensors.seg_mask?.data);
    expect([model.depth?.width, model.depth?.height]).toEqual([64, 32]);
    expect(model.segEntropy).toBeGreaterThan(0);
    const cam = decodeFrame(out, engine.manifest, { dense: 'camera', threshold: 0.01 });
    expect([cam.mask?.width, cam.mask?.height, cam.mask?.data.length]).toEqual([100, 50, 5000]);
    expect(cam.depth?.data.length).toBe(5000);
    for (const d of cam.detections) expect(d.x1 <= 100 && d.y1 <= 50).toBe(true);
  });

  it('uses the first ladder size by default and fetches features only when asked', async () => {
    const [out] = await engine.infer([frame(64, 48)], { outputs: ['det_feat', 'seg_feat', 'depth_feat'] });
    expect(out.size).toEqual([64, 128]);
    expect(Object.keys(out.tensors).sort()).toEqual(['depth_feat', 'det_feat', 'seg_feat']);
    expect(out.tensors.seg_feat?.dims).toEqual([4, 32, 64]);
  });

  it('a batch gives the same outputs as single frames; a padded view is read without copying', async () => {
    const a = frame(80, 40, 3);
    const b = frame(80, 40, 4);
    const [ra, rb] = await engine.infer([a, b]);
    const [sa] = await engine.infer([a]);
    const padded = new Uint8Array(a.data.length + 100);
    padded.set(a.data, 7);
    const [sp] = await engine.infer([{ width: 80, height: 40, data: padded.subarray(7) }]);
    const [sb] = await engine.infer([b]);
    expect(ra.tensors.depth?.data).toEqual(sa.tensors.depth?.data);
    expect(rb.tensors.det_heat?.data).toEqual(sb.tensors.det_heat?.data);
    expect(sp.tensors.depth?.data).toEqual(sa.tensors.depth?.data);
    expect(ra.tensors.depth?.data).not.toEqual(rb.tensors.depth?.data);
  });

  it('concurrent batched calls do not share a batch buffer; later caller writes do not reach results', async () => {
    const [a, b, c, d] = [1, 2, 3, 4].map((s) => frame(40, 24, s));
    const [sa, sb, sc, sd] = await Promise.all([a, b, c, d].map(async (f) => (await engine.infer([f]))[0].tensors.depth?.data));
    const p1 = engine.infer([a, b]);
    const p2 = engine.infer([c, d]);
    const [r1, r2] = await Promise.all([p1, p2]);
    expect([r1[0], r1[1], r2[0], r2[1]].map((r) => r.tensors.depth?.data)).toEqual([sa, sb, sc, sd]);
    const kept = Float32Array.from(r1[0].tensors.depth!.data as Float32Array);
    await engine.infer([c, d]); // reuses the batch buffer: results of earlier runs are their own
    expect(r1[0].tensors.depth?.data).toEqual(kept);
  });

  it('swapping weights changes outputs; a run started before the swap uses the old set', async () => {
    const f = frame(64, 64, 9);
    const [before] = await engine.infer([f]);
    const shipped = engine.currentWeights;
    const next = engine.makeWeightSet(scaled(pkg.tails, 1.5), 'v2');
    const inFlight = engine.infer([f]);
    expect(engine.swapWeights(next)).toBe(shipped);
    const after = engine.infer([f]);
    const [r1, r2] = [(await inFlight)[0], (await after)[0]];
    expect(r1.weights).toBe(shipped.id);
    expect(r1.tensors.depth?.data).toEqual(before.tensors.depth?.data);
    expect(r2.weights).toBe('v2');
    expect(r2.tensors.depth?.data).not.toEqual(before.tensors.depth?.data);
    engine.swapWeights(shipped);
  });

  it('runs a candidate weight set without swapping it in (warm-up probe)', async () => {
    const f = frame(64, 64, 9);
    const shipped = engine.currentWeights;
    const candidate = engine.makeWeightSet(scaled(pkg.tails, 1.5), 'candidate');
    const [probe] = await engine.infer([f], { weights: candidate });
    const [live] = await engine.infer([f]);
    expect(probe.weights).toBe('candidate');
    expect(live.weights).toBe(shipped.id);
    expect(engine.currentWeights).toBe(shipped);
    expect(probe.tensors.depth?.data).not.toEqual(live.tensors.depth?.data);
  });

  describe('BAD CALL', () => {
    it('size off the ladder', () => expectCode(engine.infer([frame(8, 8)], { size: [48, 96] }), 'INVALID_ARGUMENT', /size \[48,96\] is not on the model's size ladder/));
    it('no frames', () => expectCode(engine.infer([]), 'INVALID_ARGUMENT', /at least one frame/));
    it('frames of different sizes', () => expectCode(engine.infer([frame(8, 8), frame(8, 9)]), 'INVALID_ARGUMENT', /frame 1 is 8x9/));
    it('short data', () => expectCode(engine.infer([{ width: 8, height: 8, data: new Uint8Array(10) }]), 'BAD_IMAGE', /needs 192/));
    it('zero width', () => expectCode(engine.infer([{ width: 0, height: 8, data: new Uint8Array(10) }]), 'BAD_IMAGE'));
    it('unknown output', () => expectCode(engine.infer([frame(8, 8)], { outputs: ['logits' as never] }), 'INVALID_ARGUMENT', /unknown output 'logits'/));
    it('weight set of another shape', () => {
      const other = new Map(pkg.tails);
      other.set('det_b0', { shape: [5], data: new Float32Array(5) });
      return expectCode(() => engine.makeWeightSet(other, 'bad'), 'INVALID_ARGUMENT', /det_b0.*expected \[6\]/);
    });
    it('weight set with NaN', () => expectCode(() => engine.makeWeightSet(scaled(pkg.tails, NaN), 'nan'), 'INVALID_ARGUMENT', /finite/));
    it('inputSize off the ladder at create', () => expectCode(Engine.create({ modelDir: tiny.dir, providers: ['cpu'], inputSize: [100, 100] }), 'INVALID_CONFIG', /inputSize/));
    it('unknown provider', () => expectCode(Engine.create({ modelDir: tiny.dir, providers: ['gpu' as never] }), 'INVALID_CONFIG', /unknown execution provider 'gpu'/));
  });

  it('dispose is idempotent and infer after dispose is refused', async () => {
    const e = await Engine.create({ modelDir: tiny.dir, providers: ['cpu'], threads: 1 });
    const pending = e.infer([frame(16, 16)]);
    const d1 = e.dispose();
    const d2 = e.dispose();
    expect(d2).toBe(d1);
    await d1;
    await expect(pending).resolves.toHaveLength(1); // the in-flight run finished before release
    await expectCode(e.infer([frame(16, 16)]), 'MODEL_RUNTIME', /after dispose/);
  });
});

/** A runner that answers with zeros after a delay and records which weights each run saw. */
class FakeRunner implements ModelRunner {
  provider: 'tensorrt' | 'cuda' | 'cpu' = 'cpu';
  readonly seen: Float32Array[] = [];
  disposeCalls = 0;
  constructor(
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    private readonly shapes: (fetch: string, n: number, size: [number, number]) => RunnerTensor,
  ) {}
  async run(feeds: Feeds, fetches: readonly string[]): Promise<Record<string, RunnerTensor>> {
    this.seen.push(feeds.det_w0.data as Float32Array);
    const n = feeds.image.dims[0];
    const sz = feeds.size.data as BigInt64Array;
    await new Promise((r) => setTimeout(r, 5));
    return Object.fromEntries(fetches.map((f) => [f, this.shapes(f, n, [Number(sz[0]), Number(sz[1])])]));
  }
  async dispose(): Promise<void> {
    this.disposeCalls++;
  }
}

describe('Engine with a fake runner', () => {
  it('a run keeps the weight set it started with, across a swap during its await', async () => {
    const inputs = ['image', 'size', ...pkg.tails.keys()];
    const runner = new FakeRunner(inputs, ['depth'], (_f, n, [h, w]) => ({ type: 'float32', dims: [n, h, w], data: new Float32Array(n * h * w) }));
    const e = Engine.fromRunner(pkg, runner, { outputs: ['depth'] });
    const p1 = e.infer([frame(8, 8)]);
    const v2 = e.makeWeightSet(scaled(pkg.tails, 2), 'v2');
    e.swapWeights(v2);
    const p2 = e.infer([frame(8, 8)]);
    const [[o1], [o2]] = await Promise.all([p1, p2]);
    expect(o1.weights).toMatch(/shipped$/);
    expect(o2.weights).toBe('v2');
    expect(runner.seen[0]).not.toBe(runner.seen[1]);
    expect(runner.seen[1]).toBe(v2.tensors.get('det_w0')?.data);
    await e.dispose();
    await e.dispose();
    expect(runner.disposeCalls).toBe(1);
  });

  it('a model that returns a wrong shape is reported, not decoded', async () => {
    const inputs = ['image', 'size', ...pkg.tails.keys()];
    const runner = new FakeRunner(inputs, ['depth'], (_f, n) => ({ type: 'float32', dims: [n, 3, 3], data: new Float32Array(n * 9) }));
    const e = Engine.fromRunner(pkg, runner, { outputs: ['depth'] });
    await expectCode(e.infer([frame(8, 8)]), 'MODEL_RUNTIME', /output 'depth' is float32 \[1, 3, 3\], the contract says float32 \[1, 64, 128\]/);
  });

  it('a graph missing a tail input is rejected', () =>
    expectCode(() => Engine.fromRunner(pkg, new FakeRunner(['image', 'size'], ['depth'], () => ({}) as never), { outputs: ['depth'] }), 'MODEL_INVALID', /lacks input\(s\) det_w0/));
});

describe('createSession', () => {
  it('a provider that loads but fails its warm-up run falls through to the next', async () => {
    const lines: string[] = [];
    const open = async (path: string, provider: 'tensorrt' | 'cuda' | 'cpu', o: Parameters<typeof openOrtSession>[2]): Promise<ModelRunner> => {
      if (provider === 'cpu') return openOrtSession(path, provider, o);
      const r = new FakeRunner(['image', 'size', ...pkg.tails.keys()], [...DEFAULT_OUTPUTS], () => {
        throw new Error('TensorRT engine build failed');
      });
      return Object.assign(r, { provider });
    };
    const e = await Engine.create({ modelDir: tiny.dir, providers: ['tensorrt', 'cpu'], threads: 1, log: (l) => lines.push(l), open });
    expect(e.provider).toBe('cpu');
    expect(lines).toEqual([
      expect.stringMatching(/'tensorrt' unavailable: inference failed: TensorRT engine build failed .*— trying 'cpu'/),
      expect.stringMatching(/'cpu' active/),
    ]);
    await e.dispose();
  });

  it('lists every cause when no provider works', async () => {
    const lines: string[] = [];
    const open = async (_p: string, provider: string) => {
      throw new Error(`${provider} says no`);
    };
    let err: unknown;
    try {
      await createSession('m.onnx', { providers: ['tensorrt', 'cuda', 'cpu'], log: (l) => lines.push(l), open });
    } catch (e) {
      err = e;
    }
    expect(isPerceptionError(err, 'MODEL_RUNTIME')).toBe(true);
    expect((err as Error).message).toMatch(/tensorrt: tensorrt says no; cuda: cuda says no; cpu: cpu says no/);
    expect((err as Error).cause).toBeInstanceOf(AggregateError);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/'cpu' unavailable: cpu says no$/);
  });
});

describe('Engine with more precision variants (the ladder\'s rungs)', () => {
  // A package whose "int8" variant is a copy of its fp32 graph: the same outputs, two sessions.
  let dir: { dir: string; cleanup: () => void };
  let multi: Engine;
  beforeAll(async () => {
    dir = makeTinyModel();
    const manifestPath = join(dir.dir, 'manifest.json');
    const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
    copyFileSync(join(dir.dir, m.files.model), join(dir.dir, 'model.int8.onnx'));
    m.sha256['model.int8.onnx'] = m.sha256[m.files.model];
    m.precisions = { variants: { fp32: { file: m.files.model }, int8: { file: 'model.int8.onnx', providers: ['cpu'] } } };
    writeFileSync(manifestPath, JSON.stringify(m));
    multi = await Engine.create({ modelDir: dir.dir, providers: ['cpu'], threads: 1, variants: ['int8', 'fp32'] });
  });
  afterAll(async () => {
    await multi?.dispose();
    dir?.cleanup();
  });

  it('opens each variant once and runs a frame on the one asked for', async () => {
    expect(multi.variants).toEqual(['fp32', 'int8']);
    const f = frame(40, 30, 3);
    const [a] = await multi.infer([f]);
    const [b] = await multi.infer([f], { variant: 'int8' });
    expect(a.variant).toBeUndefined();
    expect(b.variant).toBe('int8');
    expect(Array.from(b.tensors.depth!.data as Float32Array)).toEqual(Array.from(a.tensors.depth!.data as Float32Array));
    const [c] = await multi.infer([f], { variant: 'fp32' }); // the main precision by name
    expect(c.variant).toBeUndefined();
  });

  it('a weight swap reaches every variant', async () => {
    const f = frame(40, 30, 4);
    const before = (await multi.infer([f], { variant: 'int8' }))[0].tensors.det_heat!.data.slice();
    const shipped = multi.swapWeights(multi.makeWeightSet(scaled(multi.shipped.toTails(), 1.7), 'v-swap'));
    try {
      const [a] = await multi.infer([f]);
      const [b] = await multi.infer([f], { variant: 'int8' });
      expect(b.weights).toBe('v-swap');
      expect(Array.from(b.tensors.det_heat!.data as Float32Array)).toEqual(Array.from(a.tensors.det_heat!.data as Float32Array));
      expect(Array.from(b.tensors.det_heat!.data as Float32Array)).not.toEqual(Array.from(before as Float32Array));
    } finally {
      multi.swapWeights(shipped);
    }
  });

  it('refuses a variant it has no session for, and one the package does not offer', async () => {
    await expectCode(multi.infer([frame(40, 30)], { variant: 'fp16' }), 'INVALID_ARGUMENT', /variant 'fp16' has no session/);
    await expectCode(Engine.create({ modelDir: dir.dir, providers: ['cpu'], threads: 1, variants: ['fp16'] }), 'INVALID_CONFIG', /variants: 'fp16' is not a precision variant/);
    await expectCode(Engine.create({ modelDir: tiny.dir, providers: ['cpu'], threads: 1, variants: ['int8'] }), 'INVALID_CONFIG', /it has: fp32/);
  });
});
