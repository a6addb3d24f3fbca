/**
 * The worker-thread side of PerceptionWorker (see perception-worker.ts for the protocol and
 * why). Owns one Engine and one Perception; handles messages strictly in order, so a weight
 * swap posted between two runs takes effect exactly at that frame boundary.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../engine/engine.js';
import type { TailWeights } from '../model/package.js';
import { FrameRunner, type FramePayload } from './frame-runner.js';
import type { RgbImage } from './image-decode.js';
import { Perception, type FrameResult } from './perception.js';
import type { FrameTensors, HeldOutputs, ToWorker, FromWorker, WireOutcome, WorkerInit } from './perception-worker.js';
import { toWireError } from '../core/worker-thread.js';

const port = parentPort;
if (!port) throw new Error('perception-worker-entry must run in a worker thread');

const init = workerData as WorkerInit;
const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => {
  try {
    port.postMessage(msg, transfer);
  } catch (e) {
    // A buffer that cannot be transferred (not detachable): send copies instead.
    if (process.env.PW_DEBUG) console.error('transfer fallback', e);
    port.postMessage(msg);
  }
};
const log = (line: string) => post({ type: 'log', line });

const wireError = toWireError;

async function main(): Promise<void> {
  let engine: Engine;
  try {
    // The engine's outputs are the Perception's (with adaptation, the learner's features too): its narrow graph keeps those.
    engine = await Engine.create({ modelDir: init.modelDir, providers: init.providers, inputSize: init.inputSize, variants: init.variants, threads: init.threads, outputs: init.perception.outputs, log });
  } catch (err) {
    post({ type: 'fatal', error: wireError(err) });
    return;
  }
  const perception = new Perception(engine, init.perception);
  const runner = new FrameRunner(perception);
  const held = init.hold ? new HeldTensors(init.hold) : undefined;
  const returned = init.returnTensors ? new Set(init.returnTensors) : undefined;
  post({ type: 'ready', manifest: engine.manifest, inputSize: engine.inputSize, provider: engine.provider, weights: engine.currentWeights.id, variants: engine.variants });

  // Messages are queued and handled one at a time: the order the main thread posted them in
  // is the order they act on the engine.
  let chain = Promise.resolve();
  port!.on('message', (msg: ToWorker) => {
    chain = chain.then(() => handle(msg)).catch((err: unknown) => post({ type: 'reply', id: msg.id, error: wireError(err) }));
  });

  async function handle(msg: ToWorker): Promise<void> {
    switch (msg.type) {
      case 'run': {
        const outcomes = await runner.run(msg.frames, msg.size, msg.variant);
        const transfer = new Set<ArrayBuffer>();
        const wire: WireOutcome[] = outcomes.map((o, i) => {
          if (!o.ok) return { ok: false, error: wireError(o.error) };
          const f = msg.frames[i];
          const result: FrameResult = { ...o.result, tensors: { ...o.result.tensors } };
          held?.keep(result);
          if (returned) for (const name of Object.keys(result.tensors) as Array<keyof FrameTensors>) if (!returned.has(name)) delete result.tensors[name];
          if (f.overlay) {
            // The renderer reuses its output buffer per camera: hand out a copy.
            const ov = perception.overlay(o.result, o.image);
            result.overlay = { width: ov.width, height: ov.height, data: new Uint8Array(ov.data) };
          }
          // The main thread has the frame's bytes when they were a packed rgb8 view of what it
          // sent a copy of (no copy back); bytes it moved here go back moved; anything this side
          // converted or decoded goes back.
          const image = isViewOfInput(f.encoded, o.image) ? (f.moved ? o.image : undefined) : ownImage(f.encoded, o.image);
          collect(result, image, transfer);
          return { ok: true, result, image };
        });
        post({ type: 'reply', id: msg.id, outcomes: wire }, [...transfer]);
        return;
      }
      case 'swap': {
        const prev = engine.swapWeights(engine.makeWeightSet(msg.tails as TailWeights, msg.weightsId));
        post({ type: 'reply', id: msg.id, previous: prev.id });
        return;
      }
      case 'probe': {
        const ws = engine.makeWeightSet(msg.tails as TailWeights, msg.weightsId);
        const results = await perception.processBatch(
          msg.frames.map((image, i) => ({ camera: `probe${i}`, stampNs: 0n, image })),
          msg.size,
          ws,
        );
        const transfer = new Set<ArrayBuffer>();
        for (const r of results) collect(r, undefined, transfer);
        post({ type: 'reply', id: msg.id, results }, [...transfer]);
        return;
      }
      case 'take': {
        const tensors = held?.take(msg.camera, msg.stampNs);
        const transfer = new Set<ArrayBuffer>();
        for (const t of Object.values(tensors ?? {})) if (t && t.data.buffer instanceof ArrayBuffer) transfer.add(t.data.buffer);
        post({ type: 'reply', id: msg.id, tensors }, [...transfer]);
        return;
      }
      case 'dispose': {
        await engine.dispose();
        post({ type: 'reply', id: msg.id });
        port!.close();
        return;
      }
    }
  }
}

/**
 * The held outputs of the newest frames per camera (a ring each). A frame's tensors are taken
 * out of its result here, so they are never sent with it; `take` hands them over once.
 */
