import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { routerDim } from '../model/manifest.js';
import { loadModelPackage, type TailWeights } from '../model/package.js';
import { FrameRunner, type FramePayload } from './frame-runner.js';
import { Perception, type PerceptionOptions } from './perception.js';
import { PerceptionWorker } from './perception-worker.js';

const MODEL = resolve(import.meta.dirname, '..', '..', 'models', 'default');
const OPTS: PerceptionOptions = { scoreThreshold: 0.3, denseAtCameraSize: false, overlayWidth: 320 };
const W = 160;
const H = 90;

function frame(camera: string, index: number): FramePayload {
  const data = new Uint8Array(W * H * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + index * 7) & 0xff;
  const stampNs = BigInt(index + 1) * 100_000_000n;
  return { camera, topic: `/${camera}/image_raw`, index, stampNs, logTimeNs: stampNs, encoded: { kind: 'raw', width: W, height: H, encoding: 'rgb8', step: W * 3, data } };
}

let engine: Engine;
let tails: TailWeights;
beforeAll(async () => {
  engine = await Engine.create({ modelDir: MODEL, providers: ['cpu'], threads: 1 });
  tails = (await loadModelPackage(MODEL)).tails;
});
afterAll(() => engine?.dispose());

/** The shipped tails scaled (so results differ), plus a router with bias `b` and zero weights. */
function routed(b: number): TailWeights {
  const n = routerDim(engine.manifest.tails);
  const scaled = [...tails].map(([k, t]) => [k, { shape: t.shape, data: t.data.map((v) => v * 0.5) }] as const);
  return new Map([...scaled, ['router_w', { shape: [n], data: new Float32Array(n) }], ['router_b', { shape: [1], data: Float32Array.of(b) }]]);
}

describe('routed weights in service', () => {
  it('a camera starts on the shipped tails and moves to the adapted ones once its frames read as the new domain', async () => {
    const p = new Perception(engine, OPTS);
    const runner = new FrameRunner(p);
    const shippedId = engine.currentWeights.id;
    const prev = engine.swapWeights(engine.makeWeightSet(routed(2), 'v1'));
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const [o] = await runner.run([frame('front', i)], engine.inputSize);
        if (!o.ok) throw o.error;
        ids.push(o.result.weights);
        // Tail features were fetched for the router, not handed out (nobody asked for them).
        expect(o.result.tensors.seg_feat).toBeUndefined();
      }
      expect(ids).toEqual([shippedId, 'v1', 'v1']);
      // A second camera has its own state: it starts on the shipped tails too.
      const [o] = await runner.run([frame('rear', 0)], engine.inputSize);
      expect(o.ok && o.result.weights).toBe(shippedId);
    } finally {
      engine.swapWeights(prev);
    }
  });

  it('a routed candidate run as given (its probe) runs its own tails on every frame, scores its router, and leaves routing alone', async () => {
    const p = new Perception(engine, OPTS);
    const candidate = engine.makeWeightSet(routed(-2), 'cand'); // reads everything as old
    const image = { width: W, height: H, data: frame('front', 0).encoded.data };
    const [r] = await p.processBatch([{ camera: 'front', stampNs: 1n, image }], undefined, candidate);
    expect(r.weights).toBe('cand'); // as given: a probe tests the candidate's own tails
    expect(r.tensors.seg_feat).toBeUndefined(); // fetched for the router, not handed out
    // Nothing in service changed: the next frame runs on the shipped tails, unrouted.
    const [next] = await p.processBatch([{ camera: 'front', stampNs: 2n, image }]);
    expect(next.weights).toBe(engine.currentWeights.id);
  });

  it('a router that never reads the new domain leaves every frame on the shipped tails', async () => {
    const plain = new Perception(engine, OPTS);
    const [before] = await plain.processBatch([{ camera: 'front', stampNs: 1n, image: { width: W, height: H, data: frame('front', 0).encoded.data } }]);
    const prev = engine.swapWeights(engine.makeWeightSet(routed(-2), 'v1'));
    try {
      const p = new Perception(engine, OPTS);
      for (let i = 0; i < 2; i++) {
        const [r] = await p.processBatch([{ camera: 'front', stampNs: 1n, image: { width: W, height: H, data: frame('front', 0).encoded.data } }]);
        expect(r.weights).toBe(prev.id);
        // The shipped tails served on the wide graph (a routed set runs it) and on the narrow one:
        // the same depth to float rounding (the widened depth tail sums its 3×3 in another order).
        expect(r.depth.data.length).toBe(before.depth.data.length);
        let worst = 0;
        for (let k = 0; k < r.depth.data.length; k++) worst = Math.max(worst, Math.abs(r.depth.data[k] - before.depth.data[k]) / before.depth.data[k]);
        expect(worst).toBeLessThan(1e-5);
      }
    } finally {
      engine.swapWeights(prev);
    }
  });

  it('the perception worker follows a routed swap and routes the same way', async () => {
    const worker = await PerceptionWorker.create({ modelDir: MODEL, providers: ['cpu'], threads: 1, perception: OPTS, follow: engine });
    const prev = engine.swapWeights(engine.makeWeightSet(routed(2), 'v1'));
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const [o] = await worker.run([frame('front', i)], engine.inputSize);
        if (!o.ok) throw o.error;
        ids.push(o.result.weights);
      }
      expect(ids).toEqual([prev.id, 'v1', 'v1']);
    } finally {
      engine.swapWeights(prev);
      await worker.dispose();
    }
  });
});
