import type { BagInfo, BagMessage, BagReader } from '../bag/types.js';
import { isPerceptionError, type ErrorCode } from '../core/errors.js';
import { timeToNs, validateImage, type CompressedImage, type Detection2DArray, type Image } from '../msgs/index.js';
import type { TopicRole } from '../msgs/topics.js';
import type { TfMessageLike } from '../msgs/tf-buffer.js';
import type { FrameOutcome, FramePayload } from '../pipeline/frame-runner.js';
import type { CameraInfoLike } from '../pipeline/depth-focal.js';
import type { EncodedImage } from '../pipeline/image-decode.js';
import { encodedSize } from '../pipeline/image-size.js';
import { frameIdOf } from '../pipeline/intake.js';
import { boxesFromDetections, bytePixels, floatPixels, type Truth } from '../pipeline/messages.js';
import type { CameraConfig, Scheduler } from '../scheduler/index.js';

/**
 * The bag as a camera source: camera frames released into the scheduler at their recorded times
 * (scaled by `rate`), or one after the other with `fast`; ground truth handed on as it is read.
 * Pull-based: the loop reads the next message only when the frame before it has been offered
 * (with `fast`, dispatched), so a bag larger than memory streams through.
 */
export interface BagSourceOptions {
  readonly reader: BagReader;
  readonly info: BagInfo;
  readonly roles: ReadonlyMap<string, TopicRole>;
  readonly scheduler: Scheduler<FramePayload, FrameOutcome>;
  readonly cameras: Readonly<Record<string, CameraConfig>>;
  readonly rate: number;
  readonly fast: boolean;
  /** At a rate, skip frames that can no longer be served before their deadline (default true; see `behind`). */
  readonly skipLate?: boolean;
  /** A camera message arrived (counted before it is checked). */
  readonly onCameraMessage: (camera: string) => void;
  readonly onTruth: (camera: string, stampNs: bigint, truth: Truth) => void;
  /** A camera's sensor_msgs/CameraInfo (its intrinsics: metric depth, src/pipeline/depth-focal.ts). */
  readonly onCameraInfo?: (camera: string, info: CameraInfoLike) => void;
  /** A message that was not usable; `frame` when it was a camera frame (it counts as finished). */
  readonly onBad: (code: ErrorCode | string, camera: string | undefined, frame: boolean) => void;
  /** The bag clock advanced to this log time. */
  readonly onTime: (logTimeNs: bigint) => void;
  /**
   * A camera frame not read because it could no longer be served before its deadline when the
   * reader got to it (at a rate only): it can only be dropped (`deadline`), and counts as finished.
   */
  readonly onSkipped?: (camera: string) => void;
  readonly log: (line: string) => void;
}

/** Errors that make a frame unusable but not the bag: the frame is counted and skipped. */
const FRAME_ERRORS = new Set<string>(['BAD_IMAGE', 'UNSUPPORTED_ENCODING', 'MESSAGE_DECODE', 'UNKNOWN_MESSAGE_TYPE']);

/**
 * Feeds the bag to the scheduler. Resolves with the reason the bag ended early (`BAG_TRUNCATED`
 * or `BAG_CORRUPT`: what was read is kept), or undefined when it was read to the end.
 */
