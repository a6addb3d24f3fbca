import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { McapBagWriter } from '../bag/mcap-writer.js';
import { openBag } from '../bag/reader.js';
import type { BagMessage } from '../bag/types.js';
import { Engine } from '../engine/engine.js';
import type { Provider } from '../engine/runner.js';
import { isPerceptionError, PerceptionError, type ErrorCode } from '../errors.js';
import type { InputSize } from '../model/manifest.js';
import { nsToSeconds, timeToNs, validateImage, type CompressedImage, type Detection2DArray, type Image } from '../msgs/index.js';
import { ImageDecoder, type EncodedImage } from './image-decode.js';
import { Pairing, type TruthPart } from './pairing.js';
import { Perception, type FrameResult } from './perception.js';
import { renderReport } from './report.js';
import { CameraScorer, type Truth } from './scoring.js';
import { LatencyRecorder, type CameraSummary, type ReplaySummary } from './summary.js';
import { classifyTopic, resultTopic, type TopicRole } from './topics.js';
import { boxesFromDetections, bytePixels, floatPixels } from './messages.js';

export interface ReplayOptions {
  bag: string;
  modelDir: string;
  outDir: string;
  providers?: readonly Provider[];
  inputSize?: InputSize;
  /** Detection score threshold (0..1). */
  scoreThreshold?: number;
  /** Publish lane mask and depth at camera size instead of the model's output size. */
  denseAtCameraSize?: boolean;
  /** Overlay output width in pixels (height keeps the camera's aspect) and its maximum rate. */
  overlayWidth?: number;
  overlayRateHz?: number;
  /** Overlay frames shown in the report. */
  reportOverlays?: number;
  onProgress?: (done: number, total: number) => void;
  log?: (line: string) => void;
}

interface CameraState {
  frames: number;
  processed: number;
  bad: number;
  latency: LatencyRecorder;
  scorer: CameraScorer;
  truthParts: Set<TruthPart>;
}

/**
 * Replays a bag through the engine as fast as possible: every camera frame is decoded, run,
 * decoded into results, written to OUT/results.mcap and scored against /gt/... topics when the
 * bag has them. A bad frame is counted and skipped; a bag that ends early stops the replay
 * with what was read, and the summary says so.
 */
