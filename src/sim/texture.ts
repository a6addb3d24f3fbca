/** Tileable smooth value noise (256×256, values about −1..1) for ground and cloud texture. */
import { Rng } from './rng.js';

export const TEX = 256;
const MASK = TEX - 1;

export function makeNoiseTile(seed: number): Float32Array {
  const rng = new Rng(seed);
  let a = new Float32Array(TEX * TEX);
  for (let i = 0; i < a.length; i++) a[i] = rng.next() * 2 - 1;
  let b = new Float32Array(TEX * TEX);
  // a few wrap-around box blurs turn white noise into soft blotches; then add detail back
  for (let pass = 0; pass < 3; pass++) {
    for (let y = 0; y < TEX; y++) {
      for (let x = 0; x < TEX; x++) {
        let s = 0;
        for (let k = -2; k <= 2; k++) s += a[y * TEX + ((x + k) & MASK)] + a[(((y + k) & MASK) * TEX) + x];
        b[y * TEX + x] = s / 10;
      }
    }
    [a, b] = [b, a];
  }
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]));
  for (let i = 0; i < a.length; i++) a[i] /= max;
  return a;
}

/** Bilinear sample at texel coordinates (u, v), wrapping. */
export function sampleBilinear(tex: Float32Array, u: number, v: number): number {
  const fu = Math.floor(u), fv = Math.floor(v);
  const tu = u - fu, tv = v - fv;
  const x0 = fu & MASK, y0 = fv & MASK, x1 = (x0 + 1) & MASK, y1 = (y0 + 1) & MASK;
  const a = tex[y0 * TEX + x0], b = tex[y0 * TEX + x1], c = tex[y1 * TEX + x0], d = tex[y1 * TEX + x1];
  return a + (b - a) * tu + (c - a) * tv + (a - b - c + d) * tu * tv;
}

/** Nearest sample, wrapping. */
export function sampleNearest(tex: Float32Array, u: number, v: number): number {
  return tex[((Math.floor(v) & MASK) << 8) | (Math.floor(u) & MASK)];
}
