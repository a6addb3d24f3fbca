/**
 * Appearance passes applied after geometry: lamps (glows and, on wet roads, their smeared
 * reflections), wet-road mirroring, fog, rain streaks, blur, exposure/tone curve, sensor
 * noise and quantisation. None of them touch the ground-truth buffers.
 */
import type { Camera, Vec3 } from './camera.js';
import type { Look } from './domains.js';
import { MAT_OBJECT, MAT_ROAD } from './background.js';
import { hash32 } from './rng.js';

export interface Lamp {
  p: Vec3;
  /** Unit direction the lamp shines in (world); null = all around. */
  dir: Vec3 | null;
  r: number; g: number; b: number;
  /** Physical radius of the glow (m). */
  size: number;
}

/** Additive glows for visible lamps; on a wet road each also leaves a vertical streak below. */
export function drawLamps(cam: Camera, col: Float32Array, zbuf: Float32Array, lamps: Lamp[], wet: number): void {
  const W = cam.width, H = cam.height;
  for (const lamp of lamps) {
    const q = cam.project(lamp.p);
    if (q.depth <= 0.5 || q.u < -50 || q.v < -50 || q.u > W + 50 || q.v > H + 50) continue;
    let gain = 1;
    if (lamp.dir) {
      const vx = cam.position.x - lamp.p.x, vy = cam.position.y - lamp.p.y, vz = cam.position.z - lamp.p.z;
      const cosA = (vx * lamp.dir.x + vy * lamp.dir.y + vz * lamp.dir.z) / Math.hypot(vx, vy, vz);
      if (cosA <= 0.05) continue; // seen from behind
      gain = cosA;
    }
    const ui = Math.floor(q.u), vi = Math.floor(q.v);
    if (ui >= 0 && vi >= 0 && ui < W && vi < H && zbuf[vi * W + ui] < q.depth - 0.3) continue; // occluded
    const rad = Math.max(1.2, Math.min(60, (lamp.size * cam.intrinsics.fx) / q.depth));
    splat(col, W, H, q.u, q.v, rad, rad, lamp.r * gain, lamp.g * gain, lamp.b * gain);
    if (wet > 0) {
      const m = cam.project({ x: lamp.p.x, y: lamp.p.y, z: -lamp.p.z });
      if (m.depth > 0.5) {
        const len = Math.max(2, m.v - q.v);
        splat(col, W, H, m.u, m.v - len * 0.2, rad * 0.8, len * 0.6, lamp.r * gain * 0.35 * wet, lamp.g * gain * 0.35 * wet, lamp.b * gain * 0.35 * wet);
      }
    }
  }
}

function splat(col: Float32Array, W: number, H: number, u: number, v: number, rx: number, ry: number, r: number, g: number, b: number): void {
  const x0 = Math.max(0, Math.floor(u - rx * 2)), x1 = Math.min(W, Math.ceil(u + rx * 2));
  const y0 = Math.max(0, Math.floor(v - ry * 2)), y1 = Math.min(H, Math.ceil(v + ry * 2));
  const ix = 1 / (rx * rx), iy = 1 / (ry * ry);
  for (let y = y0; y < y1; y++) {
    const ddy = y + 0.5 - v;
    const ey = ddy * ddy * iy;
    for (let x = x0; x < x1; x++) {
      const ddx = x + 0.5 - u;
      const e = ddx * ddx * ix + ey;
      if (e > 4) continue;
      const k = Math.exp(-2 * e) * 3;
      const o = (y * W + x) * 3;
      col[o] += r * k; col[o + 1] += g * k; col[o + 2] += b * k;
    }
  }
}

/**
 * Wet road as an imperfect mirror: in each column, a road pixel k rows below an object's
 * base takes a faded share of the object pixel k rows above it. Walks rows (cache order)
 * with one state per column; only road pixels change and only object pixels are read, so
 * the order gives the same result as walking each column.
 */
export function wetReflections(col: Float32Array, mat: Uint8Array, W: number, H: number, wet: number): void {
  const OBJECT = MAT_OBJECT, ROAD = MAT_ROAD;
  const bases = new Int32Array(W).fill(-1);
  for (let y = 1; y < H; y++) {
    for (let x = 0, p = y * W; x < W; x++, p++) {
      const m = mat[p];
      if (m === OBJECT) { bases[x] = -1; continue; }
      if (m !== ROAD) continue;
      let base = bases[x];
      if (base < 0) {
        if (mat[p - W] !== OBJECT) continue;
        base = bases[x] = y;
      }
      const k = y - base;
      const src = base - 1 - k;
      if (src < 0 || mat[src * W + x] !== OBJECT) { bases[x] = -1; continue; }
      const f = 0.45 * wet * Math.exp(-k / 25);
      const o = p * 3, s = (src * W + x) * 3;
      col[o] += (col[s] - col[o]) * f; col[o + 1] += (col[s + 1] - col[o + 1]) * f; col[o + 2] += (col[s + 2] - col[o + 2]) * f;
    }
  }
}

