/**
 * Camera frames (and their ground truth, where the bag has `/gt/...` topics) read from bags:
 * the calibration set of the quantizer and the held-out set that scores a variant. Frames are
 * spread evenly over each bag (the first of `max` equal stretches): a drive's first seconds
 * are one scene. Each frame owns its bytes (copied out of the bag's chunk buffers).
 */
import { openBag } from '../bag/reader.js';
import { PerceptionError } from '../core/errors.js';
import type { CompressedImage, Detection2DArray, Image } from '../msgs/index.js';
import { timeToNs, validateImage } from '../msgs/index.js';
import { ImageDecoder, type EncodedImage, type RgbImage } from '../pipeline/image-decode.js';
import { boxesFromDetections, bytePixels, floatPixels } from '../pipeline/messages.js';
import type { Truth } from '../replay/scoring.js';
import { classifyTopic } from '../msgs/topics.js';

export interface LabelledFrame {
  readonly bag: string;
  readonly camera: string;
  readonly stampNs: bigint;
  readonly image: RgbImage;
  readonly truth: Partial<Record<'detections' | 'lane' | 'depth', Truth>>;
}

/**
 * Up to `max` frames of each bag, with whatever ground truth was recorded for the same camera
 * and stamp (before or after the frame). Throws INVALID_ARGUMENT naming the bag when it holds
 * no camera frame.
 */
export async function readLabelledFrames(bags: readonly string[], max: number): Promise<LabelledFrame[]> {
  const out: LabelledFrame[] = [];
  for (const bag of bags) {
    const reader = await openBag(bag);
    const decoder = new ImageDecoder();
    const frames = new Map<string, LabelledFrame>();
    const truth = new Map<string, LabelledFrame['truth']>();
    try {
      const info = reader.info();
      const total = info.topics.filter((t) => classifyTopic(t.topic, t.type).role === 'camera').reduce((a, t) => a + t.count, 0);
      if (total === 0) throw new PerceptionError('INVALID_ARGUMENT', `bag ${bag} has no camera topic (sensor_msgs/Image or CompressedImage on /<camera>/image_raw)`, { file: bag, field: 'bag' });
      const stretch = (i: number) => Math.floor((i * Math.max(0, max)) / total);
      let seen = 0;
      for await (const m of reader.messages()) {
        const role = classifyTopic(m.topic, m.type);
        if (!('camera' in role)) continue;
        const header = (m.msg as { header: { stamp: { sec: number; nanosec: number } } }).header;
        const stampNs = timeToNs(header.stamp);
        const key = `${role.camera}@${stampNs}`;
        const t = truth.get(key) ?? frames.get(key)?.truth ?? {};
        switch (role.role) {
          case 'camera': {
            const i = seen++;
            if (i > 0 && stretch(i) === stretch(i - 1)) break;
            const enc: EncodedImage = role.compressed
              ? { kind: 'compressed', format: (m.msg as CompressedImage).format, data: (m.msg as CompressedImage).data }
              : { kind: 'raw', ...(m.msg as Image) };
            const img = await decoder.decode(enc, { camera: role.camera, topic: m.topic, index: m.index, file: bag });
            frames.set(key, { bag, camera: role.camera, stampNs, image: { width: img.width, height: img.height, data: img.data.slice() }, truth: t });
            truth.delete(key);
            break;
          }
          case 'gt_detections':
            t.detections = { kind: 'detections', boxes: boxesFromDetections(m.msg as Detection2DArray) };
            if (!frames.has(key)) truth.set(key, t);
            break;
          case 'gt_lane': {
            const img = validateImage(m.msg);
            t.lane = { kind: 'lane', width: img.width, height: img.height, data: bytePixels(img).slice() };
            if (!frames.has(key)) truth.set(key, t);
            break;
          }
          case 'gt_depth': {
            const img = validateImage(m.msg);
            t.depth = { kind: 'depth', width: img.width, height: img.height, data: floatPixels(img).slice() };
            if (!frames.has(key)) truth.set(key, t);
            break;
          }
        }
        // Truth for frames that were skipped would pile up: keep only recent stamps.
        if (truth.size > 256) truth.delete(truth.keys().next().value as string);
      }
    } finally {
      await reader.close();
    }
    out.push(...frames.values());
  }
  return out;
}
