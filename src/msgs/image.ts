import { PerceptionError, type ErrorContext } from '../core/errors.js';
import { nsToTime } from './time.js';
import type { Image, Time } from './types.js';

/** Encodings we consume, with bytes per pixel. Multi-byte encodings must be little-endian. */
export const IMAGE_ENCODINGS = {
  rgb8: 3,
  bgr8: 3,
  rgba8: 4,
  bgra8: 4,
  mono8: 1,
  '8UC1': 1,
  '16UC1': 2,
  '32FC1': 4,
} as const;

export type ImageEncoding = keyof typeof IMAGE_ENCODINGS;

/** Larger than any camera we expect; stops absurd headers from driving huge allocations. */
export const MAX_IMAGE_SIDE = 16384;

export function isSupportedEncoding(encoding: string): encoding is ImageEncoding {
  return Object.hasOwn(IMAGE_ENCODINGS, encoding);
}

export function bytesPerPixel(encoding: string, ctx: ErrorContext = {}): number {
  if (!isSupportedEncoding(encoding)) {
    throw new PerceptionError(
      'UNSUPPORTED_ENCODING',
      `image encoding "${encoding}" is not supported (supported: ${Object.keys(IMAGE_ENCODINGS).join(', ')})`,
      { ...ctx, field: 'encoding' },
    );
  }
  return IMAGE_ENCODINGS[encoding];
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * Checks that a decoded `sensor_msgs/msg/Image` is one we can consume: known encoding, sane
 * size, a step that covers a row, and enough bytes for every row. Throws PerceptionError
 * ('BAD_IMAGE' or 'UNSUPPORTED_ENCODING') carrying `ctx` (topic, index, file) and the field.
 */
export function validateImage(msg: unknown, ctx: ErrorContext = {}): Image {
  const bad = (message: string, field: string) => new PerceptionError('BAD_IMAGE', message, { ...ctx, field });
  if (typeof msg !== 'object' || msg === null) throw bad('image message is not an object', 'msg');
  const m = msg as Partial<Record<keyof Image, unknown>>;
  if (typeof m.encoding !== 'string') throw bad('image has no encoding', 'encoding');
  const bpp = bytesPerPixel(m.encoding, ctx);
  const { width, height, step, data } = m;
  for (const [field, v] of [['width', width], ['height', height]] as const) {
    if (!isUint(v) || v === 0 || v > MAX_IMAGE_SIDE) {
      throw bad(`image ${field} ${String(v)} is outside 1..${MAX_IMAGE_SIDE}`, field);
    }
  }
  const w = width as number;
  const h = height as number;
  if (!isUint(step) || step < w * bpp) {
    throw bad(`image step ${String(step)} is less than width ${w} × ${bpp} bytes (${m.encoding})`, 'step');
  }
  if (!(data instanceof Uint8Array)) throw bad('image data is not a byte array', 'data');
  if (data.length < step * h) {
    throw bad(`image data has ${data.length} bytes, expected at least step ${step} × height ${h} = ${step * h}`, 'data');
  }
  if (bpp > 1 && m.is_bigendian) {
    throw new PerceptionError('UNSUPPORTED_ENCODING', `big-endian ${m.encoding} images are not supported`, {
      ...ctx,
      field: 'is_bigendian',
    });
  }
  return msg as Image;
}

export interface MakeImageOptions {
  /** Nanoseconds since the epoch, or a ROS 2 Time. */
  stamp: bigint | Time;
  frameId: string;
  width: number;
  height: number;
  encoding: ImageEncoding;
  /** Tightly packed rows (step = width × bytes per pixel). Not copied. */
  data: Uint8Array;
}

/** Builds a little-endian, tightly packed Image and validates it. */
export function makeImage(opts: MakeImageOptions): Image {
  const step = opts.width * bytesPerPixel(opts.encoding);
  const stamp = typeof opts.stamp === 'bigint' ? nsToTime(opts.stamp) : { ...opts.stamp };
  return validateImage({
    header: { stamp, frame_id: opts.frameId },
    height: opts.height,
    width: opts.width,
    encoding: opts.encoding,
    is_bigendian: 0,
    step,
    data: opts.data,
  });
}
