/**
 * INT8 against FP32 on this machine, in one process: the raw onnxruntime-node `session.run`
 * of both variants of the same package on the same frames, ALTERNATED run by run (so both see
 * the same load from other work), at the default input size, batch 1 and a batch of 4
 * cameras; the kernels ONNX Runtime actually runs (its optimised graph, dumped with
 * `optimizedModelFilePath`); and the metrics of both on the same held-out frames.
 *
 *   npx tsx bench/int8.ts [--model DIR] [--rounds N] [--heldout N] [--json]
 *
 * Where the package has no int8 variant, one is built into bench/.cache/int8/ (calibrated on
 * the calibration bags of bench/eval-frames.ts) with the defaults of `adaptive-perception
 * quantize`. `npm run bench` calls `int8Figures` for its `int8` key.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildPrecisionVariants, DEFAULT_KEEP_FIRST, DEFAULT_METHOD } from '../src/compress/build.js';
import { evaluatePackage, metricLoss, type Metrics } from '../src/compress/evaluate.js';
import { precisionVariants, type Manifest } from '../src/model/manifest.js';
import { loadModelPackage } from '../src/model/package.js';
import { encodeModel, readModel } from '../src/model/quantize/onnx.js';
import { resizeFirst } from '../src/model/quantize/preprocess.js';
import { calibrationFrames, heldoutFrames } from './eval-frames.js';
import { CACHE, ensureBag, loadImages } from './frames.js';
import type { Image } from '../src/msgs/index.js';

export interface TimedPair {
  fp32_ms: number;
  int8_ms: number;
  /** fp32_ms / int8_ms */
  speedup: number;
  /** CPU time of the process (every thread) per run, and its ratio. */
  fp32_cpu_ms: number;
  int8_cpu_ms: number;
  cpu_speedup: number;
  runs: number;
}

export interface Int8Figures {
  package: string;
  /**
   * FP32 with the INT8 variant's resize-first preprocessing (in memory, same run): separates
   * what the preprocessing order buys from what integer kernels buy. null when not applicable.
   */
  fp32_resize_first: { ms: number; cpu_ms: number; int8_speedup_vs_it: number } | null;
  /** int8 variant's median session.run at the default size, batch 1 (the INT8 floor). */
  floor_ms: number;
  fp32_floor_ms: number;
  speedup_vs_fp32: number;
  batch1: TimedPair;
  batch4: TimedPair;
  metrics_fp32: Metrics | null;
  metrics_int8: Metrics | null;
  /** Points gained per metric (negative = lost; AbsRel's fall counts as a gain) and the worst. */
  loss_points: { points: Record<string, number | null>; worst: number } | null;
  /** Op types in ONNX Runtime's optimised INT8 graph, by count. */
  kernels_int8: Record<string, number>;
  kernels_fp32: Record<string, number>;
  quantization: unknown;
  loadavg_1m: [number, number];
  target: string;
}

export interface Int8Options {
  modelDir: string;
  /** Camera frames for timing (the benchmark's one-camera bag). */
  images: readonly Image[];
  rounds?: number;
  /** Held-out frames per domain for the metrics (0: skip the metrics). */
  heldoutPerDomain?: number;
  calibrationPerDomain?: number;
  log?: (l: string) => void;
}

const med = (a: readonly number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r3 = (v: number) => Math.round(v * 1000) / 1000;
const r2 = (v: number) => Math.round(v * 100) / 100;

/** The package itself when it ships int8; else a copy with int8 built into the cache. */
export async function packageWithInt8(modelDir: string, calibPerDomain: number, log: (l: string) => void): Promise<string> {
  const manifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as Manifest;
  if (precisionVariants(manifest).variants.int8) return modelDir;
  // The quantizer's defaults are part of the key: a change of them builds a fresh variant.
  const key = createHash('sha256').update(JSON.stringify([manifest.sha256, DEFAULT_METHOD, DEFAULT_KEEP_FIRST, 'resize-first'])).digest('hex').slice(0, 12);
  const out = join(CACHE, 'int8', `${manifest.name}-${key}-c${calibPerDomain}`);
  if (existsSync(join(out, 'manifest.json'))) {
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
    if (precisionVariants(m).variants.int8) return out;
  }
  mkdirSync(out, { recursive: true });
  const calibration = (await calibrationFrames(calibPerDomain, log)).map((f) => f.image);
  log(`int8: building the INT8 variant of ${modelDir} into ${out} (${calibration.length} calibration frames)`);
  await buildPrecisionVariants({ modelDir, outDir: out, calibration, precisions: ['int8'], log });
  return out;
}

function census(file: string): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of readModel(file).graph.node) c[n.opType] = (c[n.opType] ?? 0) + 1;
  return Object.fromEntries(Object.entries(c).sort((a, b) => b[1] - a[1]));
}

