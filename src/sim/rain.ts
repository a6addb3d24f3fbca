/**
 * What rain does to a camera, beyond a wet road: the road's sheen (a Fresnel mirror of the
 * overcast sky over puddles), spray thrown up behind moving vehicles, and water on the lens —
 * a film that scatters light (lower contrast) and smears (patchy defocus), and drops that act
 * as small inverted, defocused lenses, some of them running down and leaving a trail.
 * Measured effect on the bundled model: docs/experiments/2026-12-06-rain.md.
 *
 * Everything here is an appearance pass on the linear colour buffer: ground truth (boxes,
 * lane mask, depth) is untouched. Randomness is keyed, never streamed: lens drops are a pure
 * function of (lens key, time), so consecutive frames share drops and any frame renders alone.
 */
import type { Camera } from './camera.js';
import type { RainLook } from './domains.js';
import { MAT_ROAD } from './background.js';
import { hash32, hashUnit } from './rng.js';
import { sampleBilinear } from './texture.js';
import type { Scene, World } from './world.js';


/**
 * Wet asphalt as a weak mirror: each road pixel mixes in the sky by Schlick's Fresnel term
 * (water F0 0.02), scaled by `sheen` and a world-anchored puddle pattern. Reduces the contrast
 * of lane paint most where the road is seen at grazing angles (far away).
 */
export function wetRoadSheen(col: Float32Array, zbuf: Float32Array, mat: Uint8Array, cam: Camera, rain: RainLook, tex: Float32Array): void {
  const W = cam.width, H = cam.height;
  const { fx, fy, cx, cy } = cam.intrinsics;
  const P = cam.position, F = cam.forward, R = cam.right, D = cam.down;
  const [sr, sg, sb] = rain.skyReflection;
  const ROAD = MAT_ROAD, sheen = rain.sheen, pz = P.z, px = P.x, py = P.y;
  for (let y = 0; y < H; y++) {
    const b = (y + 0.5 - cy) / fy;
    const rdx = F.x + b * D.x, rdy = F.y + b * D.y, rdz = F.z + b * D.z;
    for (let x = 0, p = y * W; x < W; x++, p++) {
      if (mat[p] !== ROAD) continue;
      const a = (x + 0.5 - cx) / fx;
      const dx = rdx + a * R.x, dy = rdy + a * R.y, dz = rdz + a * R.z;
      const t = zbuf[p]; // optical depth = ray parameter (forward·dir = 1)
      const cosI = pz / (t * Math.sqrt(dx * dx + dy * dy + dz * dz));
      const m = 1 - cosI;
      const m2 = m * m;
      const fres = 0.02 + 0.98 * m2 * m2 * m;
      // puddles: 4 m blotches anchored on the ground, 25 %..100 % of the sheen
      let puddle = 0.6 + 0.8 * sampleBilinear(tex, (px + t * dx) * 0.25 + 53, (py + t * dy) * 0.25 + 11);
      puddle = puddle < 0.25 ? 0.25 : puddle > 1 ? 1 : puddle;
      const f = sheen * fres * puddle;
      const o = p * 3;
      col[o] += (sr - col[o]) * f; col[o + 1] += (sg - col[o + 1]) * f; col[o + 2] += (sb - col[o + 2]) * f;
    }
  }
}

/** Spray puffs per vehicle: distance behind its rear (m), height of centre, half-width gain, half-height, opacity share. */
const PUFFS: readonly (readonly [number, number, number, number, number])[] = [
  [0.4, 0.45, 0.55, 0.55, 1.0],
  [1.6, 0.65, 0.65, 0.75, 0.8],
  [3.4, 0.85, 0.8, 0.95, 0.55],
  [6.0, 1.05, 0.95, 1.15, 0.3],
];

/**
 * Spray behind each moving car and truck: soft, turbulent puffs trailing its rear wheels,
 * depth-tested against the z-buffer (spray hides what is behind it, not what is in front).
 * Speed comes from the same world 0.1 s earlier, so parked vehicles throw none.
 */