export async function replay(options: ReplayOptions): Promise<ReplaySummary> {
  const log = options.log ?? (() => {});
  const t0 = performance.now();
  await mkdir(options.outDir, { recursive: true });
  const reader = await openBag(options.bag);
  const engine = await Engine.create({ modelDir: options.modelDir, providers: options.providers, inputSize: options.inputSize, log });
  const writer = await McapBagWriter.open(join(options.outDir, 'results.mcap'), { compression: 'zstd' });
  const perception = new Perception(engine, {
    scoreThreshold: options.scoreThreshold ?? 0.3,
    denseAtCameraSize: options.denseAtCameraSize ?? false,
    overlayWidth: options.overlayWidth ?? 640,
  });
  const decoder = new ImageDecoder();
  const badFrames: Record<string, number> = {};
  const cameras = new Map<string, CameraState>();
  const overall = new CameraScorer(engine.manifest.classes);
  const overlays: Array<{ camera: string; stampS: number; png: Uint8Array }> = [];
  let bagError: string | undefined;
  try {
    const info = reader.info();
    const roles = new Map<string, TopicRole>(info.topics.map((t) => [t.topic, classifyTopic(t.topic, t.type)]));
    const cameraTopics = info.topics.filter((t) => roles.get(t.topic)?.role === 'camera');
    if (cameraTopics.length === 0 && info.truncated) {
      throw new PerceptionError('BAG_TRUNCATED', 'bag ends before any readable camera frame', { file: options.bag });
    }
    if (cameraTopics.length === 0) {
      throw new PerceptionError('INVALID_ARGUMENT', 'bag has no camera topics (sensor_msgs/Image on /C/image_raw or CompressedImage on /C/image_raw/compressed)', { file: options.bag });
    }
    const total = cameraTopics.reduce((a, t) => a + t.count, 0);
    const stateOf = (camera: string): CameraState => {
      let s = cameras.get(camera);
      if (!s) {
        s = { frames: 0, processed: 0, bad: 0, latency: new LatencyRecorder(), scorer: new CameraScorer(engine.manifest.classes), truthParts: new Set() };
        cameras.set(camera, s);
      }
      return s;
    };
    for (const t of info.topics) {
      const r = roles.get(t.topic)!;
      if (r.role === 'gt_detections') stateOf(r.camera).truthParts.add('detections');
      if (r.role === 'gt_lane') stateOf(r.camera).truthParts.add('lane');
      if (r.role === 'gt_depth') stateOf(r.camera).truthParts.add('depth');
    }
    const pairing = new Pairing<FrameResult, Truth>({
      expected: (camera) => cameras.get(camera)?.truthParts ?? new Set(),
      retain: (r) => perception.retain(r),
      score: (camera, _stamp, prediction, truth) => {
        stateOf(camera).scorer.add(prediction, truth);
        overall.add(prediction, truth);
      },
    });
    const overlayEvery = Math.max(1, Math.floor(total / Math.max(1, options.reportOverlays ?? 8)));
    const overlayPeriodNs = BigInt(Math.round(1e9 / (options.overlayRateHz ?? 10)));
    const lastOverlay = new Map<string, bigint>();
    const registered = new Set<string>();
    let done = 0;

    const countBad = (code: ErrorCode | string, camera?: string) => {
      badFrames[code] = (badFrames[code] ?? 0) + 1;
      if (camera) stateOf(camera).bad++;
    };
    const relevant = info.topics.filter((t) => roles.get(t.topic)!.role !== 'other').map((t) => t.topic);
    const messages = reader.messages({
      topics: relevant,
      onError: (err) => {
        log(`skipping message: ${err.message}`);
        const r = err.context.topic ? roles.get(err.context.topic) : undefined;
        countBad(err.code, r && r.role !== 'other' ? r.camera : undefined);
        if (r?.role === 'camera') done++;
      },
    });
    try {
      for await (const m of messages) {
        const role = roles.get(m.topic)!;
        switch (role.role) {
          case 'camera': {
            const arrival = performance.now();
            const state = stateOf(role.camera);
            state.frames++;
            done++;
            const ctx = { camera: role.camera, topic: m.topic, index: m.index };
            try {
              const encoded = encodedImage(m, role.compressed);
              const stampNs = stampOf(m);
              const image = await decoder.decode(encoded, ctx);
              const result = await perception.process(role.camera, stampNs, image);
              state.latency.recordMs(performance.now() - arrival);
              state.processed++;
              await registerResults(writer, registered, role.camera);
              const last = lastOverlay.get(role.camera);
              const wantOverlay = last === undefined || stampNs - last >= overlayPeriodNs;
              const pending = perception.publish(writer, m.logTimeNs, result, wantOverlay ? image : null);
              if (wantOverlay) lastOverlay.set(role.camera, stampNs);
              if (done % overlayEvery === 0 && overlays.length < (options.reportOverlays ?? 8)) {
                const o = perception.overlay(result, image);
                const png = await sharp(o.data, { raw: { width: o.width, height: o.height, channels: 3 } }).png().toBuffer();
                overlays.push({ camera: role.camera, stampS: nsToSeconds(stampNs - info.startNs), png });
              }
              pairing.addPrediction(role.camera, stampNs, result);
              await pending;
            } catch (err) {
              if (!isPerceptionError(err) || !['BAD_IMAGE', 'UNSUPPORTED_ENCODING', 'MESSAGE_DECODE'].includes(err.code)) throw err;
              log(`skipping frame: ${err.code}: ${err.message}`);
              countBad(err.code, role.camera);
            }
            options.onProgress?.(done, total);
            break;
          }
          case 'gt_detections':
            pairing.addTruth(role.camera, stampOf(m), 'detections', { kind: 'detections', boxes: boxesFromDetections(m.msg as Detection2DArray) });
            break;
          case 'gt_lane':
          case 'gt_depth': {
            let img: Image;
            try {
              img = validateImage(m.msg, { topic: m.topic, index: m.index });
            } catch (err) {
              log(`skipping ground truth: ${(err as Error).message}`);
              countBad(isPerceptionError(err) ? err.code : 'BAD_IMAGE', role.camera);
              break;
            }
            if (role.role === 'gt_lane') {
              pairing.addTruth(role.camera, stampOf(m), 'lane', { kind: 'lane', width: img.width, height: img.height, data: bytePixels(img) });
            } else {
              pairing.addTruth(role.camera, stampOf(m), 'depth', { kind: 'depth', width: img.width, height: img.height, data: floatPixels(img) });
            }
            break;
          }
          case 'other':
            break;
        }
      }
    } catch (err) {
      if (!isPerceptionError(err) || !['BAG_TRUNCATED', 'BAG_CORRUPT'].includes(err.code)) throw err;
      bagError = `${err.code}: ${err.message}`;
      log(`bag ended early, results cover what was read: ${bagError}`);
    }
    pairing.flush();

    const perCamera: Record<string, CameraSummary> = {};
    const all = new LatencyRecorder();
    for (const [name, s] of [...cameras].sort(([a], [b]) => a.localeCompare(b))) {
      if (s.frames === 0 && s.bad === 0) continue;
      perCamera[name] = { frames: s.frames, processed: s.processed, dropped: 0, bad_frames: s.bad, latency_ms: s.latency.summary(), metrics: s.scorer.result() };
    }
    const allLatencies = [...cameras.values()].map((s) => s.latency);
    const summaryLatency = mergeLatency(allLatencies, all);
    const outputs = {
      results: join(options.outDir, 'results.mcap'),
      summary: join(options.outDir, 'summary.json'),
      report: join(options.outDir, 'report.html'),
    };
    const summary: ReplaySummary = {
      bag: resolve(options.bag),
      frames: done,
      processed: [...cameras.values()].reduce((a, s) => a + s.processed, 0),
      dropped: 0,
      bad_frames: badFrames,
      latency_ms: summaryLatency,
      metrics: overall.result(),
      model: { name: engine.manifest.name, version: engine.manifest.version, input_size: [engine.inputSize[0], engine.inputSize[1]], provider: engine.provider },
      per_camera: perCamera,
      bag_duration_s: nsToSeconds(info.durationNs),
      wall_s: (performance.now() - t0) / 1000,
      outputs,
      ...(bagError ? { bag_error: bagError } : {}),
    };
    await writer.close();
    const bucketMs = Math.max(0.5, niceBucket((summary.latency_ms?.p99 ?? 10) / 20));
    const html = renderReport({ summary, latencyBuckets: all.buckets(bucketMs), latencyBucketMs: bucketMs, overlays });
    await atomicWrite(outputs.summary, JSON.stringify(summary, null, 2) + '\n');
    await atomicWrite(outputs.report, html);
    for (const l of allLatencies) l.destroy();
    all.destroy();
    return summary;
  } finally {
    await writer.close();
    await engine.dispose();
    await reader.close();
  }
}

