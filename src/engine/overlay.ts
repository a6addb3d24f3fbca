import { PerceptionError } from '../core/errors.js';
import type { Detection } from './decode.js';
import { nearestIndex } from './decode.js';
import type { CameraImage } from './types.js';

/** A packed rgb8 image (step = width × 3). */
export interface RgbFrame {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export interface OverlayOptions {
  /** Output width; height follows the camera's aspect unless `height` is given. Default: the mask's (model-input) size, else the camera's. */
  readonly width?: number;
  readonly height?: number;
  /** Box line width in output pixels (default 2). */
  readonly lineWidth?: 1 | 2;
  /** Draw a depth colour map in the top-right corner, this fraction of the width (default: off). */
  readonly depthInset?: number;
  /** Depth range for the colour map, metres (default [1, 120], near = warm). */
  readonly depthRange?: readonly [number, number];
}

export interface OverlayInput {
  readonly image: CameraImage;
  /** Segmentation mask (0 background, 1 lane, 2 drivable), any size: sampled nearest. */
  readonly mask?: { readonly width: number; readonly height: number; readonly data: Uint8Array };
  readonly depth?: { readonly width: number; readonly height: number; readonly data: Float32Array };
  /** Boxes in camera pixels. */
  readonly detections?: readonly Detection[];
}

const CLASS_COLOURS: readonly (readonly [number, number, number])[] = [
  [255, 64, 64], [255, 160, 0], [64, 160, 255], [200, 80, 255], [255, 255, 255], [0, 230, 230], [255, 120, 200], [160, 255, 60],
];
const LANE: readonly [number, number, number, number] = [255, 220, 0, 160]; // rgb, blend weight /256
const ROAD: readonly [number, number, number, number] = [0, 200, 90, 80];

/**
 * Renders the overlay that people and rviz look at: the camera image scaled (nearest, straight
 * from the camera bytes: no resampler on the hot path), lane and drivable area tinted, boxes in
 * class colours, optionally a depth inset. One renderer per camera stream: the output buffer
 * and index tables are reused, so the returned frame is only valid until the next `render`.
 */
export class OverlayRenderer {
  private readonly opts: OverlayOptions;
  private out = new Uint8Array(0);
  // Sampling tables cost a few KB and are rebuilt only when a size changes (rare).
  private tables = new Map<string, Int32Array>();
  private readonly depthLut: Uint8Array;

  constructor(options: OverlayOptions = {}) {
    const { width, height, depthInset, depthRange } = options;
    for (const [field, v] of [['width', width], ['height', height]] as const) {
      if (v !== undefined && !(Number.isInteger(v) && v > 0 && v <= 8192)) throw new PerceptionError('INVALID_CONFIG', `overlay ${field} must be an integer in 1..8192, got ${v}`, { field });
    }
    if (depthInset !== undefined && !(depthInset > 0 && depthInset <= 1)) throw new PerceptionError('INVALID_CONFIG', `overlay depthInset must be in (0, 1], got ${depthInset}`, { field: 'depthInset' });
    if (depthRange && !(depthRange[0] > 0 && depthRange[1] > depthRange[0])) throw new PerceptionError('INVALID_CONFIG', `overlay depthRange must be 0 < min < max, got [${depthRange.join(', ')}]`, { field: 'depthRange' });
    this.opts = { ...options };
    this.depthLut = buildLut();
  }