export function drawSpray(col: Float32Array, zbuf: Float32Array, cam: Camera, world: World, scene: Scene, rain: RainLook, tex: Float32Array): void {
  if (rain.spray <= 0) return;
  const W = cam.width, H = cam.height;
  const dt = 0.1;
  const before = new Map<number, { x: number; y: number }>();
  for (const a of world.sceneAt(scene.t - dt).actors) if (a.cls === 'car' || a.cls === 'truck') before.set(a.id, a.pose);
  const { fx, fy } = cam.intrinsics;
  const [cr, cg, cb] = rain.sprayColour;
  const swirl = scene.t * 3.1;
  for (const a of scene.actors) {
    if ((a.cls !== 'car' && a.cls !== 'truck') || a.dims === null) continue;
    const prev = before.get(a.id);
    if (!prev) continue;
    const speed = Math.hypot(a.pose.x - prev.x, a.pose.y - prev.y) / dt;
    if (speed < 2) continue;
    const dens = rain.spray * Math.min(1, speed / 20);
    // the rear is opposite the direction of travel
    const mx = (a.pose.x - prev.x) / (speed * dt), my = (a.pose.y - prev.y) / (speed * dt);
    const half = a.dims.length / 2;
    for (const [back, z, wGain, hh, share] of PUFFS) {
      const d = half + back;
      const q = cam.project({ x: a.pose.x - mx * d, y: a.pose.y - my * d, z });
      if (q.depth < 1) continue;
      const rx = (a.dims.width * wGain * fx) / q.depth, ry = (hh * fy) / q.depth;
      if (rx < 0.75 || q.u + rx < 0 || q.u - rx > W || q.v + ry < 0 || q.v - ry > H) continue;
      const x0 = Math.max(0, Math.floor(q.u - rx)), x1 = Math.min(W, Math.ceil(q.u + rx));
      const y0 = Math.max(0, Math.floor(q.v - ry)), y1 = Math.min(H, Math.ceil(q.v + ry));
      const alpha = dens * share, zs = q.depth - 0.4, irx = 1 / rx, iry = 1 / ry;
      const seed = (a.id & 255) * 7.3;
      for (let y = y0; y < y1; y++) {
        const ny = (y + 0.5 - q.v) * iry;
        for (let x = x0; x < x1; x++) {
          const p = y * W + x;
          if (zbuf[p] < zs) continue;
          const nx = (x + 0.5 - q.u) * irx;
          const e = 1 - (nx * nx + ny * ny);
          if (e <= 0) continue;
          // turbulence: noise in the puff's own coordinates, drifting over time
          const n = sampleBilinear(tex, nx * 3 + seed + swirl, ny * 3 + seed * 0.5 - swirl * 0.6);
          let k = alpha * e * e * (0.55 + 0.6 * n);
          if (k <= 0) continue;
          if (k > 0.9) k = 0.9;
          const o = p * 3;
          col[o] += (cr - col[o]) * k; col[o + 1] += (cg - col[o + 1]) * k; col[o + 2] += (cb - col[o + 2]) * k;
        }
      }
    }
  }
}

/** A low-resolution, blurred copy of the frame: what a drop or a smeared patch of film sees. */
export class Defocus {
  readonly w: number;
  readonly h: number;
  readonly f: number;
  readonly buf: Float32Array;
  private readonly tmp: Float32Array;

  constructor(readonly W: number, readonly H: number) {
    this.f = Math.max(1, Math.round(W / 160));
    this.w = Math.max(1, Math.floor(W / this.f));
    this.h = Math.max(1, Math.floor(H / this.f));
    this.buf = new Float32Array(this.w * this.h * 3);
    this.tmp = new Float32Array(this.w * this.h * 3);
  }

