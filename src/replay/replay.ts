import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { McapBagWriter } from '../bag/mcap-writer.js';
import { openBag } from '../bag/reader.js';
import { ThreadedBagReader } from '../bag/threaded-reader.js';
import type { BagInfo, BagReader } from '../bag/types.js';
import { Engine } from '../engine/engine.js';
import type { Provider } from '../engine/runner.js';
import { PerceptionError } from '../core/errors.js';
import type { InputSize, OutputName } from '../model/manifest.js';
import { DEFAULT_OUTPUTS } from '../engine/engine.js';
import { nsToSeconds } from '../msgs/index.js';
import { Scheduler, systemClock, type BatchRunner, type CameraConfig, type DropReason } from '../scheduler/index.js';
import { FrameRunner, type FrameOutcome, type FramePayload } from '../pipeline/frame-runner.js';
import { CameraFocals, toModelDepth, withCameraFocals } from '../pipeline/depth-focal.js';
import { DEFAULT_INFERENCE, PerceptionWorker, type FrameTensors } from '../pipeline/perception-worker.js';
import type { RgbImage } from '../pipeline/image-decode.js';
import { GcRecorder } from './gc-stats.js';
import { Perception, type FrameResult } from '../pipeline/perception.js';
import { ReplayOutputs } from './outputs.js';
import { type Truth } from './scoring.js';
import { probeSize, type ProbeRun } from '../adaptation/perception/swap.js';
import { classifyTopic, type TopicRole } from '../msgs/topics.js';
import type { MetricsSummary, ReplaySummary } from './summary.js';
import { FrameScoring } from './frame-scoring.js';
import { feedBag, readFirstCameraInfos, readStaticTransforms, sleep } from './source.js';
import { DEFAULT_GROUND_FRAME, TfBuffer } from '../msgs/tf-buffer.js';
export { DEFAULT_GROUND_FRAME };
import { resultFrameId } from '../pipeline/perception.js';
import { frameIdOf } from '../pipeline/intake.js';
import { warmUpOnBagFrames } from './warm-up.js';
import { defaultLadderVariants, ladderRungs } from '../pipeline/rungs.js';
import type { Admission, Rung } from '../scheduler/index.js';

export interface ReplayOptions {
  bag: string;
  modelDir: string;
  outDir: string;
  providers?: readonly Provider[];
  inputSize?: InputSize;
  /** Playback speed: 1 = recorded rate (default), 2 = twice as fast. Ignored with `fast`. */
  rate?: number;
  /** As fast as possible: each frame waits for the previous one; nothing is dropped. */
  fast?: boolean;
  /** Per-camera deadline budget (ms); default: the camera's frame period at the playback rate. */
  budgetMs?: number;
  /**
   * The resolution ladder (default on at a playback rate): steps the input size down under
   * sustained overload. `false` keeps every frame at the engine's input size, as `fast` does,
   * for runs whose accuracy must not depend on machine load (regression and adaptation runs).
   */
  ladder?: boolean;
  /**
   * Precision variants of the model package the ladder steps through beside the main one (each
   * (size, variant) pair a rung with its own measured cost; see src/pipeline/rungs.ts). Default:
   * every variant the package offers for the engine's execution provider; `[]`: sizes only.
   * Without the ladder (`fast`, `ladder: false`) no variant is opened.
   */
  ladderVariants?: readonly string[];
  /** Cross-camera batching (default on; the cost model decides when it pays). */
  batching?: boolean;
  /** Detection score threshold (0..1). */
  scoreThreshold?: number;
  /** Publish lane mask and depth at camera size instead of the model's output size. */
  denseAtCameraSize?: boolean;
  /** The scheduler's admission rule (SchedulerOptions.admission; default 'expected'). */
  admission?: Admission;
  /** Overlay output width in pixels (height keeps the camera's aspect) and its maximum rate. */
  overlayWidth?: number;
  overlayRateHz?: number;
  /** Overlay frames shown in the report. */
  reportOverlays?: number;
  onProgress?: (done: number, total: number) => void;
  log?: (line: string) => void;
  /** Chunk compression of results.mcap (default none). */
  resultsCompression?: 'zstd' | 'lz4' | 'none';
  /** Extensions (online adaptation): see ReplayHooks. */
  hooks?: ReplayHooks;
  /**
   * The TF frame on the ground under the robot: with a hook (adaptation), each camera's height
   * above it from the bag's /tf_static (the camera's frame: its camera_info's frame_id) goes to the
   * hook (`cameraMount`: with the optical axis's pitch). Default DEFAULT_GROUND_FRAME; '' reads no TF.
   */
  groundFrame?: string;
  /** Where inference runs: a worker thread (PerceptionWorker) or the main thread (FrameRunner). Default: see DEFAULT_INFERENCE. */
  inference?: 'worker' | 'main';
  /** Where the bag is read and decoded (zstd, CRC, CDR: ~7 ms a raw 720p frame). Default: DEFAULT_READER. */
  reader?: 'thread' | 'main';
  /**
   * At a rate, camera frames that can no longer be served before their deadline when the reader
   * gets to them are not read (counted as dropped, `deadline`; src/replay/source.ts): default true. `false` reads and offers every frame however
   * late, as before 2026-12-06 (a benchmark's reference).
   */
  skipLate?: boolean;
}

