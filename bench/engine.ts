/**
 * Per-frame time of the engine against its floor, the raw onnxruntime-node `session.run` on
 * the same model, same feeds and fetches, interleaved in one process so that both see the
 * same machine load. Prints medians; no assertions (benchmarks print, tests check).
 *
 *   npx tsx src/engine/bench-engine.ts [modelDir=models/default] [iterations=200] [threads=1] [camera=1280x720]
 */
import * as ort from 'onnxruntime-node';
import { decodeDetections, asFloatMap } from '../src/engine/decode.js';
import { DEFAULT_OUTPUTS, Engine } from '../src/engine/engine.js';
import { OverlayRenderer } from '../src/engine/overlay.js';
import { servingGraph } from '../src/engine/narrow-tail.js';

const [dir = 'models/default', itArg = '200', thArg = '1', camArg = '1280x720'] = process.argv.slice(2);
const iterations = Number(itArg);
const threads = Number(thArg);
const [cw, ch] = camArg.split('x').map(Number);

const engine = await Engine.create({ modelDir: dir, providers: ['cpu'], threads, log: (l) => console.log(l) });
const m = engine.manifest;
const [H, W] = engine.inputSize;
const frame = { width: cw, height: ch, data: new Uint8Array(cw * ch * 3).map((_, i) => (i * 31) & 0xff) };

// the graph the engine runs for the shipped weights (a widened det tail's narrow copy)
const graph = servingGraph(`${dir}/${m.files.model}`, m, engine.currentWeights.toTails(), DEFAULT_OUTPUTS);
const rawOpts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
const raw = typeof graph === 'string' ? await ort.InferenceSession.create(graph, rawOpts) : await ort.InferenceSession.create(graph, rawOpts);
const feeds: Record<string, ort.Tensor> = {
  image: new ort.Tensor('uint8', frame.data, [1, ch, cw, 3]),
  size: new ort.Tensor('int64', BigInt64Array.of(BigInt(H), BigInt(W)), [2]),
};
for (const [name, t] of engine.currentWeights.tensors) feeds[name] = new ort.Tensor('float32', t.data as Float32Array, t.dims);
const fetches = [...DEFAULT_OUTPUTS];
const overlay = new OverlayRenderer();

const times = { raw: [] as number[], engine: [] as number[], decode: [] as number[], overlay: [] as number[] };
const now = () => performance.now();
for (let i = 0; i < iterations + 20; i++) {
  const t0 = now();
  await raw.run(feeds, fetches);
  const t1 = now();
  const [out] = await engine.infer([frame]);
  const t2 = now();
  const dets = decodeDetections(asFloatMap(out.tensors.det_heat, 'det_heat'), asFloatMap(out.tensors.det_box, 'det_box'), {
    threshold: 0.3, maxDetections: 100, stride: m.strides.det, inputSize: out.size, cameraSize: frame, classes: m.classes,
  });
  const t3 = now();
  overlay.render({ image: frame, mask: { width: W, height: H, data: out.tensors.seg_mask!.data as Uint8Array }, detections: dets });
  const t4 = now();
  if (i < 20) continue; // warm-up
  times.raw.push(t1 - t0);
  times.engine.push(t2 - t1);
  times.decode.push(t3 - t2);
  times.overlay.push(t4 - t3);
}
const q = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))];
console.log(`model ${m.name}@${m.version}, input ${H}x${W}, camera ${cw}x${ch}, ${threads} thread(s), ${iterations} frames, fetches ${fetches.join(',')}`);
for (const [k, a] of Object.entries(times)) console.log(`${k.padEnd(8)} median ${q(a, 0.5).toFixed(3)} ms   p90 ${q(a, 0.9).toFixed(3)} ms`);
console.log(`engine overhead over raw session.run: ${(q(times.engine, 0.5) - q(times.raw, 0.5)).toFixed(3)} ms (median difference)`);
await raw.release();
await engine.dispose();