  /** Box-average `col` by f×f, then blur the small image twice with a 5-tap box (clamped edges). */
  update(col: Float32Array): void {
    const { w, h, f, W, buf, tmp } = this;
    const inv = 1 / (f * f);
    for (let j = 0; j < h; j++) {
      for (let i = 0; i < w; i++) {
        let r = 0, g = 0, b = 0;
        for (let y = j * f; y < j * f + f; y++) {
          for (let x = i * f, o = (y * W + x) * 3; x < i * f + f; x++, o += 3) { r += col[o]; g += col[o + 1]; b += col[o + 2]; }
        }
        const d = (j * w + i) * 3;
        buf[d] = r * inv; buf[d + 1] = g * inv; buf[d + 2] = b * inv;
      }
    }
    // running-sum 5-tap box, clamped at the edges: twice along rows, twice along columns
    for (let pass = 0; pass < 4; pass++) {
      const horiz = pass % 2 === 0;
      const n = horiz ? w : h, lines = horiz ? h : w;
      const step = horiz ? 3 : w * 3, lineStep = horiz ? w * 3 : 3;
      tmp.set(buf);
      for (let l = 0; l < lines; l++) {
        const base = l * lineStep, last = base + (n - 1) * step;
        for (let c = 0; c < 3; c++) {
          const first = tmp[base + c], end = tmp[last + c];
          // window [i-2, i+2] at i = 0: first ×3 (clamped), then items 1, 2
          let sum = first * 3 + (n > 1 ? tmp[base + step + c] : first) + (n > 2 ? tmp[base + 2 * step + c] : end);
          for (let i = 0; i < n; i++) {
            buf[base + i * step + c] = sum * 0.2;
            const add = i + 3 < n ? tmp[base + (i + 3) * step + c] : end;
            const drop = i - 2 >= 0 ? tmp[base + (i - 2) * step + c] : first;
            sum += add - drop;
          }
        }
      }
    }
  }

  /** Bilinear sample at full-resolution pixel coordinates (clamped at the borders) into out[0..2]. */
  sample(u: number, v: number, out: Float32Array): void {
    const { w, h, f, buf } = this;
    let x = u / f - 0.5, y = v / f - 0.5;
    if (x < 0) x = 0; else if (x > w - 1) x = w - 1;
    if (y < 0) y = 0; else if (y > h - 1) y = h - 1;
    const x0 = Math.min(w - 2, x | 0), y0 = Math.min(h - 2, y | 0);
    if (x0 < 0 || y0 < 0) { out[0] = buf[0]; out[1] = buf[1]; out[2] = buf[2]; return; }
    const tx = x - x0, ty = y - y0;
    const a = (y0 * w + x0) * 3, b = a + 3, c = a + w * 3, d = c + 3;
    for (let k = 0; k < 3; k++) {
      const top = buf[a + k] + (buf[b + k] - buf[a + k]) * tx;
      const bot = buf[c + k] + (buf[d + k] - buf[c + k]) * tx;
      out[k] = top + (bot - top) * ty;
    }
  }
}

export interface LensDrop {
  /** Centre and radii in pixels. */
  u: number;
  v: number;
  rx: number;
  ry: number;
  /** Magnification of the inverted view (the drop sees a patch `mag` times its size). */
  mag: number;
  /** 0..1 (fades in as the drop forms). */
  opacity: number;
  /** A running drop's trail: from (u, trailTop) down to the drop, `trailWidth` px wide; 0 = none. */
  trailTop: number;
  trailWidth: number;
}

/**
 * The drops on one lens at time t (s). Slot j holds a sequence of drops, each living
 * 1.5–8 s at a hashed place; a quarter of them run down after a while, leaving a trail.
 * Pure function of (lensKey, t, size): the same drops are seen by consecutive frames.
 */
