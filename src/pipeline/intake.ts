import { PerceptionError, isPerceptionError } from '../core/errors.js';
import { timeToNs, validateImage, type CompressedImage, type Image } from '../msgs/index.js';
import type { EncodedImage } from './image-decode.js';

/** Encodings the frame decoder turns into RGB (validateImage also knows depth encodings, which a camera topic must not carry). */
const CAMERA_ENCODINGS = new Set(['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', '8UC1']);
/** sensor_msgs/CompressedImage.format as image_transport writes it: "jpeg", "png", "rgb8; jpeg compressed bgr8". */
const COMPRESSED_FORMAT = /(^|\W)(jpe?g|png)(\W|$)/i;

export interface IntakeFrame {
  /** Its `data` is a fresh copy in an ArrayBuffer of its own (see FramePayload.owned). */
  readonly encoded: EncodedImage;
  readonly stampNs: bigint;
  readonly input: { readonly width: number; readonly height: number; readonly encoding: string } | undefined;
  /** The image header's frame_id (the camera's optical frame in TF); undefined where the driver left it empty. */
  readonly frameId: string | undefined;
}

/**
 * Checks a camera message and copies what the node keeps. The transport may reuse the message
 * and its bytes once the handler returns (rclnodejs does), while the frame waits in a mailbox or
 * runs: so the bytes are copied here, once — the only per-frame allocation of intake. (A ring
 * of ≤ 3 buffers per camera would do, since a mailbox holds one frame and one runs; left for
 * when a profile says the copy matters.) Throws PerceptionError BAD_IMAGE / UNSUPPORTED_ENCODING.
 */
/** Where and when a camera message arrived (a transport's ReceiveInfo satisfies it). */
export interface Arrival {
  readonly topic: string;
  readonly index: number;
  readonly receiveTimeNs: bigint;
  readonly sourceTimeNs?: bigint;
}

export function takeFrame(msg: unknown, compressed: boolean, info: Arrival, camera: string): IntakeFrame {
  const ctx = { topic: info.topic, index: info.index, camera };
  const stampNs = stampOf(msg, info);
  const frameId = frameIdOf(msg);
  if (compressed) {
    const c = msg as CompressedImage;
    if (typeof c?.format !== 'string' || !COMPRESSED_FORMAT.test(c.format)) {
      throw new PerceptionError('UNSUPPORTED_ENCODING', `compressed format "${String(c?.format)}" is not supported (jpeg or png)`, { ...ctx, field: 'format' });
    }
    if (!(c.data instanceof Uint8Array) || c.data.length === 0) throw new PerceptionError('BAD_IMAGE', 'compressed image has no data', { ...ctx, field: 'data' });
    return { encoded: { kind: 'compressed', format: c.format, data: copyOf(c.data) }, stampNs, input: undefined, frameId };
  }
  const img: Image = validateImage(msg, ctx);
  if (!CAMERA_ENCODINGS.has(img.encoding)) {
    throw new PerceptionError('UNSUPPORTED_ENCODING', `image encoding "${img.encoding}" is not a camera encoding (supported: ${[...CAMERA_ENCODINGS].join(', ')})`, { ...ctx, field: 'encoding' });
  }
  const data = copyOf(img.data.subarray(0, img.step * img.height));
  return {
    encoded: { kind: 'raw', width: img.width, height: img.height, encoding: img.encoding, step: img.step, data },
    stampNs,
    input: { width: img.width, height: img.height, encoding: img.encoding },
    frameId,
  };
}

/**
 * A copy in a fresh ArrayBuffer of exactly its size. `new Uint8Array(view)` always copies;
 * `slice()` would not on a Node Buffer (Buffer#slice is a view), which a transport may hand in.
 */
function copyOf(data: Uint8Array): Uint8Array {
  return new Uint8Array(data);
}

/** The header's frame_id, if it names one. */
export function frameIdOf(msg: unknown): string | undefined {
  const id = (msg as { header?: { frame_id?: unknown } })?.header?.frame_id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** The frame's header stamp; the sender's or receive time when the header is zero (some drivers). */
function stampOf(msg: unknown, info: Arrival): bigint {
  const stamp = (msg as { header?: { stamp?: { sec: number; nanosec: number } } })?.header?.stamp;
  const ns = stamp ? timeToNs(stamp) : 0n;
  return ns > 0n ? ns : (info.sourceTimeNs ?? info.receiveTimeNs);
}

/** Errors a bad frame may raise (counted and reported); anything else is a bug and propagates. */
export function isFrameError(err: unknown): err is PerceptionError {
  return isPerceptionError(err) && ['BAD_IMAGE', 'UNSUPPORTED_ENCODING', 'MESSAGE_DECODE', 'UNKNOWN_MESSAGE_TYPE'].includes(err.code);
}
