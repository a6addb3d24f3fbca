import type { EncodedImage } from './image-decode.js';

/**
 * The pixel size of an encoded camera image without decoding it (raw: from the message; JPEG:
 * the SOF marker; PNG: IHDR), so the scheduler can batch same-size frames before paying for a
 * decode. Undefined when the header cannot be read: such a frame is simply never batched.
 */
export function encodedSize(img: EncodedImage): readonly [height: number, width: number] | undefined {
  if (img.kind === 'raw') return img.width > 0 && img.height > 0 ? [img.height, img.width] : undefined;
  const d = img.data;
  if (d.length >= 24 && d[0] === 0x89 && d[1] === 0x50 && d[2] === 0x4e && d[3] === 0x47) {
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    return [v.getUint32(20), v.getUint32(16)];
  }
  if (d.length < 4 || d[0] !== 0xff || d[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 9 < d.length) {
    if (d[i] !== 0xff) return undefined;
    const marker = d[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    const len = (d[i + 2] << 8) | d[i + 3];
    // SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const h = (d[i + 5] << 8) | d[i + 6];
      const w = (d[i + 7] << 8) | d[i + 8];
      return h > 0 && w > 0 ? [h, w] : undefined;
    }
    if (marker === 0xda || len < 2) return undefined; // start of scan: no frame header found
    i += 2 + len;
  }
  return undefined;
}
