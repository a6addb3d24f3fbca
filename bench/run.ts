/**
 * `npm run bench [-- --json] [--quick] [--model DIR]` — the performance benchmark (not a test:
 * it prints figures, it asserts nothing). See bench/README.md for what each figure means.
 *
 * Every figure is printed beside its reference from the same run: the pipeline beside the raw
 * ONNX Runtime floor, the peers beside our pipeline. With --json, stdout carries exactly one
 * JSON object; progress goes to stderr.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, relative } from 'node:path';
import { loadCodecs } from '../src/bag/compression.js';
import { Engine } from '../src/engine/engine.js';
import { Perception } from '../src/pipeline/perception.js';
import type { Image } from '../src/msgs/index.js';
import { replay } from '../src/replay/replay.js';
import type { ReplaySummary } from '../src/replay/summary.js';
import { compressionFigures, compressionTable } from './compression.js';
import { openFloor } from './floor.js';
import { perFrameFigures } from './per-frame.js';
import { bagReadMsPerFrame, CACHE, ensureBag, loadImages, uncompressedCopy, writeFramesFile, type BagSpec } from './frames.js';

const ROOT = join(import.meta.dirname, '..');

interface Args {
  json: boolean;
  quick: boolean;
  model: string;
  python: string;
  skipPeers: boolean;
  /** replay's `inference` for every replay figure (default: replay's own default). */
  inference?: 'worker' | 'main';
  /** replay's `reader` for every replay figure (default: replay's own default). */
  reader?: 'thread' | 'main';
}