/**
 * What an extension of replay sees: every processed frame, every ground-truth part, the
 * scheduler (for slack), drops, and the bag clock; it can ask for extra engine outputs and add
 * to the summary and the report's timeline markers. All calls are synchronous and on the
 * replay's event loop.
 */
export interface ReplayHooks {
  /** Extra engine outputs to fetch for every frame (e.g. tail features). */
  outputs?: readonly OutputName[];
  /**
   * Of `outputs`, those a frame's result does not carry to this thread when inference runs in a
   * worker: the worker keeps them for the newest HELD_FRAMES frames of each camera and
   * `ctx.takeHeld` fetches one frame's (big features that only a few frames need). With
   * inference on this thread they stay in the result and `takeHeld` has nothing.
   */
  held?: readonly OutputName[];
  start?(ctx: { engine: Engine; perception: Perception; scheduler: Scheduler<FramePayload, FrameOutcome>; bagTimeS: () => number; bagStartNs: bigint; probe: ProbeRun; takeHeld: (camera: string, stampNs: bigint) => Promise<FrameTensors | undefined>; intrinsics: (camera: string, size: { readonly width: number; readonly height: number }) => { k: [number, number, number, number]; depthScale: number } | undefined; cameraMount: (camera: string) => { heightM: number; pitchRad: number } | undefined }): Promise<void>;
  onFrame?(result: FrameResult, image: RgbImage, latencyMs: number): void;
  onTruth?(camera: string, stampNs: bigint, truth: Truth): void;
  onDrop?(camera: string, reason: DropReason): void;
  /** Called after the bag is read and the scheduler drained; returns summary additions. */
  finish?(ctx: { firstFifth: MetricsSummary; lastFifth: MetricsSummary }): Promise<{ summary: Record<string, unknown>; markers: Array<{ t: number; label: string }> }>;
}

/**
 * Frames per camera whose held outputs (ReplayHooks.held) the worker keeps: a flag is decided
 * on this thread once a result arrives, and its fetch waits behind the runs already posted
 * (one or two at the recorded rate), so a handful is plenty.
 */
export const HELD_FRAMES = 8;

/**
 * replay's default `reader`: a reader thread (ThreadedBagReader) where there are cores for it,
 * the replay's own thread otherwise. With two cores the reader thread only competes with the
 * inference worker and was slower, because the work per frame is the same and there is no idle
 * core to put it on (docs/experiments/2026-11-28-threads-and-bag-reading.md). With four or
 * more, reading overlaps inference and scoring.
 */
export const DEFAULT_READER: 'thread' | 'main' = availableParallelism() >= 4 ? 'thread' : 'main';

