/** Ground truth drawn over an image, for eyeballing the renderer and for overlay topics. */
import type { ActorClass } from './shapes.js';
import type { GtBox } from './render.js';

export const CLASS_COLOURS: Record<ActorClass, [number, number, number]> = {
  car: [255, 64, 64],
  truck: [255, 160, 0],
  pedestrian: [64, 255, 64],
  cyclist: [64, 200, 255],
};

export interface OverlayInput {
  width: number;
  height: number;
  rgb: Uint8Array;
  lane?: Uint8Array;
  boxes?: GtBox[];
}

/** Returns a new RGB buffer: drivable road tinted green, markings magenta, boxes outlined by class. */
export function drawOverlay(src: OverlayInput): Uint8Array {
  const { width: W, height: H } = src;
  const out = new Uint8Array(src.rgb);
  if (src.lane) {
    for (let p = 0; p < W * H; p++) {
      const l = src.lane[p];
      if (l === 0) continue;
      const o = p * 3;
      if (l === 1) { out[o] = (out[o] + 255) >> 1; out[o + 1] = out[o + 1] >> 1; out[o + 2] = (out[o + 2] + 255) >> 1; }
      else { out[o] = (out[o] * 3) >> 2; out[o + 1] = (out[o + 1] * 3 + 255) >> 2; out[o + 2] = (out[o + 2] * 3) >> 2; }
    }
  }
  for (const b of src.boxes ?? []) {
    const [r, g, bl] = CLASS_COLOURS[b.cls];
    const set = (x: number, y: number) => {
      if (x < 0 || y < 0 || x >= W || y >= H) return;
      const o = (y * W + x) * 3;
      out[o] = r; out[o + 1] = g; out[o + 2] = bl;
    };
    for (let x = b.x0; x < b.x1; x++) { set(x, b.y0); set(x, b.y1 - 1); }
    for (let y = b.y0; y < b.y1; y++) { set(b.x0, y); set(b.x1 - 1, y); }
  }
  return out;
}