function parseArgs(argv: string[]): Args {
  const a: Args = { json: false, quick: false, model: 'models/default', python: '/usr/bin/python3', skipPeers: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--json') a.json = true;
    else if (k === '--quick') a.quick = true;
    else if (k === '--no-peers') a.skipPeers = true;
    else if (k === '--inference') {
      const v = argv[++i];
      if (v !== 'worker' && v !== 'main') throw new Error('--inference needs worker or main');
      a.inference = v;
    } else if (k === '--reader') {
      const v = argv[++i];
      if (v !== 'thread' && v !== 'main') throw new Error('--reader needs thread or main');
      a.reader = v;
    } else if (k === '--model' || k === '--python') {
      const v = argv[++i];
      if (!v) throw new Error(`${k} needs a value`);
      if (k === '--model') a.model = v;
      else a.python = v;
    } else if (k === '--help' || k === '-h') {
      process.stdout.write('usage: npm run bench -- [--json] [--quick] [--model DIR] [--python PATH] [--no-peers] [--inference worker|main] [--reader thread|main]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${k} (try --help)`);
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const log = (line: string) => process.stderr.write(`${line}\n`);
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r2 = (x: number) => Math.round(x * 100) / 100;
const quantile = (a: readonly number[], p: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const mb = (b: number) => Math.round(b / 1048576);

// Frames: one camera for floor / pipeline / peers; four 30 Hz cameras for the real-time runs.
const N1 = args.quick ? 20 : 60;
const N4 = args.quick ? 15 : 90;
const one: BagSpec = { cameras: ['front'], frames: N1, seed: 4242, width: 1280, height: 720, rateHz: 30 };
const four: BagSpec = { cameras: ['front', 'left', 'right', 'rear'], frames: N4, seed: 4343, width: 1280, height: 720, rateHz: 30 };
const outRoot = join(CACHE, 'out');

/** Replay with timestamps of every finished frame (processed or dropped) and RSS samples. */
async function timedReplay(name: string, opts: Partial<Parameters<typeof replay>[0]> & { bag: string }) {
  const marks: number[] = [];
  // Process CPU time (all threads: main, workers, ONNX Runtime's pool) at the first and the
  // latest finished frame, so the steady part's CPU per frame can be set beside its wall time.
  let cpuFirst: NodeJS.CpuUsage | undefined;
  let cpuLast: NodeJS.CpuUsage | undefined;
  const rss: number[] = [];
  const quartiles: Record<string, number> = {};
  let total = 0;
  const timer = setInterval(() => rss.push(process.memoryUsage().rss), 10);
  const rssStart = process.memoryUsage().rss;
  let summary: ReplaySummary;
  try {
    summary = await replay({
      modelDir: args.model,
      outDir: join(outRoot, name),
      providers: ['cpu'],
      ...(args.inference ? { inference: args.inference } : {}),
      ...(args.reader ? { reader: args.reader } : {}),
      ...opts,
      onProgress: (done, n) => {
        marks.push(performance.now());
        cpuLast = process.cpuUsage();
        cpuFirst ??= cpuLast;
        total = n;
        const r = process.memoryUsage().rss;
        rss.push(r);
        for (const q of [25, 50, 75, 100]) if (quartiles[`${q}%`] === undefined && done * 100 >= q * n) quartiles[`${q}%`] = mb(r);
      },
    });
  } finally {
    clearInterval(timer);
  }
  const cpuMs = cpuFirst && cpuLast ? (cpuLast.user - cpuFirst.user + cpuLast.system - cpuFirst.system) / 1000 : NaN;
  const cpuMsPerFrame = marks.length > 1 ? cpuMs / (marks.length - 1) : NaN;
  return { summary, marks, total, cpuMsPerFrame, rssStartMb: mb(rssStart), rssPeakMb: mb(Math.max(rssStart, ...rss)), rssAt: quartiles };
}

function machine() {
  const cpus = os.cpus();
  const require = createRequire(import.meta.url);
  let ortVersion = 'unknown';
  try {
    ortVersion = (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    /* not fatal */
  }
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    loadavg_1m_at_start: r2(os.loadavg()[0]),
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    onnxruntime_node: ortVersion,
  };
}

/**
 * Our side of the peers' comparison on the same frames and the same work: each rgb8 frame
 * already in memory through Perception.process (the engine, then boxes decoded into camera
 * pixels, mask and depth at model size): ms of each frame after a warm-up.
 */
async function sameWorkMs(images: readonly Image[]): Promise<number[]> {
  const engine = await Engine.create({ modelDir: args.model, providers: ['cpu'] });
  try {
    const perception = new Perception(engine, { scoreThreshold: 0.3, denseAtCameraSize: false, overlayWidth: 640 });
    const rgb = images.map((im) => ({ width: im.width, height: im.height, data: im.data.subarray(0, im.width * im.height * 3) }));
    for (let i = 0; i < 5; i++) await perception.process('front', BigInt(i), rgb[i % rgb.length]);
    const ms: number[] = [];
    for (let i = 0; i < rgb.length; i++) {
      const t0 = performance.now();
      await perception.process('front', BigInt(i), rgb[i]);
      ms.push(performance.now() - t0);
    }
    return ms;
  } finally {
    await engine.dispose();
  }
}

/** Runs each peer in its own Python process (their thread pools never compete) and merges. */
async function runPeers(images: readonly Image[]): Promise<Record<string, unknown>> {
  const file = join(CACHE, `frames_${images.length}_${images[0].width}x${images[0].height}.rgb`);
  await writeFramesFile(images, file);
  const merged: Record<string, unknown> = {};
  for (const peer of ['opencv_dnn', 'pytorch']) {
    const argv = [join(ROOT, 'bench', 'peers.py'), '--peer', peer, '--model', args.model, '--frames', file, '--width', String(images[0].width), '--height', String(images[0].height), '--count', String(images.length), '--warmup', args.quick ? '3' : '5', '--threads', '2'];
    const r = await runPython(argv);
    if (r.error && !r[peer]) r[peer] = { error: r.error, stderr_tail: r.stderr_tail };
    const { parity_max_abs_diff: parity, ...rest } = r;
    Object.assign(merged, rest);
    if (parity) merged.parity_max_abs_diff = parity;
  }
  delete merged.error;
  delete merged.stderr_tail;
  return merged;
}

function runPython(argv: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const child = spawn(args.python, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const l of d.toString().split('\n')) if (l.startsWith('peers:')) log(l);
    });
    child.on('error', (e) => resolve({ error: `cannot start ${args.python}: ${e.message} (the peers need Debian's Python with python3-opencv, python3-torch, python3-onnx, python3-numpy: apt-get install python3 python3-opencv python3-torch python3-onnx python3-numpy, or pass --python PATH)` }));
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, unknown>);
      } catch {
        // peers.py's own refusals are one line starting "peers: ": that line is the error.
        const last = err.trim().split('\n').pop() ?? '';
        resolve({ error: last.startsWith('peers: ') ? last : `peers.py exited ${code}`, stderr_tail: err.slice(-2000) });
      }
    });
  });
}