export async function feedBag(o: BagSourceOptions): Promise<string | undefined> {
  const { info, roles, scheduler } = o;
  const relevant = info.topics.filter((t) => 'camera' in roles.get(t.topic)!).map((t) => t.topic);
  const wallStart = performance.now();
  let warnedLag = false;
  const reading = new ReadCost();
  const messages = o.reader.messages({
    topics: relevant,
    skip: o.fast || o.skipLate === false ? undefined : behind(o, wallStart, () => {
      if (warnedLag) return;
      warnedLag = true;
      o.log(`replay: reading the bag runs behind --rate ${o.rate}: camera frames that could not be served before their deadline are skipped, unread, and counted as dropped for their deadline; use a lower --rate, --fast, or --budget-ms`);
    }, reading),
    onError: (err) => {
      o.log(`skipping message: ${err.message}`);
      const r = err.context.topic ? roles.get(err.context.topic) : undefined;
      o.onBad(err.code, r && 'camera' in r ? r.camera : undefined, r?.role === 'camera');
    },
  });
  try {
    for await (const m of messages) {
      const role = roles.get(m.topic)!;
      reading.yielded(performance.now(), role.role === 'camera');
      o.onTime(m.logTimeNs);
      switch (role.role) {
        case 'camera': {
          o.onCameraMessage(role.camera);
          let encoded: EncodedImage;
          try {
            encoded = encodedImage(m, role.compressed);
          } catch (err) {
            if (!isPerceptionError(err) || !FRAME_ERRORS.has(err.code)) throw err;
            o.onBad(err.code, role.camera, true);
            break;
          }
          // Arrival is when the frame is due, not when this loop got to it: time the event
          // loop spent blocked (a model running) counts against the frame, as on a robot.
          let arrivalMs = performance.now();
          if (!o.fast) {
            const dueMs = wallStart + Number(m.logTimeNs - info.startNs) / 1e6 / o.rate;
            if (dueMs > arrivalMs) await sleep(dueMs - arrivalMs);
            arrivalMs = Math.min(dueMs, performance.now());
            // Frames offered past their whole budget are dropped for their deadline: say once
            // that the bag is read slower than the rate asks, rather than drop frames silently.
            const lagMs = performance.now() - arrivalMs;
            if (!warnedLag && lagMs > (o.cameras[role.camera]?.budgetMs ?? Infinity)) {
              warnedLag = true;
              o.log(`replay: reading the bag runs behind --rate ${o.rate} (a ${role.camera} frame reached the scheduler ${lagMs.toFixed(0)} ms after it was due, its budget is ${o.cameras[role.camera].budgetMs.toFixed(1)} ms): frames that late are dropped for their deadline; use a lower --rate, --fast, or --budget-ms`);
            }
          }
          const frameId = frameIdOf(m.msg);
          const payload: FramePayload = { camera: role.camera, topic: m.topic, index: m.index, stampNs: stampOf(m), logTimeNs: m.logTimeNs, encoded, ...(frameId ? { frameId } : {}) };
          if (o.fast) {
            // Backpressure with one frame of lookahead: a frame waits in its mailbox while the
            // one before it runs, so reading the bag overlaps inference; the next offer waits
            // until that frame has been dispatched, so keep-latest never replaces (drops) it.
            while (scheduler.pending > 0) await scheduler.progress();
            arrivalMs = performance.now();
          }
          scheduler.offer(role.camera, payload, { stampNs: payload.stampNs, arrivalMs, sourceSize: encodedSize(encoded) });
          break;
        }
        case 'gt_detections':
          o.onTruth(role.camera, stampOf(m), { kind: 'detections', boxes: boxesFromDetections(m.msg as Detection2DArray) });
          break;
        case 'gt_lane':
        case 'gt_depth': {
          let img: Image;
          try {
            img = validateImage(m.msg, { topic: m.topic, index: m.index });
          } catch (err) {
            o.log(`skipping ground truth: ${(err as Error).message}`);
            o.onBad(isPerceptionError(err) ? err.code : 'BAD_IMAGE', role.camera, false);
            break;
          }
          if (role.role === 'gt_lane') o.onTruth(role.camera, stampOf(m), { kind: 'lane', width: img.width, height: img.height, data: bytePixels(img) });
          else o.onTruth(role.camera, stampOf(m), { kind: 'depth', width: img.width, height: img.height, data: floatPixels(img) });
          break;
        }
        case 'camera_info':
          o.onCameraInfo?.(role.camera, m.msg as CameraInfoLike);
          break;
        case 'other':
          break;
      }
      reading.pulled(performance.now());
    }
  } catch (err) {
    if (!isPerceptionError(err) || !['BAG_TRUNCATED', 'BAG_CORRUPT'].includes(err.code)) throw err;
    return `${err.code}: ${err.message}`;
  }
  return undefined;
}

/**
 * What reading one camera frame costs this replay's thread: the time the reader spends producing
 * the messages up to and including a camera frame (its chunk's decompression, its ground truth),
 * not the time the loop spends waiting for frames to fall due. EWMA over camera frames.
 */
class ReadCost {
  ms = 0;
  #pulledAt = performance.now();
  #pending = 0;

  /** The loop asks the reader for its next message now. */
  pulled(at: number): void {
    this.#pulledAt = at;
  }

  /** A message arrived; `camera` when it is a camera frame. */
  yielded(at: number, camera: boolean): void {
    this.#pending += at - this.#pulledAt;
    if (!camera) return;
    this.ms = this.ms === 0 ? this.#pending : this.ms + 0.2 * (this.#pending - this.ms);
    this.#pending = 0;
  }
}