class HeldTensors {
  private readonly rings = new Map<string, Array<{ stampNs: bigint; tensors: FrameTensors }>>();

  constructor(private readonly o: HeldOutputs) {}

  keep(r: FrameResult): void {
    const tensors: FrameTensors = {};
    for (const name of this.o.tensors) {
      const t = r.tensors[name];
      if (!t) continue;
      delete r.tensors[name];
      // A batch's frames are views of one buffer per output: each held frame gets its own
      // (one memcpy), so that taking one frame's never detaches another's.
      const whole = t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength;
      tensors[name] = whole ? t : ({ ...t, data: t.data.slice() } as typeof t);
    }
    let ring = this.rings.get(r.camera);
    if (!ring) this.rings.set(r.camera, (ring = []));
    ring.push({ stampNs: r.stampNs, tensors });
    if (ring.length > this.o.frames) ring.shift();
  }

  take(camera: string, stampNs: bigint): FrameTensors | undefined {
    const ring = this.rings.get(camera);
    const i = ring?.findIndex((e) => e.stampNs === stampNs) ?? -1;
    if (!ring || i < 0) return undefined;
    return ring.splice(i, 1)[0].tensors;
  }
}

/** A packed rgb8 raw frame decodes to a view of the bytes the main thread still holds. */
function isViewOfInput(encoded: FramePayload['encoded'], image: RgbImage): boolean {
  return encoded.kind === 'raw' && encoded.data.buffer === image.data.buffer;
}

/**
 * An image this side made, safe to transfer: sharp returns a fresh buffer per decode (moved,
 * no copy); ImageDecoder.decodeRaw's converted frames share a per-camera scratch buffer that
 * must not be detached, so those are copied (one memcpy, ~0.3 ms at 720p).
 */
function ownImage(encoded: FramePayload['encoded'], image: RgbImage): RgbImage {
  const whole = image.data.byteOffset === 0 && image.data.byteLength === image.data.buffer.byteLength;
  if (encoded.kind === 'compressed' && whole) return image;
  return { width: image.width, height: image.height, data: new Uint8Array(image.data) };
}

/** Every ArrayBuffer a result refers to, each once (batch outputs share one per tensor). */
function collect(r: FrameResult, image: RgbImage | undefined, into: Set<ArrayBuffer>): void {
  const add = (a: ArrayBufferView | undefined) => {
    if (a && a.buffer instanceof ArrayBuffer && a.buffer.byteLength > 0) into.add(a.buffer);
  };
  add(r.lane.data);
  add(r.depth.data);
  for (const t of Object.values(r.tensors)) add(t?.data);
  add(r.overlay?.data);
  add(image?.data);
}

main().catch((err: unknown) => {
  post({ type: 'fatal', error: wireError(err) });
});