function mergeLatency(parts: LatencyRecorder[], into: LatencyRecorder) {
  for (const p of parts) into.add(p);
  return into.summary();
}

function niceBucket(ms: number): number {
  for (const step of [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]) if (ms <= step) return step;
  return 1000;
}

async function registerResults(writer: McapBagWriter, registered: Set<string>, camera: string): Promise<void> {
  if (registered.has(camera)) return;
  registered.add(camera);
  await writer.addTopic(resultTopic(camera, 'detections'), 'vision_msgs/msg/Detection2DArray');
  await writer.addTopic(resultTopic(camera, 'lane_mask'), 'sensor_msgs/msg/Image');
  await writer.addTopic(resultTopic(camera, 'depth'), 'sensor_msgs/msg/Image');
  await writer.addTopic(resultTopic(camera, 'overlay'), 'sensor_msgs/msg/Image');
}

function encodedImage(m: BagMessage, compressed: boolean): EncodedImage {
  if (compressed) {
    const c = m.msg as CompressedImage;
    return { kind: 'compressed', format: c.format, data: c.data };
  }
  const i = m.msg as Image;
  return { kind: 'raw', width: i.width, height: i.height, encoding: i.encoding, step: i.step, data: i.data };
}

/** The frame's own stamp (header), falling back to the log time when a header is zero. */
function stampOf(m: BagMessage): bigint {
  const header = (m.msg as { header?: { stamp?: { sec: number; nanosec: number } } }).header;
  const ns = header?.stamp ? timeToNs(header.stamp) : 0n;
  return ns > 0n ? ns : m.logTimeNs;
}

async function atomicWrite(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}
