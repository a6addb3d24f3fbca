import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUTPUTS, Engine } from '../engine/engine.js';
import { loadModelPackage, type TailWeights } from '../model/package.js';
import { FrameRunner, type FrameOutcome, type FramePayload } from './frame-runner.js';
import type { EncodedImage } from './image-decode.js';
import { Perception, type FrameResult, type PerceptionOptions } from './perception.js';
import { PerceptionWorker } from './perception-worker.js';

const MODEL = resolve(import.meta.dirname, '..', '..', 'models', 'default');
const OPTS: PerceptionOptions = { scoreThreshold: 0.3, denseAtCameraSize: false, overlayWidth: 320 };
const W = 320;
const H = 180;

/** A deterministic road-ish picture: sky, grey road, a bright lane stripe, a dark box. */
function picture(seed: number): Uint8Array {
  const d = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      const road = y > H / 2;
      const lane = road && Math.abs(x - W / 2 - (y - H / 2) * (seed % 3 === 0 ? 0.5 : -0.4)) < 3;
      const car = x > 60 + seed * 10 && x < 110 + seed * 10 && y > 80 && y < 120;
      const v = car ? 30 : lane ? 240 : road ? 90 + ((x * 7 + y * 13 + seed) % 11) : 170 + (y % 7);
      d[i] = v;
      d[i + 1] = car ? 30 : v;
      d[i + 2] = car ? 160 : road ? v : 230;
    }
  }
  return d;
}

function payload(camera: string, index: number, encoded: EncodedImage): FramePayload {
  return { camera, topic: `/${camera}/image_raw`, index, stampNs: BigInt(index) * 33_000_000n, logTimeNs: BigInt(index) * 33_000_000n, encoded };
}
const raw = (data: Uint8Array, encoding = 'rgb8', step = W * 3): EncodedImage => ({ kind: 'raw', width: W, height: H, encoding, step, data });

let worker: PerceptionWorker;
let engine: Engine;
let main: FrameRunner;
let perception: Perception;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pw-'));
  // One intra-op thread on both sides, so that both run the same kernels in the same order.
  [worker, engine] = await Promise.all([
    PerceptionWorker.create({ modelDir: MODEL, providers: ['cpu'], threads: 1, perception: OPTS }),
    Engine.create({ modelDir: MODEL, providers: ['cpu'], threads: 1 }),
  ]);
  perception = new Perception(engine, OPTS);
  main = new FrameRunner(perception);
});