async function main() {
  const t0 = performance.now();
  const result: Record<string, unknown> = { machine: machine(), model: args.model, quick: args.quick, inference: args.inference ?? 'default', reader: args.reader ?? 'default' };
  await mkdir(outRoot, { recursive: true });
  const bag1 = await ensureBag(one, log);
  const bag4 = await ensureBag(four, log);
  result.frames = {
    one_camera: { bag: relative(ROOT, bag1), frames: N1, size: '1280x720 rgb8', rate_hz: 30, seed: one.seed },
    four_cameras: { bag: relative(ROOT, bag4), frames_per_camera: N4, size: '1280x720 rgb8', rate_hz: 30, seed: four.seed },
    written_by: 'writeSimBag (src/cli/sim.ts), day domain, raw rgb8, zstd chunks, ground truth at 1/4 size; *_nocomp.mcap: the same messages, uncompressed chunks',
  };
  const bag1n = await uncompressedCopy(bag1, log);
  const bag4n = await uncompressedCopy(bag4, log);
  const images = await loadImages(bag1);

  // --- floor (before and after the pipeline run, pooled, so that both see the same load)
  log('bench: floor (raw onnxruntime-node session.run loop)');
  const floor = await openFloor(args.model);
  const floorCpu0 = process.cpuUsage();
  const floorA = await floor.pass(images, 5);
  const floorCpuA = process.cpuUsage(floorCpu0);

  // --- pipeline: one camera, as fast as possible
  log('bench: pipeline (replay --fast, one camera)');
  const pipe = await timedReplay('pipeline', { bag: bag1, fast: true });
  const floorB = await floor.pass(images, 2);
  await floor.release();
  // CPU per floor frame from the first pass (its warm-up runs counted as frames too).
  const floorCpuMs = (floorCpuA.user + floorCpuA.system) / 1000 / (floorA.length + 5);
  const cores = os.availableParallelism();
  const floorMs = [...floorA, ...floorB];
  const floorMed = quantile(floorMs, 0.5);
  const n = pipe.summary.processed;
  // Steady state: from the first finished frame to the last (engine start-up, warm-up and the
  // report written at the end are outside); wall_s includes them.
  const steady = n > 1 ? (pipe.marks[pipe.marks.length - 1] - pipe.marks[0]) / (pipe.marks.length - 1) : NaN;
  const pipelineMs = steady;
  result.floor = {
    ms_per_frame: r3(floorMed),
    median_ms: r3(floorMed),
    p90_ms: r3(quantile(floorMs, 0.9)),
    before_pipeline_median_ms: r3(quantile(floorA, 0.5)),
    after_pipeline_median_ms: r3(quantile(floorB, 0.5)),
    frames: floorMs.length,
    cpu_ms_per_frame: r3(floorCpuMs),
    timed: 'rgb8 view from the Image message + ort.Tensor + session.run (same feeds/fetches as the engine: image, size, tails; det_heat, det_box, seg_mask, seg_entropy, depth, feat_mean)',
  };
  result.pipeline = {
    ms_per_frame: r3(pipelineMs),
    wall_ms_per_frame: r3((pipe.summary.wall_s * 1000) / Math.max(1, n)),
    median_latency_ms: pipe.summary.latency_ms?.p50 ?? null,
    p99_latency_ms: pipe.summary.latency_ms?.p99 ?? null,
    ratio_to_floor: r2(pipelineMs / floorMed),
    ratio_to_floor_median_latency: pipe.summary.latency_ms ? r2(pipe.summary.latency_ms.p50 / floorMed) : null,
    cpu_ms_per_frame: r3(pipe.cpuMsPerFrame),
    cpu_ratio_to_floor: r2(pipe.cpuMsPerFrame / floorCpuMs),
    // What the CPU time alone allows: all cores busy all the time, nothing waiting.
    cpu_bound_ms_per_frame: r3(pipe.cpuMsPerFrame / cores),
    frames: n,
    input_size_end: pipe.summary.scheduler.input_size,
    ladder_changes: pipe.summary.scheduler.ladder_changes,
    timed: 'replay({fast:true}): bag read (zstd + CDR), scheduler, engine (session.run), output decode, result messages (detections, lane mask, depth at model size, overlay at 10 Hz) written to an MCAP, scoring against /gt; ms_per_frame = steady interval between finished frames, wall_ms_per_frame = replay wall time (incl. engine start-up and report) / frames',
  };

  // --- where the pipeline's time goes besides the model: reading the bag (zstd chunks + CDR,
  // on the event loop). The same replay on an uncompressed copy shows the pipeline without it.
  log('bench: bag read cost, and the pipeline on an uncompressed copy of the bag');
  const pipeN = await timedReplay('pipeline_uncompressed', { bag: bag1n, fast: true });
  const steadyN = pipeN.marks.length > 1 ? (pipeN.marks[pipeN.marks.length - 1] - pipeN.marks[0]) / (pipeN.marks.length - 1) : NaN;
  result.pipeline_uncompressed_bag = {
    ms_per_frame: r3(steadyN),
    median_latency_ms: pipeN.summary.latency_ms?.p50 ?? null,
    ratio_to_floor: r2(steadyN / floorMed),
    cpu_ms_per_frame: r3(pipeN.cpuMsPerFrame),
    cpu_bound_ms_per_frame: r3(pipeN.cpuMsPerFrame / cores),
    frames: pipeN.summary.processed,
    input_size_end: pipeN.summary.scheduler.input_size,
    ladder_changes: pipeN.summary.scheduler.ladder_changes,
  };
  result.bag_read_ms_per_frame = {
    one_cam_zstd: r3(await bagReadMsPerFrame(bag1)),
    one_cam_uncompressed: r3(await bagReadMsPerFrame(bag1n)),
    four_cam_zstd: r3(await bagReadMsPerFrame(bag4)),
    four_cam_uncompressed: r3(await bagReadMsPerFrame(bag4n)),
    // The codecs the read ran on (bench/read.ts sets them beside the WebAssembly / JS baseline).
    codecs: (await loadCodecs()).info,
    note: 'time to iterate the camera and /gt topics alone (what replay reads), per camera frame, on the main thread',
  };

  // --- four 30 Hz cameras at the recorded rate, and at twice the rate
  log('bench: realtime_4cam (replay at recorded rate, four cameras)');
  const rt = await timedReplay('realtime_4cam', { bag: bag4 });
  const singleMs = pipe.summary.latency_ms?.p50 ?? pipelineMs;
  result.realtime_4cam = {
    p50_ms: rt.summary.latency_ms?.p50 ?? null,
    p99_ms: rt.summary.latency_ms?.p99 ?? null,
    misses: rt.summary.deadline_misses,
    misses_started_late: rt.summary.misses_started_late ?? null,
    drops: rt.summary.dropped,
    drops_by_reason: rt.summary.drops_by_reason,
    frames: rt.summary.frames,
    processed: rt.summary.processed,
    single_frame_ms: singleMs,
    p99_over_single_frame: rt.summary.latency_ms ? r2(rt.summary.latency_ms.p99 / singleMs) : null,
    budget_ms: r2(1000 / 30),
    dispatch_delay_p99_ms: rt.summary.dispatch_delay_ms?.p99 ?? null,
    event_loop_delay_p99_ms: r3(rt.summary.event_loop_delay_ms.p99),
    batch_sizes: rt.summary.scheduler.batch_sizes,
    input_size_end: rt.summary.scheduler.input_size,
    ladder_changes: rt.summary.scheduler.ladder_changes,
  };

  {
    const rtN = await timedReplay('realtime_4cam_uncompressed', { bag: bag4n });
    result.realtime_4cam_uncompressed_bag = {
      p50_ms: rtN.summary.latency_ms?.p50 ?? null,
      p99_ms: rtN.summary.latency_ms?.p99 ?? null,
      misses: rtN.summary.deadline_misses,
      drops: rtN.summary.dropped,
      drops_by_reason: rtN.summary.drops_by_reason,
      processed: rtN.summary.processed,
      p99_over_single_frame: rtN.summary.latency_ms ? r2(rtN.summary.latency_ms.p99 / singleMs) : null,
      dispatch_delay_p99_ms: rtN.summary.dispatch_delay_ms?.p99 ?? null,
      input_size_end: rtN.summary.scheduler.input_size,
    };
  }

  // --- the four-camera bag as fast as the pipeline goes: the throughput overload is held to
  log('bench: fast_4cam (replay --fast, four cameras: the throughput reference for overload_2x)');
  const f4 = await timedReplay('fast_4cam', { bag: bag4, fast: true });
  const f4Ms = f4.marks.length > 1 ? (f4.marks[f4.marks.length - 1] - f4.marks[0]) / (f4.marks.length - 1) : NaN;
  result.fast_4cam = { ms_per_frame: r3(f4Ms), frames_per_s: r2(1000 / f4Ms), processed: f4.summary.processed, input_size_end: f4.summary.scheduler.input_size };

  log('bench: overload_2x (replay at rate 2, four cameras)');
  if (global.gc) global.gc();
  const ov = await timedReplay('overload_2x', { bag: bag4, rate: 2 });
  // Served rate: processed frames over the bag's duration at rate 2 (the time frames were offered).
  const ovSpanS = Number(ov.summary.bag_duration_s) / 2;
  const ovFps = ovSpanS > 0 ? ov.summary.processed / ovSpanS : NaN;
  const q = ov.rssAt;
  const flat = q['25%'] !== undefined && q['100%'] !== undefined ? q['100%'] - q['25%'] <= Math.max(16, q['25%'] * 0.05) : null;
  result.overload_2x = {
    p99_ms: ov.summary.latency_ms?.p99 ?? null,
    p50_ms: ov.summary.latency_ms?.p50 ?? null,
    budget_ms: r2(1000 / 60),
    misses: ov.summary.deadline_misses,
    misses_started_late: ov.summary.misses_started_late ?? null,
    drops: ov.summary.dropped,
    drops_by_reason: ov.summary.drops_by_reason,
    frames: ov.summary.frames,
    processed: ov.summary.processed,
    peak_rss_mb: ov.rssPeakMb,
    rss_start_mb: ov.rssStartMb,
    rss_mb_at: q,
    rss_flat: flat,
    rss_flat_rule: 'rss at 100% of the run within max(16 MB, 5%) of rss at 25%',
    batch_sizes: ov.summary.scheduler.batch_sizes,
    input_size_end: ov.summary.scheduler.input_size,
    ladder_changes: ov.summary.scheduler.ladder_changes,
    rung_end: ov.summary.scheduler.rung ?? null,
    ladder_rungs: ov.summary.scheduler.ladder_rungs ?? null,
    served_frames_per_s: r2(ovFps),
    ratio_to_fast: r2(ovFps * f4Ms / 1000),
    ratio_to_fast_rule: 'served frames/s (processed / bag duration at rate 2) over fast_4cam frames/s (target >= 0.8)',
  };

  // --- the ROS node's per-frame path on its own (CDR in, result messages out), beside the
  // floor, alternated frame by frame in one process (bench/per-frame.ts)
  log('bench: perception (the ROS node per frame, in memory, beside the floor)');
  result.perception = await perFrameFigures({ modelDir: args.model, images, rounds: args.quick ? 1 : 2, inference: args.inference, log });

  // --- batching: the scheduler with and without cross-camera batching (rate 4: always a
  // backlog), and the engine alone: one batch of 4 against 4 runs of batch 1. Deadlines are
  // lifted (10 s budgets): at rate 4 reading four raw 720p frames takes longer than their 8.3 ms
  // period, every frame reaches the scheduler past its deadline, and the scheduler drops frames
  // it cannot serve in time; this measures throughput with and without batches, not that.
  log('bench: batching (replay rate 4, batching on / off; engine batch 4 vs 4 x batch 1)');
  const batching: Record<string, unknown> = {};
  for (const on of [true, false]) {
    const b = await timedReplay(`batching_${on ? 'on' : 'off'}`, { bag: bag4, rate: 4, batching: on, budgetMs: 10_000 });
    const span = (b.marks[b.marks.length - 1] - b.marks[0]) / 1000;
    batching[on ? 'replay_on' : 'replay_off'] = {
      frames_per_s: span > 0 ? r2(b.summary.processed / span) : null,
      processed: b.summary.processed,
      dropped: b.summary.dropped,
      p99_ms: b.summary.latency_ms?.p99 ?? null,
      batch_sizes: b.summary.scheduler.batch_sizes,
    };
  }
  const on = batching.replay_on as { frames_per_s: number | null };
  const off = batching.replay_off as { frames_per_s: number | null };
  batching.replay_gain = on.frames_per_s && off.frames_per_s ? r2(on.frames_per_s / off.frames_per_s) : null;
  {
    const engine = await Engine.create({ modelDir: args.model, providers: ['cpu'] });
    try {
      const frames = images.slice(0, 4).map((i) => ({ width: i.width, height: i.height, data: i.data }));
      const reps = args.quick ? 6 : 25;
      const b4: number[] = [];
      const b1: number[] = [];
      for (let r = 0; r < reps + 2; r++) {
        let t = performance.now();
        await engine.infer(frames);
        const a = performance.now() - t;
        t = performance.now();
        for (const f of frames) await engine.infer([f]);
        const c = performance.now() - t;
        if (r >= 2) {
          b4.push(a);
          b1.push(c);
        }
      }
      const m4 = quantile(b4, 0.5);
      const m1 = quantile(b1, 0.5);
      batching.engine = {
        batch4_frames_per_s: r2(4000 / m4),
        batch1_frames_per_s: r2(4000 / m1),
        batch4_ms: r3(m4),
        four_batch1_ms: r3(m1),
        gain: r2(m1 / m4),
        reps,
      };
    } finally {
      await engine.dispose();
    }
  }
  result.batching = batching;

  // --- peers
  if (!args.skipPeers) {
    log('bench: peers (OpenCV-DNN and PyTorch in /usr/bin/python3)');
    // Ours is timed right before and right after the peers (the machine's load drifts).
    log('bench: our same work as the peers (frames in memory -> boxes in camera pixels, mask, depth)');
    const before = await sameWorkMs(images);
    const peers = await runPeers(images);
    const sameWork = quantile([...before, ...(await sameWorkMs(images))], 0.5);
    for (const name of ['opencv_dnn', 'pytorch']) {
      const p = peers[name] as { ms_per_frame?: number } | undefined;
      if (p && typeof p.ms_per_frame === 'number') {
        Object.assign(p, { speedup: r2(p.ms_per_frame / pipelineMs), speedup_same_work: r2(p.ms_per_frame / sameWork), speedup_vs_floor: r2(p.ms_per_frame / floorMed) });
      }
    }
    result.peers = {
      our_pipeline_ms: r3(pipelineMs),
      our_same_work_ms: r3(sameWork),
      same_work:
        "ours: the rgb8 frame already in memory -> Perception.process (engine: in-graph resize and normalisation, forward; decode: peak boxes in camera pixels, uint8 mask and metric depth at model size), main thread, ONNX Runtime's default threads, median of the 60 frames timed right before and again right after the peers; the peers' stages are the same (their 'timed'); our_pipeline_ms adds bag reading, the scheduler and result writing",
      ...peers,
    };
  }
  // --- INT8 against FP32 and the Pareto rows (bench/compression.ts)
  Object.assign(result, await compressionFigures({ modelDir: args.model, images, quick: args.quick, log }));
  result.total_s = r2((performance.now() - t0) / 1000);
  result.loadavg_1m_at_end = r2(os.loadavg()[0]);

  if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(table(result) + compressionTable(result));
}