export function lensDrops(lensKey: number, t: number, W: number, H: number, count: number): LensDrop[] {
  const n = Math.round(count);
  const scale = W / 640;
  const drops: LensDrop[] = [];
  for (let j = 0; j < n; j++) {
    const life = 1.5 + 6.5 * hashUnit(lensKey, j, 1);
    const cyc = t / life + hashUnit(lensKey, j, 2);
    const gen = Math.floor(cyc);
    const age = (cyc - gen) * life;
    const h = hash32(lensKey, j, gen, 3);
    const r = (4 + 20 * Math.pow(hashUnit(h, 1), 2)) * scale;
    const u = hashUnit(h, 2) * W;
    let v = hashUnit(h, 3) * H;
    const aspect = 0.8 + 0.4 * hashUnit(h, 4);
    let trailTop = 0, trailWidth = 0;
    if (r > 7 * scale && hashUnit(h, 5) < 0.35) {
      // big drops run: after a pause they slide down at 0.05–0.3 image heights per second
      const start = life * (0.2 + 0.4 * hashUnit(h, 6));
      if (age > start) {
        trailTop = v;
        v += (age - start) * H * (0.05 + 0.25 * hashUnit(h, 7));
        trailWidth = r * (0.5 + 0.3 * hashUnit(h, 8));
      }
    }
    if (v - r > H) continue;
    drops.push({
      u, v, rx: r * aspect, ry: r / aspect,
      mag: 2 + 2.5 * hashUnit(h, 9),
      opacity: Math.min(1, age / 0.4),
      trailTop, trailWidth,
    });
  }
  return drops;
}

/**
 * Water on the lens: the film's veiling glare (contrast loss towards the frame's mean) and
 * patchy smear (blend towards the defocused frame under a slowly drifting mask), then drops.
 */
export function lensWater(col: Float32Array, W: number, H: number, rain: RainLook, defocus: Defocus, tex: Float32Array, lensKey: number, t: number): void {
  defocus.update(col);
  const { w, h, f, buf: small } = defocus;
  let mr = 0, mg = 0, mb = 0;
  for (let i = 0; i < small.length; i += 3) { mr += small[i]; mg += small[i + 1]; mb += small[i + 2]; }
  const ns = small.length / 3;
  const v = rain.veil, keep = 1 - v;
  const vr = (mr / ns) * v, vg = (mg / ns) * v, vb = (mb / ns) * v;
  // smear mask on the small grid: 0..smear, about a third of the image clearly smeared,
  // drifting slowly down the lens
  const mask = new Float32Array(w * h);
  const lu = (lensKey & 255) + 0.5, lv = ((lensKey >>> 8) & 255) - t * 0.05;
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      let m = sampleBilinear(tex, (i / w) * 6 + lu, (j / h) * 4 + lv) * 1.6 + 0.1;
      m = m < 0 ? 0 : m > 1 ? 1 : m;
      mask[j * w + i] = m * rain.smear;
    }
  }
  // per output row: the small image and mask interpolated vertically, then horizontally per pixel
  const row = new Float32Array(w * 4);
  // horizontal interpolation is the same in every row: column index and weight per x
  const ix = new Int32Array(W), wx = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    let fx = (x + 0.5) / f - 0.5;
    if (fx < 0) fx = 0; else if (fx > w - 1) fx = w - 1;
    let i0 = fx | 0;
    if (i0 > w - 2) i0 = w > 1 ? w - 2 : 0;
    ix[x] = i0 * 4; wx[x] = fx - i0;
  }
  const nextCol = w > 1 ? 4 : 0;
  for (let y = 0; y < H; y++) {
    let fy = (y + 0.5) / f - 0.5;
    if (fy < 0) fy = 0; else if (fy > h - 1) fy = h - 1;
    let j0 = fy | 0;
    if (j0 > h - 2) j0 = h > 1 ? h - 2 : 0;
    const j1 = h > 1 ? j0 + 1 : j0, ty = fy - j0;
    for (let i = 0; i < w; i++) {
      const a = (j0 * w + i) * 3, b = (j1 * w + i) * 3;
      row[i * 4] = small[a] + (small[b] - small[a]) * ty;
      row[i * 4 + 1] = small[a + 1] + (small[b + 1] - small[a + 1]) * ty;
      row[i * 4 + 2] = small[a + 2] + (small[b + 2] - small[a + 2]) * ty;
      row[i * 4 + 3] = mask[j0 * w + i] + (mask[j1 * w + i] - mask[j0 * w + i]) * ty;
    }
    for (let x = 0, o = y * W * 3; x < W; x++, o += 3) {
      const tx = wx[x], a = ix[x], b = a + nextCol;
      const k = row[a + 3] + (row[b + 3] - row[a + 3]) * tx;
      let r = col[o], g = col[o + 1], bl = col[o + 2];
      if (k > 0.01) {
        r += (row[a] + (row[b] - row[a]) * tx - r) * k;
        g += (row[a + 1] + (row[b + 1] - row[a + 1]) * tx - g) * k;
        bl += (row[a + 2] + (row[b + 2] - row[a + 2]) * tx - bl) * k;
      }
      col[o] = r * keep + vr; col[o + 1] = g * keep + vg; col[o + 2] = bl * keep + vb;
    }
  }
  const s = new Float32Array(3);
  for (const d of lensDrops(lensKey, t, W, H, rain.drops)) drawDrop(col, W, H, d, defocus, s);
}