/** Opens both variants, times them alternated, and scores them. */
export async function int8Figures(o: Int8Options): Promise<Int8Figures> {
  const log = o.log ?? (() => {});
  const rounds = o.rounds ?? 60;
  const load0 = os.loadavg()[0];
  const dir = await packageWithInt8(o.modelDir, o.calibrationPerDomain ?? 16, log);
  const p32 = await loadModelPackage(dir, { precision: 'fp32' });
  const p8 = await loadModelPackage(dir, { precision: 'int8' });
  const [H, W] = p32.manifest.input.sizes[0];
  const optDir = join(CACHE, 'int8', 'optimized');
  mkdirSync(optDir, { recursive: true });
  const open = (path: string, name: string) =>
    ort.InferenceSession.create(path, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', optimizedModelFilePath: join(optDir, `${name}.onnx`) });
  ort.env.logLevel = 'error';
  const s32 = await open(p32.modelPath, 'fp32');
  const s8 = await open(p8.modelPath, 'int8');
  const rfModel = readModel(p32.modelPath);
  const sRf = resizeFirst(rfModel) ? await ort.InferenceSession.create(encodeModel(rfModel), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' }) : undefined;
  const rf: { t: number[]; c: number[] } = { t: [], c: [] };
  const fixed: Record<string, ort.Tensor> = { size: new ort.Tensor('int64', BigInt64Array.of(BigInt(H), BigInt(W)), [2]) };
  for (const [name, t] of p32.tails) fixed[name] = new ort.Tensor('float32', t.data, [...t.shape]);
  const fetches = ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth', 'feat_mean'];
  const { width, height } = o.images[0];
  const bytes = width * height * 3;
  const batch = (start: number, n: number) => {
    const d = new Uint8Array(bytes * n);
    for (let i = 0; i < n; i++) d.set(o.images[(start + i) % o.images.length].data.subarray(0, bytes), i * bytes);
    return { ...fixed, image: new ort.Tensor('uint8', d, [n, height, width, 3]) };
  };

  const timePair = async (n: number, runs: number): Promise<TimedPair> => {
    const feeds = Array.from({ length: Math.min(8, o.images.length) }, (_, i) => batch(i * n, n));
    for (let w = 0; w < 3; w++) for (const s of [s32, s8]) await s.run(feeds[0], fetches);
    const t: Record<'fp32' | 'int8', number[]> = { fp32: [], int8: [] };
    const c: Record<'fp32' | 'int8', number[]> = { fp32: [], int8: [] };
    for (let r = 0; r < runs; r++) {
      const f = feeds[r % feeds.length];
      const order: ['fp32' | 'int8', ort.InferenceSession][] = r % 2 ? [['fp32', s32], ['int8', s8]] : [['int8', s8], ['fp32', s32]];
      for (const [k, s] of order) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await s.run(f, fetches);
        t[k].push(performance.now() - t0);
        const cpu = process.cpuUsage(cpu0);
        c[k].push((cpu.user + cpu.system) / 1000);
      }
      if (sRf && n === 1) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await sRf.run(f, fetches);
        rf.t.push(performance.now() - t0);
        const cpu = process.cpuUsage(cpu0);
        rf.c.push((cpu.user + cpu.system) / 1000);
      }
    }
    const f32 = med(t.fp32);
    const i8 = med(t.int8);
    return {
      fp32_ms: r3(f32),
      int8_ms: r3(i8),
      speedup: r2(f32 / i8),
      fp32_cpu_ms: r3(med(c.fp32)),
      int8_cpu_ms: r3(med(c.int8)),
      cpu_speedup: r2(med(c.fp32) / med(c.int8)),
      runs,
    };
  };
  log(`int8: timing fp32 and int8 alternated, ${rounds} runs each at batch 1, ${Math.ceil(rounds / 3)} at batch 4 (${H}x${W} from ${width}x${height})`);
  const batch1 = await timePair(1, rounds);
  const batch4 = await timePair(4, Math.ceil(rounds / 3));
  await s32.release();
  await s8.release();
  await sRf?.release();

  let metrics32: Metrics | null = null;
  let metrics8: Metrics | null = null;
  if ((o.heldoutPerDomain ?? 40) > 0) {
    const frames = await heldoutFrames(o.heldoutPerDomain ?? 40, log);
    log(`int8: scoring fp32 and int8 on ${frames.length} held-out frames`);
    metrics32 = await evaluatePackage(dir, 'fp32', frames);
    metrics8 = await evaluatePackage(dir, 'int8', frames);
  }
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { precisions?: { variants?: { int8?: { quantization?: unknown } } } };
  return {
    package: dir,
    fp32_resize_first: rf.t.length ? { ms: r3(med(rf.t)), cpu_ms: r3(med(rf.c)), int8_speedup_vs_it: r2(med(rf.t) / batch1.int8_ms) } : null,
    floor_ms: batch1.int8_ms,
    fp32_floor_ms: batch1.fp32_ms,
    speedup_vs_fp32: batch1.speedup,
    batch1,
    batch4,
    metrics_fp32: metrics32,
    metrics_int8: metrics8,
    loss_points: metrics32 && metrics8 ? metricLoss(metrics32, metrics8) : null,
    kernels_int8: census(join(optDir, 'int8.onnx')),
    kernels_fp32: census(join(optDir, 'fp32.onnx')),
    quantization: manifest.precisions?.variants?.int8?.quantization ?? null,
    loadavg_1m: [r2(load0), r2(os.loadavg()[0])],
    target: 'int8 >= 2x faster than fp32 (session.run, batch 1), <= 1 point lost on each metric',
  };
}

