import { openBag } from '../../bag/reader.js';
import type { CompressedImage, Detection2DArray, Image } from '../../msgs/index.js';
import { timeToNs, validateImage } from '../../msgs/index.js';
import { ImageDecoder, type EncodedImage, type RgbImage } from '../../pipeline/image-decode.js';
import { boxesFromDetections, bytePixels, floatPixels } from '../../pipeline/messages.js';
import type { FrameResult } from '../../pipeline/perception.js';
import type { Truth } from '../../pipeline/messages.js';
import { classifyTopic } from '../../msgs/topics.js';
import type { ReferenceSource } from './adapter.js';
import { referenceMessages } from './perception-parts.js';
import { CameraFocals, toModelDepth, type CameraInfoLike } from '../../pipeline/depth-focal.js';
import type { Manifest } from '../../model/index.js';

/** Reference frames' cameras are named `CAMERA~refK` (K: the bag's index). */
export const REFERENCE_CAMERA_MARK = '~ref';

/** Frames' worth of ground truth held while waiting for their camera frame. */
const MAX_PENDING_TRUTH = 64;

export type ReferenceTruth = Partial<Record<'detections' | 'lane' | 'depth', Truth>>;

/**
 * The old-domain reference set: up to `maxFrames` camera frames of a bag of the training
 * domains, spread evenly over the whole bag (the first frame of each of `maxFrames` equal stretches),
 * each run through `process` and handed to `onFrame` with the ground truth recorded before it
 * (the `/gt/...` topics of the same camera and stamp). Spread, not the first frames: a drive's
 * first seconds are one scene, and the learner's router learns what the old domain looks like
 * from these frames (bench/router-fit.ts). The learner's gate measures
 * forgetting on these, and its reservoir trains on them. Used by `replay --adapt` and by the
 * ROS perception node (`adaptation.reference_bag`). `onFrame` may wait (for room in the
 * learner's queue) and returns false for a frame it could not deliver. Resolves to the frames
 * taken from the bag and how many of them were delivered.
 */
export async function readReferenceSet(
  bag: string,
  maxFrames: number,
  process: (camera: string, stampNs: bigint, image: RgbImage) => Promise<FrameResult>,
  onFrame: (result: FrameResult, truth: ReferenceTruth) => boolean | void | Promise<boolean | void>,
  focals?: CameraFocals,
): Promise<{ frames: number; delivered: number }> {
  const reader = await openBag(bag);
  const decoder = new ImageDecoder();
  const truth = new Map<string, ReferenceTruth>();
  const info = reader.info();
  const cameraFrames = info.topics.filter((t) => classifyTopic(t.topic, t.type).role === 'camera').reduce((a, t) => a + t.count, 0);
  // Frame i is sent when it starts a new one of `maxFrames` equal stretches of the bag.
  const stretch = (i: number) => Math.floor((i * Math.max(0, maxFrames)) / Math.max(1, cameraFrames));
  let seen = 0;
  let taken = 0;
  let sent = 0;
  try {
    for await (const m of reader.messages()) {
      if (taken >= maxFrames) break;
      const role = classifyTopic(m.topic, m.type);
      // A camera's messages only (the robot's /tf_static and anything else has no camera, nor always a header).
      if (!('camera' in role)) continue;
      const header = (m.msg as { header: { stamp: { sec: number; nanosec: number } } }).header;
      const key = `${'camera' in role ? role.camera : ''}@${timeToNs(header.stamp)}`;
      const t = truth.get(key) ?? {};
      truth.set(key, t);
      // Ground truth recorded after its frame is never claimed: keep only the newest entries.
      if (truth.size > MAX_PENDING_TRUTH) truth.delete(truth.keys().next().value!);
      switch (role.role) {
        case 'gt_detections':
          t.detections = { kind: 'detections', boxes: boxesFromDetections(m.msg as Detection2DArray) };
          break;
        case 'gt_lane': {
          const img = validateImage(m.msg);
          t.lane = { kind: 'lane', width: img.width, height: img.height, data: bytePixels(img) };
          break;
        }
        case 'gt_depth': {
          const img = validateImage(m.msg);
          t.depth = { kind: 'depth', width: img.width, height: img.height, data: floatPixels(img) };
          break;
        }
        case 'camera_info':
          focals?.note(role.camera, m.msg as CameraInfoLike);
          break;
        case 'camera': {
          const i = seen++;
          if (i > 0 && stretch(i) === stretch(i - 1)) {
            truth.delete(key);
            break;
          }
          const enc: EncodedImage = role.compressed
            ? { kind: 'compressed', format: (m.msg as CompressedImage).format, data: (m.msg as CompressedImage).data }
            : { kind: 'raw', ...(m.msg as Image) };
          const image = await decoder.decode(enc, { camera: role.camera, topic: m.topic, index: m.index });
          // Depth labels in the model's own units for the bag's camera (what the learner compares).
          focals?.seen(role.camera, image);
          if (t.depth?.kind === 'depth' && focals) t.depth = toModelDepth(t.depth, focals.scale(role.camera));
          const delivered = await onFrame(await process(role.camera, timeToNs(header.stamp), image), t);
          truth.delete(key);
          taken++;
          if (delivered !== false) sent++;
          break;
        }
      }
    }
  } finally {
    await reader.close();
  }
  return { frames: taken, delivered: sent };
}

/**
 * A ReferenceSource (PerceptionAdapter's port) over bags of the training domains: `frames` in
 * all, shared evenly between the bags, each run through `process` and sent with its labels.
 * The learner keys samples by camera and stamp, and recorded drives share stamps (every
 * simulated bag starts at the same time): so each bag's cameras get names of their own
 * (`front~ref0`), which neither another reference bag nor the drive being adapted to uses.
 * Under the camera's own name, a flagged frame of a replayed drive with a reference frame's
 * stamp was not stored, and its annotation was merged into the reference frame's labels
 * (docs/experiments/2026-12-07-live-adaptation.md).
 */
export function bagReferenceSource(o: {
  readonly bags: readonly string[];
  readonly frames: number;
  readonly classes: readonly string[];
  readonly process: (camera: string, stampNs: bigint, image: RgbImage) => Promise<FrameResult>;
  /** The model's depth section: depth labels are taken to its units with each bag's camera_info. */
  readonly depth?: Manifest['depth'];
}): ReferenceSource {
  return async (send) => {
    let frames = 0;
    let delivered = 0;
    for (const [k, bag] of o.bags.entries()) {
      const share = Math.min(Math.ceil(o.frames / o.bags.length), o.frames - frames);
      const name = (camera: string) => `${camera}${REFERENCE_CAMERA_MARK}${k}`;
      const r = await readReferenceSet(bag, share, (camera, stampNs, image) => o.process(name(camera), stampNs, image), async (result, truth) => {
        const messages = referenceMessages(result, truth, o.classes);
        return messages ? send(messages) : false;
      }, new CameraFocals({ depth: o.depth }));
      frames += r.frames;
      delivered += r.delivered;
    }
    return { frames, delivered };
  };
}
