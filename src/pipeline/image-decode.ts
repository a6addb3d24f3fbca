import sharp from 'sharp';
import { PerceptionError, type ErrorContext } from '../core/errors.js';

/** A camera image as the engine takes it: packed RGB, HWC, 3 bytes a pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type EncodedImage =
  | { kind: 'raw'; width: number; height: number; encoding: string; step: number; data: Uint8Array }
  | { kind: 'compressed'; format: string; data: Uint8Array };

/**
 * libvips, under sharp, decodes each JPEG on a libuv thread with a pool of its own (default: one
 * thread per core) and keeps recent operations in a 50 MB cache. Camera frames are decoded once
 * each, on two cores shared with the model: one thread per decode and no cache, which takes
 * less CPU and time per frame than sharp's defaults (`npx tsx bench/jpeg-decode.ts`;
 * docs/experiments/2026-11-29-latency-and-swaps.md). Process-wide (sharp's settings are).
 */
sharp.concurrency(1);
sharp.cache(false);

const CHANNELS: Record<string, number> = { rgb8: 3, bgr8: 3, rgba8: 4, bgra8: 4, mono8: 1, '8UC1': 1, '8UC3': 3 };

/**
 * Turns camera messages into packed RGB. rgb8 with a packed step is returned as a view (no
 * copy: the message's bytes go straight to ONNX Runtime); other layouts are converted into a
 * buffer reused per camera, so steady-state replay allocates nothing per frame here.
 */
export class ImageDecoder {
  private readonly scratch = new Map<string, Uint8Array>();

  async decode(img: EncodedImage, ctx: ErrorContext & { camera: string }): Promise<RgbImage> {
    return img.kind === 'raw' ? this.decodeRaw(img, ctx) : decodeCompressed(img, ctx);
  }

  decodeRaw(img: Extract<EncodedImage, { kind: 'raw' }>, ctx: ErrorContext & { camera: string }): RgbImage {
    const { width, height, step, encoding, data } = img;
    const ch = CHANNELS[encoding];
    if (ch === undefined) {
      throw new PerceptionError('UNSUPPORTED_ENCODING', `unsupported image encoding '${encoding}' (supported: ${Object.keys(CHANNELS).join(', ')})`, ctx);
    }
    if (!(width > 0 && height > 0 && width <= 16384 && height <= 16384)) {
      throw new PerceptionError('BAD_IMAGE', `image size ${width}x${height} is outside 1..16384`, ctx);
    }
    if (step < width * ch || data.length < step * (height - 1) + width * ch) {
      throw new PerceptionError('BAD_IMAGE', `image ${width}x${height} ${encoding} with step ${step} needs ${step * height} bytes, has ${data.length}`, ctx);
    }
    if ((encoding === 'rgb8' || encoding === '8UC3') && step === width * 3) {
      return { width, height, data: data.subarray(0, width * height * 3) };
    }
    const out = this.buffer(ctx.camera, width * height * 3);
    for (let y = 0; y < height; y++) {
      let s = y * step;
      let d = y * width * 3;
      for (let x = 0; x < width; x++, s += ch, d += 3) {
        switch (encoding) {
          case 'rgb8':
          case '8UC3':
          case 'rgba8':
            out[d] = data[s];
            out[d + 1] = data[s + 1];
            out[d + 2] = data[s + 2];
            break;
          case 'bgr8':
          case 'bgra8':
            out[d] = data[s + 2];
            out[d + 1] = data[s + 1];
            out[d + 2] = data[s];
            break;
          default: // mono8, 8UC1
            out[d] = out[d + 1] = out[d + 2] = data[s];
        }
      }
    }
    return { width, height, data: out };
  }

  private buffer(camera: string, size: number): Uint8Array {
    let buf = this.scratch.get(camera);
    if (!buf || buf.length !== size) {
      buf = new Uint8Array(size);
      this.scratch.set(camera, buf);
    }
    return buf;
  }
}

async function decodeCompressed(img: Extract<EncodedImage, { kind: 'compressed' }>, ctx: ErrorContext): Promise<RgbImage> {
  const format = img.format.toLowerCase();
  // sensor_msgs/CompressedImage.format is "jpeg", "png", or "rgb8; jpeg compressed bgr8" (image_transport).
  if (!/(^|\W)(jpe?g|png)(\W|$)/.test(format)) {
    throw new PerceptionError('UNSUPPORTED_ENCODING', `unsupported compressed format '${img.format}' (jpeg or png)`, ctx);
  }
  if (img.data.length === 0) throw new PerceptionError('BAD_IMAGE', 'compressed image has no data', ctx);
  try {
    const { data, info } = await sharp(img.data, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (cause) {
    throw new PerceptionError('BAD_IMAGE', `cannot decode ${img.format} image: ${(cause as Error).message}`, ctx, { cause });
  }
}
