/** PNG encoding for previews (Node only; the rest of src/sim has no Node imports). */
import { PNG } from 'pngjs';

export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  const png = new PNG({ width, height, colorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

/** Depth (m) to an 8-bit grey image, near bright, for previews. */
export function depthToRgb(depth: Float32Array, far = 80): Uint8Array {
  const out = new Uint8Array(depth.length * 3);
  for (let i = 0; i < depth.length; i++) {
    const v = Math.max(0, Math.min(255, Math.round(255 * (1 - Math.min(depth[i], far) / far))));
    out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = v;
  }
  return out;
}