/**
 * Which cameras' frames of a time step (due at `dueMs`, with `budgetMs` each) to read when the
 * reader gets to it at `nowMs`: as many as can be read (`readMs` a frame), wait for the queue
 * ahead (`queue.freeInMs`) and run (`queue.runMs` each) before their deadline; higher priority
 * first, then the cameras read longest ago (`lastRead`: smaller = longer ago), so that cameras
 * whose frames arrive together take turns.
 */
export function stepReads(i: {
  readonly nowMs: number;
  readonly dueMs: number;
  readonly budgetMs: number;
  readonly readMs: number;
  readonly queue: { readonly freeInMs: number; readonly runMs: number };
  readonly cameras: readonly string[];
  readonly priority: (camera: string) => number;
  readonly lastRead: (camera: string) => number;
}): string[] {
  const start = Math.max(i.nowMs + i.readMs, i.dueMs, i.nowMs + i.queue.freeInMs);
  let n = Math.max(0, Math.min(i.cameras.length, Math.floor((i.dueMs + i.budgetMs - start) / Math.max(i.queue.runMs, 1e-3))));
  // Not even an idle machine serves a frame at this rung: read one anyway. The scheduler runs a
  // starving camera's frame (or drops it, on the ladder's record); skipping every step instead
  // raced the reader through the bag ahead of time and left the ladder nothing to step down on.
  if (n === 0 && i.queue.runMs > i.budgetMs) n = 1;
  const order = [...i.cameras].sort((a, b) => i.priority(b) - i.priority(a) || i.lastRead(a) - i.lastRead(b));
  return order.slice(0, n);
}

/**
 * The reader's `skip` at a rate: a camera frame that can no longer be served before its deadline
 * (due time + budget) when the reader gets to it can only be dropped, so it is not read, nor its
 * ground truth nor camera_info (same log time): a chunk whose messages are all skipped is not
 * even decompressed. A camera transport with keep-last QoS loses frames the node did not take
 * without costing the node anything; reading and decompressing them on the replay's thread is
 * what made every frame late under 2x overload (docs/experiments/2026-12-06-ladder-and-per-frame-path.md).
 * One decision per camera and log time, so a frame and its ground truth go together; ground
 * truth older than the camera's last decided frame is always read.
 */
export function behind(o: Pick<BagSourceOptions, 'roles' | 'info' | 'cameras' | 'rate' | 'onSkipped'> & { readonly scheduler: Pick<BagSourceOptions['scheduler'], 'expectedQueue'> }, wallStart: number, onFirst: () => void, reading: { readonly ms: number }, clock: () => number = () => performance.now()): (topic: string, logTimeNs: bigint) => boolean {
  const decided = new Map<string, { t: bigint; skip: boolean }>();
  // One decision per time step, at its first camera: how many frames of that step can still be
  // served (read, then queued behind the runs ahead, before their deadline), and which cameras
  // get them: higher priority first, then the cameras read longest ago, so cameras that arrive
  // together take turns (the first camera in each chunk took every turn otherwise). The frames
  // of a step share its chunk: reading two of them costs little more than reading one.
  const cameras = Object.keys(o.cameras);
  const lastRead = new Map<string, number>();
  let reads = 0;
  let step: { t: bigint; candidates: Set<string>; read: Set<string> } | undefined;
  return (topic, t) => {
    const role = o.roles.get(topic);
    // camera_info goes with its frame, like ground truth (each camera's first one was read
    // ahead: readFirstCameraInfos); reading it alone would decompress every chunk.
    if (!role || !('camera' in role)) return false;
    const camera = role.camera;
    const last = decided.get(camera);
    let skip: boolean;
    if (last && last.t === t) skip = last.skip;
    else if (last && t < last.t) skip = false;
    else {
      const budget = o.cameras[camera]?.budgetMs;
      const dueMs = wallStart + Number(t - o.info.startNs) / 1e6 / o.rate;
      // Left unread when it could only be dropped: offered once read (and due), it would wait
      // for the queue and run past its deadline. (Skipping only frames already past their
      // deadline read every frame that was dropped anyway: under 2x overload no frame was
      // served, docs/experiments/2026-12-06-two-cameras.md.)
      const now = clock();
      if (budget === undefined) skip = false;
      else if (dueMs - now > budget) {
        // Far ahead of its time (the reader decides a whole chunk's frames when it reaches it):
        // what the queue will hold then is unknown; read it, and the scheduler decides at its
        // due time, as before.
        skip = false;
      } else {
        const queue = o.scheduler.expectedQueue();
        const args = { nowMs: now, dueMs, budgetMs: budget, readMs: reading.ms, priority: (c: string) => o.cameras[c]?.priority ?? 0, lastRead: (c: string) => lastRead.get(c) ?? -1 };
        if (step && step.t === t && step.candidates.has(camera)) skip = !step.read.has(camera);
        else if (step && step.t === t) {
          // A camera this step's decision did not count on (its group changed): it gets a frame
          // if one more fits behind the frames the step already reads.
          const more = stepReads({ ...args, queue: { freeInMs: queue.freeInMs + step.read.size * queue.runMs, runMs: queue.runMs }, cameras: [camera] });
          skip = more.length === 0 || queue.runMs > budget;
          if (!skip) step.read.add(camera);
          step.candidates.add(camera);
        } else {
          // The step's cameras: those whose last frame shared this camera's last time step
          // (frames recorded together; a camera on its own clock is a group of one).
          const prev = last?.t;
          const candidates = cameras.filter((c) => c === camera || decided.get(c)?.t === prev);
          step = { t, candidates: new Set(candidates), read: new Set(stepReads({ ...args, queue, cameras: candidates })) };
          skip = !step.read.has(camera);
        }
      }
      if (!skip) lastRead.set(camera, ++reads);
      decided.set(camera, { t, skip });
    }
    if (skip && role.role === 'camera') {
      onFirst();
      o.onSkipped?.(camera);
    }
    return skip;
  };
}

