import { openBag } from '../bag/reader.js';
import type { CompressedImage, Detection2DArray, Image } from '../msgs/index.js';
import { timeToNs, validateImage } from '../msgs/index.js';
import { ImageDecoder, type EncodedImage, type RgbImage } from '../replay/image-decode.js';
import { boxesFromDetections, bytePixels, floatPixels } from '../replay/messages.js';
import type { FrameResult } from '../replay/perception.js';
import type { Truth } from '../replay/scoring.js';
import { classifyTopic } from '../replay/topics.js';

export type ReferenceTruth = Partial<Record<'detections' | 'lane' | 'depth', Truth>>;

/**
 * The old-domain reference set: the first `maxFrames` camera frames of a bag of the training
 * domains, each run through `process` and handed to `onFrame` with the ground truth recorded
 * before it (the `/gt/...` topics of the same camera and stamp). The learner's gate measures
 * forgetting on these, and its reservoir trains on them. Used by `replay --adapt` and by the
 * ROS perception node (`adaptation.reference_bag`). Resolves to the number of frames sent.
 */
export async function readReferenceSet(
  bag: string,
  maxFrames: number,
  process: (camera: string, stampNs: bigint, image: RgbImage) => Promise<FrameResult>,
  onFrame: (result: FrameResult, truth: ReferenceTruth) => void,
): Promise<number> {
  const reader = await openBag(bag);
  const decoder = new ImageDecoder();
  const truth = new Map<string, ReferenceTruth>();
  let sent = 0;
  try {
    for await (const m of reader.messages()) {
      if (sent >= maxFrames) break;
      const role = classifyTopic(m.topic, m.type);
      const header = (m.msg as { header: { stamp: { sec: number; nanosec: number } } }).header;
      const key = `${role.role === 'other' ? '' : role.camera}@${timeToNs(header.stamp)}`;
      const t = truth.get(key) ?? {};
      truth.set(key, t);
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
        case 'camera': {
          const enc: EncodedImage = role.compressed
            ? { kind: 'compressed', format: (m.msg as CompressedImage).format, data: (m.msg as CompressedImage).data }
            : { kind: 'raw', ...(m.msg as Image) };
          const image = await decoder.decode(enc, { camera: role.camera, topic: m.topic, index: m.index });
          onFrame(await process(role.camera, timeToNs(header.stamp), image), t);
          truth.delete(key);
          sent++;
          break;
        }
        case 'other':
          break;
      }
    }
  } finally {
    await reader.close();
  }
  return sent;
}