/**
 * Replays a bag through the engine under the real-time scheduler. Camera frames are released
 * at their recorded times (scaled by `rate`) into per-camera keep-latest mailboxes; the
 * scheduler runs them earliest-deadline-first, batching and stepping down the resolution
 * ladder under overload. Results go to OUT/results.mcap and are scored against /gt/... topics.
 * A bad frame is counted and skipped; a bag that ends early stops the replay with what was
 * read, and the summary says so.
 *
 * Stages: open (bag, engine, results writer), compose the pipeline (Perception, outputs,
 * scoring, inference runner, scheduler), warm up on the bag's first frames, start the
 * extensions, feed the bag (source.ts), drain, finish (summary and report); everything opened
 * is closed whatever happens.
 */
export async function replay(options: ReplayOptions): Promise<ReplaySummary> {
  const t0 = performance.now();
  const rate = options.rate ?? 1;
  if (!(rate > 0 && rate <= 1000)) throw new PerceptionError('INVALID_ARGUMENT', `rate must be in (0, 1000], got ${rate}`, { field: 'rate' });
  await mkdir(options.outDir, { recursive: true });
  const reader = (options.reader ?? DEFAULT_READER) === 'thread' ? await ThreadedBagReader.open(options.bag) : await openBag(options.bag);
  const run: { -readonly [K in keyof ReplayRun]?: ReplayRun[K] } = {};
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  const gc = new GcRecorder();
  try {
    Object.assign(run, await openRun(options, reader));
    Object.assign(run, await composePipeline(options, run as OpenedRun, rate, (w) => (run.worker = w)));
    const r = run as ReplayRun;
    // Each camera's first camera_info before any of its frames or ground truth is read: a bag
    // records it beside every frame, but a frame's ground truth may come first.
    // The robot's mounts (/tf_static) and each camera's frame (its camera_info's frame_id): the
    // cameras' heights for depth (a package that states the height its depth learned) and for a
    // label-free depth cue, as the ROS node reads them from TF.
    const groundFrame = options.groundFrame ?? DEFAULT_GROUND_FRAME;
    const tf = new TfBuffer();
    const cameraFrames = new Map<string, string>();
    if (groundFrame && (options.hooks?.start || r.focals.heightAware)) await readStaticTransforms(reader, r.info, r.roles, (m) => void tf.note(m), r.log);
    if (r.focals.enabled || tf.size > 0) {
      await readFirstCameraInfos(reader, r.info, r.roles, (camera, m) => {
        if (r.focals.enabled) r.focals.note(camera, m);
        const id = frameIdOf(m);
        if (id) cameraFrames.set(camera, id);
      }, r.log);
    }
    const cameraMount = (camera: string) => (tf.size > 0 ? tf.opticalMount(groundFrame, cameraFrames.get(camera) ?? resultFrameId(camera)) : undefined);
    if (r.focals.heightAware && tf.size > 0) for (const camera of Object.keys(r.cameras)) r.focals.mounted(camera, cameraMount(camera)?.heightM);
    if (!options.fast) await warmUpOnBagFrames(reader, r.cameraTopics, r.runner, r.scheduler, r.rungs, r.warmUpBatch, r.log);
    let bagNowNs = r.info.startNs;
    await options.hooks?.start?.({ engine: r.engine, perception: r.perception, scheduler: r.scheduler, bagTimeS: () => nsToSeconds(bagNowNs - r.info.startNs), bagStartNs: r.info.startNs, probe: r.probe, takeHeld: r.takeHeld, intrinsics: (camera, size) => r.focals.intrinsics(camera, size), cameraMount });
    r.scheduler.start();
    loopDelay.enable();
    gc.start();
    const bagError = await feedBag({
      reader,
      info: r.info,
      roles: r.roles,
      scheduler: r.scheduler,
      cameras: r.cameras,
      rate,
      fast: options.fast ?? false,
      skipLate: options.skipLate ?? true,
      onCameraMessage: (camera) => r.out.camera(camera).frames++,
      onTruth: (camera, stampNs, truth) => {
        r.scoring.addTruth(camera, stampNs, truth);
        // The learner's depth tail learns in the model's own units (see depth-focal.ts).
        options.hooks?.onTruth?.(camera, stampNs, truth.kind === 'depth' ? toModelDepth(truth, r.focals.scale(camera, truth)) : truth);
      },
      onCameraInfo: (camera, cameraInfo) => r.focals.note(camera, cameraInfo),
      onBad: (code, camera, frame) => {
        r.out.countBad(code, camera);
        if (frame) r.finished();
      },
      onTime: (ns) => (bagNowNs = ns),
      onSkipped: (camera) => {
        r.scheduler.skipped(camera);
        r.out.camera(camera).frames++;
        r.out.dropped(camera, 'deadline');
        options.hooks?.onDrop?.(camera, 'deadline');
        r.finished();
      },
      log: r.log,
    });
    if (bagError) {
      r.out.bagError = bagError;
      r.log(`bag ended early, results cover what was read: ${bagError}`);
    }
    await drain(r.scheduler);
    loopDelay.disable();
    const gcSummary = gc.stop();
    r.scoring.flush();
    const extension = await options.hooks?.finish?.({ firstFifth: r.scoring.fifth(0), lastFifth: r.scoring.fifth(4) });
    if (extension) r.out.markers.push(...extension.markers);
    return await r.out.finish({
      overall: r.scoring.overall.result(),
      timeline: r.scoring.timeline(),
      scheduler: r.scheduler.snapshot(),
      eventLoopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
      gc: gcSummary,
      wallS: (performance.now() - t0) / 1000,
      mode: options.fast ? 'fast' : `rate ${rate}`,
      extra: extension?.summary,
    });
  } finally {
    loopDelay.disable();
    gc.stop();
    run.scheduler?.dispose();
    await run.worker?.dispose();
    await run.writer?.close();
    await run.engine?.dispose();
    await reader.close();
  }
}