  render(input: OverlayInput): RgbFrame {
    const { image, mask } = input;
    const W = this.opts.width ?? mask?.width ?? image.width;
    const H = this.opts.height ?? (this.opts.width !== undefined ? Math.max(1, Math.round((W * image.height) / image.width)) : (mask?.height ?? image.height));
    if (image.data.length < image.width * image.height * 3) throw new PerceptionError('BAD_IMAGE', `overlay image has ${image.data.length} bytes, needs ${image.width * image.height * 3}`, { field: 'image' });
    if (mask && mask.data.length < mask.width * mask.height) throw new PerceptionError('INVALID_ARGUMENT', 'overlay mask is shorter than width × height', { field: 'mask' });
    if (this.out.length !== W * H * 3) this.out = new Uint8Array(W * H * 3);
    const out = this.out;
    const cx = this.table(image.width, W);
    const cy = this.table(image.height, H);
    const mx = mask ? this.table(mask.width, W) : undefined;
    const my = mask ? this.table(mask.height, H) : undefined;
    const src = image.data;
    for (let Y = 0; Y < H; Y++) {
      const srow = cy[Y] * image.width;
      const mrow = mask && my ? my[Y] * mask.width : 0;
      let o = Y * W * 3;
      for (let X = 0; X < W; X++, o += 3) {
        const s = (srow + cx[X]) * 3;
        let r = src[s];
        let g = src[s + 1];
        let b = src[s + 2];
        const cls = mask && mx ? mask.data[mrow + mx[X]] : 0;
        if (cls !== 0) {
          const t = cls === 1 ? LANE : ROAD;
          const a = t[3];
          r = (r * (256 - a) + t[0] * a) >> 8;
          g = (g * (256 - a) + t[1] * a) >> 8;
          b = (b * (256 - a) + t[2] * a) >> 8;
        }
        out[o] = r;
        out[o + 1] = g;
        out[o + 2] = b;
      }
    }
    for (const d of input.detections ?? []) {
      const c = CLASS_COLOURS[d.classIndex % CLASS_COLOURS.length];
      const fx = W / image.width;
      const fy = H / image.height;
      drawRect(out, W, H, Math.round(d.x0 * fx), Math.round(d.y0 * fy), Math.round(d.x1 * fx) - 1, Math.round(d.y1 * fy) - 1, this.opts.lineWidth ?? 2, c);
    }
    if (input.depth && this.opts.depthInset) this.drawDepthInset(input.depth, W, H);
    return { width: W, height: H, data: out };
  }

  private table(src: number, dst: number): Int32Array {
    const k = `${src}>${dst}`;
    let t = this.tables.get(k);
    if (t === undefined) {
      if (this.tables.size > 16) this.tables.clear(); // sizes changing all the time: don't grow without bound
      t = nearestIndex(src, dst);
      this.tables.set(k, t);
    }
    return t;
  }

  private drawDepthInset(depth: NonNullable<OverlayInput['depth']>, W: number, H: number): void {
    const iw = Math.max(1, Math.round(W * (this.opts.depthInset as number)));
    const ih = Math.max(1, Math.round((iw * depth.height) / depth.width));
    if (ih > H || depth.data.length < depth.width * depth.height) return;
    const [near, far] = this.opts.depthRange ?? [1, 120];
    const inv0 = 1 / far;
    const scale = 255 / (1 / near - inv0);
    const dx = this.table(depth.width, iw);
    const dy = this.table(depth.height, ih);
    const x0 = W - iw;
    for (let Y = 0; Y < ih; Y++) {
      for (let X = 0; X < iw; X++) {
        const z = depth.data[dy[Y] * depth.width + dx[X]];
        // Inverse depth spreads the colours over the near range, where they matter.
        const v = z > 0 ? Math.max(0, Math.min(255, Math.round((1 / z - inv0) * scale))) : 0;
        const o = (Y * W + x0 + X) * 3;
        this.out[o] = this.depthLut[v * 3];
        this.out[o + 1] = this.depthLut[v * 3 + 1];
        this.out[o + 2] = this.depthLut[v * 3 + 2];
      }
    }
  }
}

function drawRect(out: Uint8Array, W: number, H: number, x0: number, y0: number, x1: number, y1: number, lw: number, c: readonly number[]): void {
  const fill = (ax: number, ay: number, bx: number, by: number) => {
    ax = Math.max(0, ax);
    ay = Math.max(0, ay);
    bx = Math.min(W - 1, bx);
    by = Math.min(H - 1, by);
    for (let y = ay; y <= by; y++) {
      for (let x = ax; x <= bx; x++) {
        const o = (y * W + x) * 3;
        out[o] = c[0];
        out[o + 1] = c[1];
        out[o + 2] = c[2];
      }
    }
  };
  if (x1 < x0 || y1 < y0) return;
  fill(x0, y0, x1, y0 + lw - 1);
  fill(x0, y1 - lw + 1, x1, y1);
  fill(x0, y0, x0 + lw - 1, y1);
  fill(x1 - lw + 1, y0, x1, y1);
}

/** 256-entry colour map (dark blue → cyan → yellow → red), far to near. */
function buildLut(): Uint8Array {
  const stops = [[20, 20, 80], [0, 160, 220], [80, 230, 120], [250, 220, 40], [230, 40, 30]];
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(t));
    const f = t - k;
    for (let ch = 0; ch < 3; ch++) lut[i * 3 + ch] = Math.round(stops[k][ch] * (1 - f) + stops[k + 1][ch] * f);
  }
  return lut;
}