export function applyFog(col: Float32Array, zbuf: Float32Array, look: Look): void {
  const [fr, fg, fb] = look.fogColour;
  const beta = look.fogDensity;
  for (let p = 0, n = zbuf.length; p < n; p++) {
    const e = Math.exp(-beta * zbuf[p]);
    const o = p * 3;
    col[o] = col[o] * e + fr * (1 - e); col[o + 1] = col[o + 1] * e + fg * (1 - e); col[o + 2] = col[o + 2] * e + fb * (1 - e);
  }
}

/** Slanted, semi-transparent streaks; placement hashed from the frame so it changes each frame. */
export function rainStreaks(col: Float32Array, W: number, H: number, frameKey: number, amount: number): void {
  const count = Math.round((W * H) / 900 * amount);
  const slant = 0.15 + 0.1 * ((hash32(frameKey, 9) & 255) / 255);
  for (let i = 0; i < count; i++) {
    const h = hash32(frameKey, i);
    const x0 = (h % W), y0 = ((h >>> 8) % H);
    const len = Math.max(3, Math.round(H / 40 * (0.5 + ((h >>> 20) & 15) / 15)));
    const a = 0.05 + 0.06 * (((h >>> 24) & 7) / 7);
    for (let k = 0; k < len; k++) {
      const y = y0 + k, x = Math.round(x0 + k * slant);
      if (y >= H || x >= W) break;
      const o = (y * W + x) * 3;
      col[o] += (0.8 - col[o]) * a; col[o + 1] += (0.82 - col[o + 1]) * a; col[o + 2] += (0.85 - col[o + 2]) * a;
    }
  }
}

/**
 * 3-tap blur blended at `amount` (0..1), horizontal then vertical, on the interior pixels.
 * In place: each pass keeps the unblurred previous pixel (row) aside, so it reads only
 * values the pass has not yet written. `tmp` (≥ 3·W floats) holds that row.
 */
export function softBlur(col: Float32Array, tmp: Float32Array, W: number, H: number, amount: number): void {
  const keep = 1 - amount, side = amount / 3, centre = keep + side;
  for (let y = 1; y < H - 1; y++) {
    for (let c = 0; c < 3; c++) {
      let prev = col[(y * W) * 3 + c];
      for (let x = 1, o = (y * W + 1) * 3 + c; x < W - 1; x++, o += 3) {
        const cur = col[o];
        col[o] = cur * centre + (prev + col[o + 3]) * side;
        prev = cur;
      }
    }
  }
  const rowLen = W * 3;
  tmp.set(col.subarray(0, rowLen)); // row 0, unblurred by this pass
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1, o = (y * W + 1) * 3; x < W - 1; x++, o += 3) {
      for (let c = 0; c < 3; c++) {
        const cur = col[o + c];
        col[o + c] = cur * centre + (tmp[x * 3 + c] + col[o + c + rowLen]) * side;
        tmp[x * 3 + c] = cur;
      }
    }
  }
}

const LUT_SIZE = 4096, LUT_MAX = 4;
const LUT = (() => {
  const lut = new Uint8Array(LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) {
    const x = (i / (LUT_SIZE - 1)) * LUT_MAX;
    lut[i] = Math.round(255 * Math.pow(1 - Math.exp(-1.6 * x), 1 / 2.2));
  }
  return lut;
})();

/** Exposure, tone curve and gamma through a lookup table, plus sensor noise, into 8-bit RGB. */
export function toneMap(col: Float32Array, out: Uint8Array, exposure: number, noise: number, frameKey: number): void {
  const k = (exposure * (LUT_SIZE - 1)) / LUT_MAX;
  let s = (frameKey | 1) >>> 0;
  const amp = noise * 2.4494897; // u1 + u2 - 1 has sd 1/√6; scale to sd = noise
  for (let i = 0, n = out.length; i < n; i++) {
    let idx = (col[i] * k) | 0;
    if (idx < 0) idx = 0; else if (idx >= LUT_SIZE) idx = LUT_SIZE - 1;
    let v = LUT[idx];
    if (amp > 0) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
      const u1 = (s >>> 0) / 4294967296;
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
      const u2 = (s >>> 0) / 4294967296;
      v += (u1 + u2 - 1) * amp;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
    }
    out[i] = v;
  }
}