/** What `openRun` opened: the bag's topics and their roles, the engine, the results writer. */
interface OpenedRun {
  readonly log: (line: string) => void;
  readonly info: BagInfo;
  readonly roles: ReadonlyMap<string, TopicRole>;
  readonly cameraTopics: BagInfo['topics'];
  readonly engine: Engine;
  readonly writer: McapBagWriter;
}

/** The composed pipeline of one replay. */
interface ReplayRun extends OpenedRun {
  readonly perception: Perception;
  readonly out: ReplayOutputs;
  readonly scoring: FrameScoring;
  readonly worker: PerceptionWorker | undefined;
  readonly runner: BatchRunner<FramePayload, FrameOutcome>;
  readonly focals: CameraFocals;
  readonly cameras: Record<string, CameraConfig>;
  /** The ladder's rungs, best first (one, at the engine's input size, without the ladder). */
  readonly rungs: readonly Rung[];
  /** Largest batch the warm-up runs (1 without batching). */
  readonly warmUpBatch: number;
  readonly scheduler: Scheduler<FramePayload, FrameOutcome>;
  readonly probe: ProbeRun;
  readonly takeHeld: (camera: string, stampNs: bigint) => Promise<FrameTensors | undefined>;
  /** A camera frame's fate is settled (processed, dropped or bad): progress. */
  readonly finished: () => void;
}

async function openRun(options: ReplayOptions, reader: BagReader): Promise<OpenedRun> {
  const log = options.log ?? (() => {});
  const info = reader.info();
  const roles = new Map<string, TopicRole>(info.topics.map((t) => [t.topic, classifyTopic(t.topic, t.type)]));
  const cameraTopics = info.topics.filter((t) => roles.get(t.topic)?.role === 'camera');
  if (cameraTopics.length === 0 && info.truncated) {
    throw new PerceptionError('BAG_TRUNCATED', 'bag ends before any readable camera frame', { file: options.bag });
  }
  if (cameraTopics.length === 0) {
    throw new PerceptionError('INVALID_ARGUMENT', 'bag has no camera topics (sensor_msgs/Image on /C/image_raw or CompressedImage on /C/image_raw/compressed)', { file: options.bag });
  }
  // The engine's outputs are what the pipeline fetches (with --adapt, the learner's features): its narrow graph keeps those.
  const outputs = options.hooks?.outputs ? [...new Set([...DEFAULT_OUTPUTS, ...options.hooks.outputs])] : undefined;
  const engine = await Engine.create({ modelDir: options.modelDir, providers: options.providers, inputSize: options.inputSize, ...(outputs ? { outputs } : {}), log });
  try {
    // Uncompressed by default, as rosbag2 records: zstd on dense results cost ~5 ms a frame on the
    // main thread here (bench profile), more than the model at its smaller input sizes.
    const writer = await McapBagWriter.open(join(options.outDir, 'results.mcap'), { compression: options.resultsCompression ?? 'none' });
    return { log, info, roles, cameraTopics, engine, writer };
  } catch (err) {
    await engine.dispose();
    throw err;
  }
}