afterAll(async () => {
  await worker?.dispose();
  await engine?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function expectSame(a: FrameResult, b: FrameResult) {
  expect(a.camera).toBe(b.camera);
  expect(a.stampNs).toBe(b.stampNs);
  expect(a.size).toEqual(b.size);
  expect(a.cameraSize).toEqual(b.cameraSize);
  expect(a.weights).toBe(b.weights);
  expect(a.boxes.length).toBe(b.boxes.length);
  a.boxes.forEach((box, i) => {
    const o = b.boxes[i];
    expect(box.cls).toBe(o.cls);
    expect(box.classIndex).toBe(o.classIndex);
    for (const k of ['x0', 'y0', 'x1', 'y1', 'score'] as const) expect(Math.abs(box[k] - o[k])).toBeLessThanOrEqual(1e-6);
  });
  expect([a.lane.width, a.lane.height]).toEqual([b.lane.width, b.lane.height]);
  expect(Buffer.from(a.lane.data).equals(Buffer.from(b.lane.data))).toBe(true);
  expect([a.depth.width, a.depth.height]).toEqual([b.depth.width, b.depth.height]);
  let maxDiff = 0;
  for (let i = 0; i < a.depth.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.depth.data[i] - b.depth.data[i]));
  expect(maxDiff).toBeLessThanOrEqual(1e-6);
  expect(Math.abs(a.segEntropy - b.segEntropy)).toBeLessThanOrEqual(1e-6);
  const fa = a.tensors.feat_mean?.data as Float32Array;
  const fb = b.tensors.feat_mean?.data as Float32Array;
  expect(fa?.length).toBe(fb?.length);
  for (let i = 0; i < fa.length; i++) expect(Math.abs(fa[i] - fb[i])).toBeLessThanOrEqual(1e-6);
}

const okResult = (o: FrameOutcome): FrameResult => {
  if (!o.ok) throw o.error;
  return o.result;
};

describe('PerceptionWorker', () => {
  it('reports the model it loaded', () => {
    expect(worker.manifest.name).toBe(engine.manifest.name);
    expect(worker.inputSize).toEqual(engine.inputSize);
    expect(worker.provider).toBe('cpu');
    expect(worker.currentWeightsId).toBe(engine.currentWeights.id);
  });

  it('gives the main thread results on the same frames: raw rgb8, bgr8, JPEG, batch of 2', async () => {
    const a = picture(1);
    const b = picture(2);
    const bgr = new Uint8Array(a.length);
    for (let i = 0; i < a.length; i += 3) [bgr[i], bgr[i + 1], bgr[i + 2]] = [a[i + 2], a[i + 1], a[i]];
    const jpeg = new Uint8Array(await sharp(Buffer.from(b), { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
    const size = engine.inputSize;
    for (const frames of [
      [payload('front', 1, raw(a))],
      [payload('left', 2, raw(bgr, 'bgr8'))],
      [payload('rear', 3, { kind: 'compressed', format: 'jpeg', data: jpeg })],
      [payload('front', 4, raw(a)), payload('left', 4, raw(b))],
    ]) {
      const [w, m] = [await worker.run(frames, size), await main.run(frames, size)];
      expect(w.length).toBe(frames.length);
      w.forEach((o, i) => {
        expectSame(okResult(o), okResult(m[i]));
        const wi = (o as Extract<FrameOutcome, { ok: true }>).image;
        const mi = (m[i] as Extract<FrameOutcome, { ok: true }>).image;
        expect([wi.width, wi.height]).toEqual([mi.width, mi.height]);
        expect(Buffer.from(wi.data).equals(Buffer.from(mi.data))).toBe(true);
      });
    }
  });

  it('leaves the caller its frame bytes (copies, never detaches the bag chunk)', async () => {
    const chunk = new Uint8Array(W * H * 3 + 100);
    chunk.set(picture(3), 50);
    const view = chunk.subarray(50, 50 + W * H * 3);
    const [o] = await worker.run([payload('front', 5, raw(view))], engine.inputSize);
    expect(o.ok).toBe(true);
    expect(chunk.byteLength).toBe(W * H * 3 + 100);
    expect(view[0]).toBe(picture(3)[0]);
    // a Node Buffer view too (Buffer#slice is a view: transferring its buffer would detach the chunk)
    const buf = Buffer.alloc(W * H * 3 + 100);
    buf.set(picture(3), 50);
    const bview = buf.subarray(50, 50 + W * H * 3);
    const [o2] = await worker.run([payload('front', 5, raw(bview))], engine.inputSize);
    expect(o2.ok).toBe(true);
    expect(buf.byteLength).toBe(W * H * 3 + 100);
    expect(bview[1]).toBe(picture(3)[1]);
  });

  it('moves a frame that owns its bytes to the worker and back with its result (no copy), same results', async () => {
    const own = picture(5).slice(); // a whole ArrayBuffer of its own, as intake's copy
    const ref = own.slice();
    const f = { ...payload('front', 8, raw(own)), owned: true };
    const [w] = await worker.run([f], engine.inputSize);
    expect(own.byteLength).toBe(0); // moved, not copied
    const img = (w as Extract<FrameOutcome, { ok: true }>).image;
    expect(img.data.byteLength).toBe(W * H * 3);
    expect(Buffer.from(img.data).equals(Buffer.from(ref))).toBe(true);
    const [m] = await main.run([payload('front', 8, raw(ref))], engine.inputSize);
    expectSame(okResult(w), okResult(m));
    // a view into something bigger is never moved, owned or not
    const chunk = new Uint8Array(W * H * 3 + 10);
    chunk.set(ref, 10);
    const [v] = await worker.run([{ ...payload('front', 9, raw(chunk.subarray(10))), owned: true }], engine.inputSize);
    expect(v.ok).toBe(true);
    expect(chunk.byteLength).toBe(W * H * 3 + 10);
  });

  it('renders the overlay in the worker when asked, equal to the main thread’s', async () => {
    const f = { ...payload('front', 6, raw(picture(4))), overlay: true };
    const [w] = await worker.run([f], engine.inputSize);
    const [m] = await main.run([f], engine.inputSize);
    const rw = okResult(w);
    expect(rw.overlay).toBeDefined();
    const mo = perception.overlay(okResult(m), (m as Extract<FrameOutcome, { ok: true }>).image);
    expect([rw.overlay!.width, rw.overlay!.height]).toEqual([mo.width, mo.height]);
    expect(Buffer.from(rw.overlay!.data).equals(Buffer.from(mo.data))).toBe(true);
    // and Perception.overlay hands the worker's back instead of rendering again
    expect(perception.overlay(rw, (w as Extract<FrameOutcome, { ok: true }>).image)).toBe(rw.overlay);
    const [none] = await worker.run([payload('front', 7, raw(picture(4)))], engine.inputSize);
    expect(okResult(none).overlay).toBeUndefined();
  });

  it('a bad frame in a batch yields its error outcome with its code; its batch-mates run', async () => {
    const frames = [
      payload('front', 8, raw(picture(1))),
      payload('left', 8, raw(new Uint8Array(10))),
      payload('right', 8, raw(picture(1), 'yuv422')),
      payload('rear', 8, { kind: 'compressed', format: 'jpeg', data: new Uint8Array([0xff, 0xd8, 1, 2, 3]) }),
    ];
    const out = await worker.run(frames, engine.inputSize);
    expect(out[0].ok).toBe(true);
    expect(out.slice(1).map((o) => (o.ok ? 'ok' : o.error.code))).toEqual(['BAD_IMAGE', 'UNSUPPORTED_ENCODING', 'BAD_IMAGE']);
    const e = (out[1] as Extract<FrameOutcome, { ok: false }>).error;
    expect(e.name).toBe('PerceptionError');
    expect(e.context).toMatchObject({ camera: 'left', topic: '/left/image_raw', index: 8 });
    expect(e.message).toMatch(/\[camera=left, topic=\/left\/image_raw, index=8\]$/);
  });

  it('a batch-level failure rejects the run with the engine’s code', async () => {
    await expect(worker.run([payload('front', 9, raw(picture(1)))], [7, 7])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', name: 'PerceptionError' });
    // and the worker carries on
    expect((await worker.run([payload('front', 10, raw(picture(1)))], engine.inputSize))[0].ok).toBe(true);
  });

  it('swapWeights changes outputs from the next run on; probe runs a candidate without swapping', async () => {
    const pkg = await loadModelPackage(MODEL);
    const scaled: TailWeights = new Map([...pkg.tails].map(([k, t]) => [k, { shape: t.shape, data: t.data.map((v) => v * (k.startsWith('depth') ? 0.5 : 1.5)) }]));
    const frame = [payload('front', 11, raw(picture(2)))];
    const before = okResult((await worker.run(frame, engine.inputSize))[0]);
    const [probed] = await worker.probe([{ width: W, height: H, data: picture(2) }], scaled, { id: 'cand' });
    expect(probed.weights).toBe('cand');
    expect(okResult((await worker.run(frame, engine.inputSize))[0]).weights).toBe(before.weights);
    const prev = await worker.swapWeights(scaled, 'v2');
    expect(prev).toBe(before.weights);
    expect(worker.currentWeightsId).toBe('v2');
    const after = okResult((await worker.run(frame, engine.inputSize))[0]);
    expect(after.weights).toBe('v2');
    expect(Buffer.from(after.depth.data.buffer).equals(Buffer.from(before.depth.data.buffer))).toBe(false);
    expect(Array.from(after.depth.data)).toEqual(Array.from(probed.depth.data));
    // main-thread engine with the same set: same outputs
    engine.swapWeights(engine.makeWeightSet(scaled, 'v2'));
    expectSame(after, okResult((await main.run(frame, engine.inputSize))[0]));
    await expect(worker.swapWeights(new Map([['det_w0', { shape: [1], data: new Float32Array(1) }]]), 'bad')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await worker.swapWeights(pkg.tails, before.weights);
    engine.swapWeights(engine.makeWeightSet(pkg.tails, before.weights));
  });

  it('follows a main-thread engine’s weight swaps at the next frame boundary', async () => {
    const pkg = await loadModelPackage(MODEL);
    const e2 = Engine.fromRunner(pkg, { provider: 'cpu', inputNames: ['image', 'size', ...pkg.tails.keys()], outputNames: [...DEFAULT_OUTPUTS], run: () => Promise.reject(new Error('unused')), dispose: async () => {} });
    const w = await PerceptionWorker.create({ modelDir: MODEL, providers: ['cpu'], perception: OPTS, follow: e2 });
    try {
      const frame = [payload('front', 12, raw(picture(1)))];
      expect(okResult((await w.run(frame, w.inputSize))[0]).weights).toBe(e2.currentWeights.id);
      e2.swapWeights(e2.makeWeightSet(pkg.tails, 'adapted-1'));
      expect(okResult((await w.run(frame, w.inputSize))[0]).weights).toBe('adapted-1');
    } finally {
      await w.dispose();
    }
  });

  it('returns only the raw outputs asked for; holds the tails\' features per camera for takeHeld, each once', async () => {
    const features = ['det_feat', 'seg_feat', 'depth_feat'] as const;
    const opts: PerceptionOptions = { ...OPTS, outputs: [...DEFAULT_OUTPUTS, ...features, 'feat_mean'] };
    const held = await PerceptionWorker.create({ modelDir: MODEL, providers: ['cpu'], threads: 1, perception: opts, returnTensors: ['feat_mean'], hold: { tensors: features, frames: 2 } });
    const reference = new FrameRunner(new Perception(engine, opts));
    try {
      const size = engine.inputSize;
      const same = async (f: FramePayload) => {
        const got = await held.takeHeld(f.camera, f.stampNs);
        const [want] = (await reference.run([f], size)).map(okResult);
        for (const name of features) {
          expect(got?.[name]?.dims).toEqual(want.tensors[name]!.dims);
          const [x, y] = [got![name]!.data as Float32Array, want.tensors[name]!.data as Float32Array];
          let maxDiff = 0;
          for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
          expect(maxDiff).toBeLessThanOrEqual(1e-5);
        }
        expect(await held.takeHeld(f.camera, f.stampNs)).toBeUndefined(); // taken once
      };
      // A batch of two cameras (one buffer per output, shared by both frames): taking one
      // frame's features leaves the other's whole.
      const batch = [payload('front', 1, raw(picture(1))), payload('left', 1, raw(picture(2)))];
      for (const r of (await held.run(batch, size)).map(okResult)) expect(Object.keys(r.tensors)).toEqual(['feat_mean']);
      await same(batch[1]);
      await same(batch[0]);
      // Each camera keeps its newest two frames.
      const fronts = [2, 3, 4].map((i) => payload('front', i, raw(picture(i))));
      for (const f of fronts) await held.run([f], size);
      expect(await held.takeHeld('front', fronts[0].stampNs)).toBeUndefined();
      await same(fronts[2]);
      expect(await held.takeHeld('front', fronts[1].stampNs)).toBeDefined();
      expect(await held.takeHeld('nowhere', 0n)).toBeUndefined();
      // a worker that holds nothing answers undefined; one that returns everything sends the features
      expect(await worker.takeHeld('front', 1n)).toBeUndefined();
      await expect(PerceptionWorker.create({ modelDir: MODEL, perception: opts, hold: { tensors: features, frames: 0 } })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    } finally {
      await held.dispose();
    }
  });

  it('an invalid model dir rejects create with MODEL_INVALID and leaves no thread behind', async () => {
    await writeFile(join(dir, 'manifest.json'), '{"name": 1}');
    await expect(PerceptionWorker.create({ modelDir: dir, providers: ['cpu'], perception: OPTS })).rejects.toMatchObject({ code: 'MODEL_INVALID', name: 'PerceptionError' });
    await expect(PerceptionWorker.create({ modelDir: join(dir, 'missing'), providers: ['cpu'], perception: OPTS })).rejects.toMatchObject({ code: 'MODEL_INVALID' });
    await expect(PerceptionWorker.create({ modelDir: MODEL, providers: ['cpu'], threads: 0, perception: OPTS })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  });

  it('dispose lets a run in flight finish, then terminates (idempotent); calls after it reject, never hang', async () => {
    const w = await PerceptionWorker.create({ modelDir: MODEL, providers: ['cpu'], perception: OPTS });
    // The worker releases its session itself after the run in flight (tearing a thread down
    // under a native session run is what can crash a process).
    const inFlight = expect(w.run([payload('front', 13, raw(picture(1)))], w.inputSize)).resolves.toHaveLength(1);
    const d1 = w.dispose();
    const d2 = w.dispose();
    expect(d2).toBe(d1);
    await d1;
    await inFlight;
    await expect(w.run([payload('front', 14, raw(picture(1)))], w.inputSize)).rejects.toMatchObject({ code: 'MODEL_RUNTIME' });
  });

  it('a worker crash rejects pending runs with a clear error', async () => {
    const w = await PerceptionWorker.create({ modelDir: MODEL, providers: ['cpu'], perception: OPTS });
    // Simulate a crash: the thread goes away with a run pending. Not by terminate() during the
    // run: killing a thread inside ONNX Runtime's native run is the likely cause of this file's
    // test process dying once in ~8 full runs (vitest: "Worker exited unexpectedly"). A dispose
    // message slipped in ahead of the run (an id nobody waits for) ends the thread, as a crash
    // would, before the run gets an answer.
    (w as unknown as { worker: import('node:worker_threads').Worker }).worker.postMessage({ type: 'dispose', id: -1 });
    const inFlight = w.run([payload('front', 15, raw(picture(1)))], w.inputSize);
    await expect(inFlight).rejects.toMatchObject({ code: 'MODEL_RUNTIME', message: /perception worker exited/ });
    await expect(w.run([payload('front', 16, raw(picture(1)))], w.inputSize)).rejects.toThrow(/perception worker exited/);
    await w.dispose();
  });
});