function drawDrop(col: Float32Array, W: number, H: number, d: LensDrop, defocus: Defocus, s: Float32Array): void {
  // trail first (the drop sits on its lower end): a thin film that mirrors left-right
  if (d.trailWidth > 0) {
    const x0 = Math.max(0, Math.floor(d.u - d.trailWidth)), x1 = Math.min(W, Math.ceil(d.u + d.trailWidth));
    const y0 = Math.max(0, Math.floor(d.trailTop)), y1 = Math.min(H, Math.ceil(d.v));
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const n = (x + 0.5 - d.u) / d.trailWidth;
        const e = 1 - n * n;
        if (e <= 0) continue;
        defocus.sample(d.u - n * d.trailWidth * 2.5, y + 0.5, s);
        const k = 0.75 * e * d.opacity;
        const o = (y * W + x) * 3;
        col[o] += (s[0] * 0.9 - col[o]) * k; col[o + 1] += (s[1] * 0.9 - col[o + 1]) * k; col[o + 2] += (s[2] * 0.9 - col[o + 2]) * k;
      }
    }
  }
  const x0 = Math.max(0, Math.floor(d.u - d.rx)), x1 = Math.min(W, Math.ceil(d.u + d.rx));
  const y0 = Math.max(0, Math.floor(d.v - d.ry)), y1 = Math.min(H, Math.ceil(d.v + d.ry));
  for (let y = y0; y < y1; y++) {
    const ny = (y + 0.5 - d.v) / d.ry;
    for (let x = x0; x < x1; x++) {
      const nx = (x + 0.5 - d.u) / d.rx;
      const r2 = nx * nx + ny * ny;
      if (r2 >= 1) continue;
      // a ball lens: inverted, magnified more towards the rim
      const g = d.mag * (1 + 0.6 * r2);
      defocus.sample(d.u - nx * d.rx * g, d.v - ny * d.ry * g, s);
      const r4 = r2 * r2;
      const rim = 1 - 0.5 * r4 * r4; // total internal reflection darkens the edge
      // a soft specular highlight up and to the left
      const hx = nx + 0.35, hy = ny + 0.45;
      const spec = 0.2 * Math.max(0, 1 - (hx * hx + hy * hy) * 6);
      // the drop sits far inside the focus distance: its outline is defocused too
      const edge = r2 > 0.45 ? (1 - r2) / 0.55 : 1;
      const k = d.opacity * edge * (2 - edge);
      const o = (y * W + x) * 3;
      col[o] += (s[0] * rim + spec - col[o]) * k;
      col[o + 1] += (s[1] * rim + spec - col[o + 1]) * k;
      col[o + 2] += (s[2] * rim + spec - col[o + 2]) * k;
    }
  }
}