/** `onWorker` gets the inference worker as soon as it exists, so that it is disposed if a later step fails. */
async function composePipeline(options: ReplayOptions, o: OpenedRun, rate: number, onWorker: (w: PerceptionWorker) => void): Promise<Omit<ReplayRun, keyof OpenedRun>> {
  const { engine, info, roles, cameraTopics, log } = o;
  const hooks = options.hooks;
  const perception = new Perception(engine, {
    scoreThreshold: options.scoreThreshold ?? 0.3,
    denseAtCameraSize: options.denseAtCameraSize ?? false,
    overlayWidth: options.overlayWidth ?? 640,
    outputs: hooks?.outputs ? [...new Set([...DEFAULT_OUTPUTS, ...hooks.outputs])] : undefined,
  });
  const total = cameraTopics.reduce((a, t) => a + t.count, 0);
  const out = new ReplayOutputs({ bag: options.bag, outDir: options.outDir, info, engine, perception, writer: o.writer, overlayRateHz: options.overlayRateHz ?? 10, reportOverlays: options.reportOverlays ?? 8, total });
  for (const t of info.topics) {
    const r = roles.get(t.topic)!;
    if (r.role === 'gt_detections') out.camera(r.camera).truthParts.add('detections');
    if (r.role === 'gt_lane') out.camera(r.camera).truthParts.add('lane');
    if (r.role === 'gt_depth') out.camera(r.camera).truthParts.add('depth');
  }
  const scoring = new FrameScoring({
    classes: engine.manifest.classes,
    startNs: info.startNs,
    durationNs: info.durationNs,
    expected: (camera) => out.camera(camera).truthParts,
    retain: (r) => perception.retain(r),
    cameraScorer: (camera) => out.camera(camera).scorer,
    // Dense metrics on the top rung's grid, whatever rung ran the frame (camera size: already fixed).
    grid: options.denseAtCameraSize ? undefined : { height: engine.inputSize[0], width: engine.inputSize[1] },
  });
  let done = 0;
  const finished = () => {
    done++;
    options.onProgress?.(done, total);
  };
  // --fast runs every frame at the chosen size: nothing is late, so the ladder has no job
  // (and stepping down on a busy CPU would make metrics depend on machine load).
  const laddered = !(options.fast || options.ladder === false);
  const variants = laddered ? (options.ladderVariants ?? defaultLadderVariants(engine.manifest, engine.provider)) : [];
  // The worker owns its own engine (1 ORT thread) and follows `engine`'s weight swaps (--adapt).
  let worker: PerceptionWorker | undefined;
  if ((options.inference ?? DEFAULT_INFERENCE) === 'worker') {
    // Results bring back only the extra outputs a hook reads for every frame: the worker
    // decodes the rest itself (see PerceptionWorkerOptions.returnTensors).
    const heldNames = new Set(hooks?.held ?? []);
    worker = await PerceptionWorker.create({
      modelDir: options.modelDir,
      providers: [engine.provider],
      inputSize: engine.inputSize,
      // Each variant's session is opened once, in the worker, and kept (the ladder's rungs).
      variants,
      perception: perception.options,
      overlayRateHz: options.overlayRateHz ?? 10,
      follow: engine,
      returnTensors: (hooks?.outputs ?? []).filter((n) => !heldNames.has(n)),
      hold: heldNames.size > 0 ? { tensors: [...heldNames], frames: HELD_FRAMES } : undefined,
      log,
    });
    onWorker(worker);
  }
  // Inference on this thread: this engine runs the rungs, so it opens the variants.
  if (!worker && variants.length > 0) await engine.openVariants(variants, { modelDir: options.modelDir, log });
  // Depth in metres for each camera's own lens, from its camera_info (src/pipeline/depth-focal.ts).
  const focals = new CameraFocals(engine.manifest, log);
  const runner = withCameraFocals(worker ?? new FrameRunner(perception), focals);
  const cameras = cameraConfigs(cameraTopics, info, rate, options);
  const batchingOn = options.batching ?? true;
  const maxBatch = Math.min(4, cameraTopics.length);
  const rungs: Rung[] = laddered ? ladderRungs(engine.manifest, { main: engine.precision, maxSize: engine.inputSize, variants }) : [{ size: engine.inputSize }];
  const scheduler = new Scheduler<FramePayload, FrameOutcome>({
    cameras,
    rungs,
    runner,
    clock: systemClock,
    batching: { enabled: batchingOn, maxBatch },
    ...(options.admission ? { admission: options.admission } : {}),
    onResult: (camera, payload, outcome, timing) => {
      if (outcome.ok) {
        const latencyMs = timing.endMs - timing.arrivalMs;
        out.processed(camera, payload, outcome.result, outcome.image, latencyMs, timing.startMs - timing.arrivalMs);
        scoring.addPrediction(camera, payload.stampNs, outcome.result);
        hooks?.onFrame?.(outcome.result, outcome.image, latencyMs);
      } else {
        log(`skipping frame: ${outcome.error.code}: ${outcome.error.message}`);
        out.countBad(outcome.error.code, camera);
      }
      finished();
    },
    onDrop: (camera, reason: DropReason) => {
      hooks?.onDrop?.(camera, reason);
      out.dropped(camera, reason);
      finished();
    },
    onError: (err, where) => log(`scheduler ${where.phase}${where.camera ? ` (${where.camera})` : ''}: ${(err as Error).message}`),
  });
  // A candidate's probe runs where frames run (the worker, when there is one), at the smallest
  // input size, so that a hot-swap does not hold this event loop while frames arrive.
  const small = probeSize(engine.manifest);
  const w = worker;
  const probe: ProbeRun = w
    ? async (image, candidate) => (await w.probe([image], candidate.toTails(), { id: candidate.id, size: small }))[0].tensors
    : async (image, candidate) => (await perception.processBatch([{ camera: 'probe', stampNs: 0n, image }], small, candidate))[0].tensors;
  const takeHeld = async (camera: string, stampNs: bigint) => (w ? w.takeHeld(camera, stampNs) : undefined);
  return { perception, out, scoring, worker, runner, focals, cameras, rungs, warmUpBatch: batchingOn ? maxBatch : 1, scheduler, probe, takeHeld, finished };
}