export function int8Table(f: Int8Figures): string {
  const m = (x: Metrics | null, k: keyof Metrics) => (x && x[k] !== null ? String(x[k]) : '-');
  const rows = [
    ['', 'fp32', 'int8', 'int8 vs fp32'],
    ['session.run batch 1 (median ms)', String(f.batch1.fp32_ms), String(f.batch1.int8_ms), `${f.batch1.speedup}x`],
    ['  CPU ms per run (all threads)', String(f.batch1.fp32_cpu_ms), String(f.batch1.int8_cpu_ms), `${f.batch1.cpu_speedup}x`],
    ['session.run batch 4 (median ms)', String(f.batch4.fp32_ms), String(f.batch4.int8_ms), `${f.batch4.speedup}x`],
  ];
  if (f.fp32_resize_first) rows.push(['  fp32 with resize-first, batch 1', String(f.fp32_resize_first.ms), String(f.batch1.int8_ms), `${f.fp32_resize_first.int8_speedup_vs_it}x`]);
  for (const k of ['det_map50', 'lane_iou', 'drivable_iou', 'depth_absrel', 'depth_delta1'] as const) {
    rows.push([k, m(f.metrics_fp32, k), m(f.metrics_int8, k), f.loss_points?.points[k] !== undefined && f.loss_points.points[k] !== null ? `${f.loss_points.points[k]} pt` : '-']);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(w[i])).join('  '));
  const k8 = Object.entries(f.kernels_int8).slice(0, 8).map(([k, v]) => `${k} ${v}`).join(', ');
  return [...lines, `int8 kernels (optimised graph): ${k8}`, `load ${f.loadavg_1m[0]} -> ${f.loadavg_1m[1]}; target: ${f.target}`].join('\n');
}

async function main() {
  const argv = process.argv.slice(2);
  const val = (k: string, d: string) => {
    const i = argv.indexOf(k);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : d;
  };
  const json = argv.includes('--json');
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const bag = await ensureBag({ cameras: ['front'], frames: 60, seed: 4242, width: 1280, height: 720, rateHz: 30 }, log);
  const images = await loadImages(bag);
  const f = await int8Figures({
    modelDir: resolve(val('--model', 'models/default')),
    images,
    rounds: Number(val('--rounds', '60')),
    heldoutPerDomain: Number(val('--heldout', '40')),
    log,
  });
  process.stdout.write(json ? `${JSON.stringify(f, null, 2)}\n` : `${int8Table(f)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/int8.ts')) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