/** A camera message's image as the pipeline takes it (no copy: the bytes stay the reader's). */
export function encodedImage(m: BagMessage, compressed: boolean): EncodedImage {
  if (compressed) {
    const c = m.msg as CompressedImage;
    return { kind: 'compressed', format: c.format, data: c.data };
  }
  const i = m.msg as Image;
  return { kind: 'raw', width: i.width, height: i.height, encoding: i.encoding, step: i.step, data: i.data };
}

/** The frame's own stamp (header), falling back to the log time when a header is zero. */
export function stampOf(m: BagMessage): bigint {
  const header = (m.msg as { header?: { stamp?: { sec: number; nanosec: number } } }).header;
  const ns = header?.stamp ? timeToNs(header.stamp) : 0n;
  return ns > 0n ? ns : m.logTimeNs;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The first camera_info of every camera that has one, handed to `onInfo`: read ahead, through
 * the reader's topic filter, stopping once each camera has one. A camera_info that cannot be
 * read is logged and skipped (the stream's own copies come later).
 */
/**
 * Every /tf_static message of the bag (a recording's latched mounts: a few messages), handed to
 * `onTf` before the frames are read. One that cannot be read is logged and the rest are kept.
 */
export async function readStaticTransforms(reader: BagReader, info: BagInfo, roles: ReadonlyMap<string, TopicRole>, onTf: (msg: TfMessageLike) => void, log: (line: string) => void): Promise<void> {
  const topics = info.topics.filter((t) => roles.get(t.topic)?.role === 'tf_static').map((t) => t.topic);
  if (topics.length === 0) return;
  try {
    for await (const m of reader.messages({ topics })) onTf(m.msg as TfMessageLike);
  } catch (err) {
    log(`/tf_static read ahead stopped: ${(err as Error).message}`);
  }
}

export async function readFirstCameraInfos(reader: BagReader, info: BagInfo, roles: ReadonlyMap<string, TopicRole>, onInfo: (camera: string, info: CameraInfoLike) => void, log: (line: string) => void): Promise<void> {
  const topics = info.topics.filter((t) => roles.get(t.topic)?.role === 'camera_info').map((t) => t.topic);
  if (topics.length === 0) return;
  const seen = new Set<string>();
  try {
    for await (const m of reader.messages({ topics })) {
      const role = roles.get(m.topic);
      if (role?.role !== 'camera_info' || seen.has(role.camera)) continue;
      seen.add(role.camera);
      onInfo(role.camera, m.msg as CameraInfoLike);
      if (seen.size === topics.length) break;
    }
  } catch (err) {
    log(`camera_info read ahead stopped: ${(err as Error).message}`);
  }
}
