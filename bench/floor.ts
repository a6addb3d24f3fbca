/**
 * The floor: the raw onnxruntime-node loop on the same model and frames, nothing of ours in
 * between. Per frame: take the rgb8 view out of the bag's Image message (the raw "decode"),
 * wrap it in an ort.Tensor, `session.run` with the same feeds and fetches the pipeline uses.
 * Session options are the engine's defaults in replay (graph optimisation 'all', ONNX
 * Runtime's own thread count), so the only difference left is our code.
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DEFAULT_OUTPUTS } from '../src/engine/engine.js';
import { loadModelPackage } from '../src/model/package.js';
import { servingGraph } from '../src/engine/narrow-tail.js';
import type { Image } from '../src/msgs/index.js';

export interface Floor {
  /** Runs every frame once (after `warmup` untimed runs); returns ms per frame. */
  pass(images: readonly Image[], warmup?: number): Promise<number[]>;
  release(): Promise<void>;
}

export async function openFloor(modelDir: string): Promise<Floor> {
  const pkg = await loadModelPackage(modelDir); // manifest + tails.json (files only, no engine)
  const [H, W] = pkg.manifest.input.sizes[0];
  // the graph the engine runs for the shipped weights (a widened det tail's narrow copy)
  const graph = servingGraph(join(modelDir, pkg.manifest.files.model), pkg.manifest, pkg.tails, DEFAULT_OUTPUTS);
  const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  const session = typeof graph === 'string' ? await ort.InferenceSession.create(graph, opts) : await ort.InferenceSession.create(graph, opts);
  const fixed: Record<string, ort.Tensor> = { size: new ort.Tensor('int64', BigInt64Array.of(BigInt(H), BigInt(W)), [2]) };
  for (const [name, t] of pkg.tails) fixed[name] = new ort.Tensor('float32', t.data, [...t.shape]);
  const fetches = [...DEFAULT_OUTPUTS];

  const runOne = async (img: Image): Promise<void> => {
    if (img.encoding !== 'rgb8' || img.step !== img.width * 3) throw new Error(`floor takes packed rgb8, got ${img.encoding} step ${img.step}`);
    const view = img.data.subarray(0, img.width * img.height * 3);
    await session.run({ ...fixed, image: new ort.Tensor('uint8', view, [1, img.height, img.width, 3]) }, fetches);
  };

  return {
    async pass(images, warmup = 0) {
      for (let i = 0; i < warmup; i++) await runOne(images[i % images.length]);
      const ms: number[] = [];
      for (const img of images) {
        const t0 = performance.now();
        await runOne(img);
        ms.push(performance.now() - t0);
      }
      return ms;
    },
    release: () => session.release(),
  };
}
