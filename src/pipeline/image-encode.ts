import sharp from 'sharp';
import type { RgbImage } from './image-decode.js';

/**
 * A frame as JPEG, for the few frames that leave perception with their picture (flagged frames
 * a teacher model labels): resized to at most `maxWidth` (a teacher looks at 352-pixel tiles),
 * encoded by libvips on a libuv thread, never on the frame's own time.
 */
export async function encodeJpeg(img: RgbImage, options: { readonly maxWidth?: number; readonly quality?: number } = {}): Promise<Uint8Array> {
  const maxWidth = options.maxWidth ?? 640;
  let p = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  if (img.width > maxWidth) p = p.resize({ width: maxWidth });
  const out = await p.jpeg({ quality: options.quality ?? 85 }).toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** A JPEG back to packed RGB. */
export async function decodeJpeg(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