// ------------------------------------------------------------------ table

type Obj = Record<string, unknown>;
const g = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Obj)[k] : undefined), o);
const f = (v: unknown, unit = '') => (typeof v === 'number' ? `${v}${unit}` : v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function table(r: Obj): string {
  const rows: Array<[string, string, string]> = [];
  const add = (what: string, value: string, reference: string) => rows.push([what, value, reference]);
  const m = r.machine as Obj;
  add('floor: raw session.run', `${f(g(r, 'floor', 'median_ms'), ' ms')} (p90 ${f(g(r, 'floor', 'p90_ms'), ' ms')})`, 'the reference');
  add('pipeline: replay --fast, 1 cam', `${f(g(r, 'pipeline', 'ms_per_frame'), ' ms/frame')} (latency p50 ${f(g(r, 'pipeline', 'median_latency_ms'), ' ms')})`, `${f(g(r, 'pipeline', 'ratio_to_floor'), 'x')} floor (target <= 1.25x)`);
  add('  CPU time per frame (all threads)', `${f(g(r, 'pipeline', 'cpu_ms_per_frame'), ' ms')} vs floor ${f(g(r, 'floor', 'cpu_ms_per_frame'), ' ms')}`, `${f(g(r, 'pipeline', 'cpu_ratio_to_floor'), 'x')} floor CPU; on these cores no faster than ${f(g(r, 'pipeline', 'cpu_bound_ms_per_frame'), ' ms/frame')}`);
  add('  same, uncompressed bag', `${f(g(r, 'pipeline_uncompressed_bag', 'ms_per_frame'), ' ms/frame')}`, `${f(g(r, 'pipeline_uncompressed_bag', 'ratio_to_floor'), 'x')} floor; bag read alone ${f(g(r, 'bag_read_ms_per_frame', 'one_cam_zstd'), ' ms/frame')} zstd (${f(g(r, 'bag_read_ms_per_frame', 'codecs', 'zstd'))}), ${f(g(r, 'bag_read_ms_per_frame', 'one_cam_uncompressed'), ' ms')} uncompressed`);
  add('perception: ROS node per frame', `${f(g(r, 'perception', 'ms_per_frame'), ' ms/frame')} (CDR in -> result messages out, no bag)`, `${f(g(r, 'perception', 'ratio_to_floor'), 'x')} floor ${f(g(r, 'perception', 'floor_ms'), ' ms')} alternated (target <= 1.25x)`);
  add('realtime_4cam: 4 x 30 Hz', `p50 ${f(g(r, 'realtime_4cam', 'p50_ms'))} / p99 ${f(g(r, 'realtime_4cam', 'p99_ms'), ' ms')}, misses ${f(g(r, 'realtime_4cam', 'misses'))}, drops ${f(g(r, 'realtime_4cam', 'drops'))}`, `p99 = ${f(g(r, 'realtime_4cam', 'p99_over_single_frame'), 'x')} single frame ${f(g(r, 'realtime_4cam', 'single_frame_ms'), ' ms')} (target 0 misses, <= 2x)`);
  add('  same, uncompressed bag', `p50 ${f(g(r, 'realtime_4cam_uncompressed_bag', 'p50_ms'))} / p99 ${f(g(r, 'realtime_4cam_uncompressed_bag', 'p99_ms'), ' ms')}, misses ${f(g(r, 'realtime_4cam_uncompressed_bag', 'misses'))}, drops ${f(g(r, 'realtime_4cam_uncompressed_bag', 'drops'))}`, `p99 = ${f(g(r, 'realtime_4cam_uncompressed_bag', 'p99_over_single_frame'), 'x')} single frame`);
  add('overload_2x: 4 x 60 Hz', `p99 ${f(g(r, 'overload_2x', 'p99_ms'), ' ms')}, drops ${f(g(r, 'overload_2x', 'drops'))}, peak rss ${f(g(r, 'overload_2x', 'peak_rss_mb'), ' MB')}`, `budget ${f(g(r, 'overload_2x', 'budget_ms'), ' ms')}; rss ${f(g(r, 'overload_2x', 'rss_mb_at'))} flat: ${f(g(r, 'overload_2x', 'rss_flat'))}`);
  add('  served', `${f(g(r, 'overload_2x', 'processed'))} processed, ${f(g(r, 'overload_2x', 'served_frames_per_s'))} frames/s`, `${f(g(r, 'overload_2x', 'ratio_to_fast'), 'x')} of --fast on the same bag ${f(g(r, 'fast_4cam', 'frames_per_s'))} frames/s (target >= 0.8)`);
  add('batching: replay rate 4', `on ${f(g(r, 'batching', 'replay_on', 'frames_per_s'))} fps`, `off ${f(g(r, 'batching', 'replay_off', 'frames_per_s'))} fps (x${f(g(r, 'batching', 'replay_gain'))})`);
  add('batching: engine', `batch 4: ${f(g(r, 'batching', 'engine', 'batch4_frames_per_s'))} fps`, `4 x batch 1: ${f(g(r, 'batching', 'engine', 'batch1_frames_per_s'))} fps (x${f(g(r, 'batching', 'engine', 'gain'))})`);
  for (const p of ['opencv_dnn', 'pytorch']) {
    const e = g(r, 'peers', p, 'error');
    if (e) add(`peer ${p}`, `error: ${f(e)}`, '');
    else if (g(r, 'peers', p)) add(`peer ${p}`, `${f(g(r, 'peers', p, 'ms_per_frame'), ' ms/frame')}`, `ours, same work ${f(g(r, 'peers', 'our_same_work_ms'), ' ms')}: ${f(g(r, 'peers', p, 'speedup_same_work'), 'x')} faster (target >= 3x vs OpenCV); whole pipeline with bag reading ${f(g(r, 'peers', 'our_pipeline_ms'), ' ms')}: ${f(g(r, 'peers', p, 'speedup'), 'x')}`);
  }
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((x) => x[i].length), 4));
  const line = (x: string[]) => x.map((c, i) => c.padEnd(w[i])).join(' | ');
  return [
    `adaptive_perception bench — ${m.cpu}, ${m.cores} cores, load ${m.loadavg_1m_at_start} at start, node ${m.node}, onnxruntime-node ${m.onnxruntime_node}${r.quick ? ' (--quick)' : ''}`,
    `model ${r.model}; frames ${f(g(r, 'frames', 'one_camera', 'frames'))} (1 cam) and ${f(g(r, 'frames', 'four_cameras', 'frames_per_camera'))} x 4 cams, 1280x720 rgb8, 30 Hz`,
    '',
    line(['figure', 'value', 'beside its reference']),
    line(w.map((n) => '-'.repeat(n))),
    ...rows.map(line),
    '',
    `peers timed: ${f(g(r, 'peers', 'timed'))}`,
    `total ${f(r.total_s, ' s')}; --json for every figure`,
    '',
  ].join('\n');
}

main().catch((err: unknown) => {
  log(`bench failed: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