/**
 * The bag is read; let the frames still waiting in mailboxes run before stopping. (Bounded: a
 * frame either runs or is dropped at the next poll; the bound guards a bug, not load.)
 */
async function drain(scheduler: Scheduler<FramePayload, FrameOutcome>): Promise<void> {
  const until = performance.now() + 60_000;
  while ((scheduler.pending > 0 || scheduler.inFlightCount > 0) && performance.now() < until) await Promise.race([scheduler.progress(), sleep(100)]);
  await scheduler.stop();
}

function cameraConfigs(cameraTopics: BagInfo['topics'], info: BagInfo, rate: number, options: ReplayOptions): Record<string, CameraConfig> {
  const configs: Record<string, CameraConfig> = {};
  const durationMs = Number(info.durationNs) / 1e6;
  for (const t of cameraTopics) {
    const role = classifyTopic(t.topic, t.type);
    if (role.role !== 'camera') continue;
    const periodMs = t.count > 1 && durationMs > 0 ? durationMs / (t.count - 1) / rate : 100;
    // Fast mode waits for each frame, so no deadline applies; otherwise one frame period.
    const budgetMs = options.fast ? 60_000 : (options.budgetMs ?? Math.min(60_000, Math.max(1, periodMs)));
    configs[role.camera] = { budgetMs };
  }
  return configs;
}
