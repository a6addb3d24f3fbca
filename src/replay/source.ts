import type { BagInfo, BagMessage, BagReader } from '../bag/types.js';
import { isPerceptionError, type ErrorCode } from '../core/errors.js';
import { timeToNs, validateImage, type CompressedImage, type Detection2DArray, type Image } from '../msgs/index.js';
import type { TopicRole } from '../msgs/topics.js';
import type { FrameOutcome, FramePayload } from '../pipeline/frame-runner.js';
import type { EncodedImage } from '../pipeline/image-decode.js';
import { encodedSize } from '../pipeline/image-size.js';
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
  /** A camera message arrived (counted before it is checked). */
  readonly onCameraMessage: (camera: string) => void;
  readonly onTruth: (camera: string, stampNs: bigint, truth: Truth) => void;
  /** A message that was not usable; `frame` when it was a camera frame (it counts as finished). */
  readonly onBad: (code: ErrorCode | string, camera: string | undefined, frame: boolean) => void;
  /** The bag clock advanced to this log time. */
  readonly onTime: (logTimeNs: bigint) => void;
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
  const relevant = info.topics.filter((t) => roles.get(t.topic)!.role !== 'other').map((t) => t.topic);
  const messages = o.reader.messages({
    topics: relevant,
    onError: (err) => {
      o.log(`skipping message: ${err.message}`);
      const r = err.context.topic ? roles.get(err.context.topic) : undefined;
      o.onBad(err.code, r && r.role !== 'other' ? r.camera : undefined, r?.role === 'camera');
    },
  });
  const wallStart = performance.now();
  let warnedLag = false;
  try {
    for await (const m of messages) {
      o.onTime(m.logTimeNs);
      const role = roles.get(m.topic)!;
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
          const payload: FramePayload = { camera: role.camera, topic: m.topic, index: m.index, stampNs: stampOf(m), logTimeNs: m.logTimeNs, encoded };
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
        case 'other':
          break;
      }
    }
  } catch (err) {
    if (!isPerceptionError(err) || !['BAG_TRUNCATED', 'BAG_CORRUPT'].includes(err.code)) throw err;
    return `${err.code}: ${err.message}`;
  }
  return undefined;
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
