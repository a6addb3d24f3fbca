import { makeImage, nsToTime, type Detection2DArray, type Header, type Image } from '../msgs/index.js';

/** A detection in camera pixels (x1, y1 exclusive), as decoders produce and metrics consume. */
export interface Box {
  cls: string;
  score: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export function detectionArray(header: Header, boxes: readonly Box[]): Detection2DArray {
  return {
    header,
    detections: boxes.map((b, i) => ({
      header,
      id: String(i),
      results: [
        {
          hypothesis: { class_id: b.cls, score: b.score },
          pose: { pose: { position: { x: 0, y: 0, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } }, covariance: ZERO_COV },
        },
      ],
      bbox: { center: { position: { x: (b.x0 + b.x1) / 2, y: (b.y0 + b.y1) / 2 }, theta: 0 }, size_x: b.x1 - b.x0, size_y: b.y1 - b.y0 },
    })),
  };
}

// Shared and never mutated: serialisation only reads it, and 36 zeros per detection add up.
const ZERO_COV = new Float64Array(36);

/** Reads boxes back from a Detection2DArray (ground truth or results), best hypothesis first. */
export function boxesFromDetections(msg: Detection2DArray): Box[] {
  const out: Box[] = [];
  for (const d of msg.detections) {
    const best = d.results.reduce<(typeof d.results)[number] | undefined>((a, r) => (a && a.hypothesis.score >= r.hypothesis.score ? a : r), undefined);
    if (!best) continue;
    const { x, y } = d.bbox.center.position;
    out.push({ cls: best.hypothesis.class_id, score: best.hypothesis.score, x0: x - d.bbox.size_x / 2, y0: y - d.bbox.size_y / 2, x1: x + d.bbox.size_x / 2, y1: y + d.bbox.size_y / 2 });
  }
  return out;
}

export function headerFor(stampNs: bigint, frameId: string): Header {
  return { stamp: nsToTime(stampNs), frame_id: frameId };
}

export function monoImage(header: Header, width: number, height: number, data: Uint8Array): Image {
  return makeImage({ stamp: header.stamp, frameId: header.frame_id, width, height, encoding: 'mono8', data });
}

export function depthImage(header: Header, width: number, height: number, depth: Float32Array): Image {
  const data = new Uint8Array(depth.buffer, depth.byteOffset, depth.byteLength);
  return makeImage({ stamp: header.stamp, frameId: header.frame_id, width, height, encoding: '32FC1', data });
}

export function rgbImage(header: Header, width: number, height: number, data: Uint8Array): Image {
  return makeImage({ stamp: header.stamp, frameId: header.frame_id, width, height, encoding: 'rgb8', data });
}

/** A 32FC1 image's pixels as floats (copies only when the bytes are not 4-byte aligned). */
export function floatPixels(img: Image): Float32Array {
  const { data } = img;
  if (img.is_bigendian) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const out = new Float32Array(img.width * img.height);
    for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) out[y * img.width + x] = view.getFloat32(y * img.step + x * 4, false);
    return out;
  }
  if (img.step === img.width * 4 && data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, img.width * img.height);
  const out = new Float32Array(img.width * img.height);
  const bytes = new Uint8Array(out.buffer);
  for (let y = 0; y < img.height; y++) bytes.set(data.subarray(y * img.step, y * img.step + img.width * 4), y * img.width * 4);
  return out;
}

/** A mono8 image's pixels, packed (a view when already packed). */
export function bytePixels(img: Image): Uint8Array {
  if (img.step === img.width) return img.data.subarray(0, img.width * img.height);
  const out = new Uint8Array(img.width * img.height);
  for (let y = 0; y < img.height; y++) out.set(img.data.subarray(y * img.step, y * img.step + img.width), y * img.width);
  return out;
}

/** One part of a frame's ground truth as a bag or an annotator gives it (`/gt/CAM/...`), in camera pixels. */
export type Truth =
  | { kind: 'detections'; boxes: Box[] }
  | { kind: 'lane'; width: number; height: number; data: Uint8Array }
  | { kind: 'depth'; width: number; height: number; data: Float32Array };
