/**
 * Per-pixel pass for everything that is not a box: the ground plane (road, lines, shoulder,
 * sidewalk, grass) by ray–plane intersection, and the sky. Only pixels no box covered are
 * visited. Per-row constants are hoisted; the inner loop allocates nothing.
 */
import type { Camera } from './camera.js';
import type { Look } from './domains.js';
import type { RasterTarget } from './raster.js';
import { roadHalfWidth, type RoadSpec, type RoadTable } from './road.js';
import { sampleBilinear } from './texture.js';
import type { Pose } from './world.js';

/** Depth written for sky and for anything beyond it (m). */
export const FAR = 200;

/** Pixel material, used by the appearance passes (wet road, fog). */
export const MAT_SKY = 0, MAT_ROAD = 1, MAT_GROUND = 2, MAT_OBJECT = 3;

/** Lane label values. */
export const LANE_BG = 0, LANE_MARK = 1, LANE_ROAD = 2;

export interface GroundInput {
  cam: Camera;
  road: RoadSpec;
  table: RoadTable;
  look: Look;
  tex: Float32Array;
  ego: Pose;
  /** 1 where the ground lies in the shadow of an object (sun blocked), or null. */
  shadow: Uint8Array | null;
}

export function drawBackground(tgt: RasterTarget, lane: Uint8Array, mat: Uint8Array, g: GroundInput): void {
  const { cam, road, table, look, tex } = g;
  const W = tgt.width, H = tgt.height;
  const { fx, fy, cx, cy } = cam.intrinsics;
  const P = cam.position, F = cam.forward, R = cam.right, D = cam.down;
  const { col, zbuf } = tgt;
  const half = roadHalfWidth(road);
  const hw = (road.lineWidth * look.lineWidthScale) / 2;
  const markReach = half + hw + 0.01;
  const shoulderEnd = half + road.shoulder;
  const walkEnd = road.verge === 'sidewalk' ? shoulderEnd + road.sidewalkWidth : shoulderEnd;
  const nLines = road.lines.length;
  const lineD = Float64Array.from(road.lines, (l) => l.d);
  const lineKind = Uint8Array.from(road.lines, (l) => (l.pattern === 'solid' ? 0 : l.pattern === 'dashed' ? 1 : 2));
  const lineYellow = Uint8Array.from(road.lines, (l) => (l.colour === 'yellow' ? 1 : 0));
  const dashLen = road.dashLength, period = road.dashPeriod;
  // irradiance of an up-facing surface
  const sunUp = Math.max(0, look.sun.z);
  const irR = look.ambient[0] + look.sunColour[0] * sunUp;
  const irG = look.ambient[1] + look.sunColour[1] * sunUp;
  const irB = look.ambient[2] + look.sunColour[2] * sunUp;
  const shadow = g.shadow;
  const [shR, shG, shB] = look.ambient;
  const wetDark = 1 - 0.45 * look.wet;
  const lights = look.lightsOn;
  const ehx = Math.cos(g.ego.heading), ehy = Math.sin(g.ego.heading);
  const lampX = g.ego.x + ehx * 2, lampY = g.ego.y + ehy * 2;
  const [aR, aG, aB] = look.asphalt, [gR, gG, gB] = look.grass, [wR, wG, wB] = look.white, [yR, yG, yB] = look.yellow;
  const sunLen = Math.hypot(look.sun.x, look.sun.y, look.sun.z);
  const sx = look.sun.x / sunLen, sy = look.sun.y / sunLen, sz = look.sun.z / sunLen;
  const zen = look.skyZenith, hor = look.skyHorizon;
  const hazeR = 0.5 * hor[0] + 0.5 * aR * irR, hazeG = 0.5 * hor[1] + 0.5 * aG * irG, hazeB = 0.5 * hor[2] + 0.5 * aB * irB;
  const tx0 = table.x0, tstep = table.step, tmax = table.size - 2;
  const cyT = table.cy, cosT = table.cosH, arcT = table.arc;

  for (let y = 0; y < H; y++) {
    const b = (y + 0.5 - cy) / fy;
    const rdx = F.x + b * D.x, rdy = F.y + b * D.y, rdz = F.z + b * D.z;
    let p = y * W;
    for (let x = 0; x < W; x++, p++) {
      if (zbuf[p] !== Infinity) { mat[p] = MAT_OBJECT; lane[p] = LANE_BG; continue; }
      const a = (x + 0.5 - cx) / fx;
      const dx = rdx + a * R.x, dy = rdy + a * R.y, dz = rdz + a * R.z;
      const o = p * 3;
      if (dz < 0) {
        const t = -P.z / dz;
        if (t <= FAR) {
          const X = P.x + t * dx, Y = P.y + t * dy;
          let fi = (X - tx0) / tstep;
          if (fi < 0) fi = 0; else if (fi > tmax) fi = tmax;
          const i = fi | 0;
          const cosH = cosT[i];
          const d = (Y - cyT[i]) * cosH;
          const s = arcT[i] + (X - (tx0 + i * tstep)) / cosH;
          const ad = d < 0 ? -d : d;
          // coarse blotches (bilinear, 0.5 m texels) and fine grain (nearest, 4 cm) fading with distance
          const blotch = sampleBilinear(tex, X * 2, Y * 2);
          const grainAmp = t < 30 ? 0.12 : 3.6 / t;
          const grain = tex[((((Y * 25) | 0) & 255) << 8) | ((((X * 25) | 0) + 97) & 255)] * grainAmp;
          let r: number, gg: number, bb: number;
          let label = LANE_BG;
          let m = MAT_GROUND;
          let paint = 0; // 0 none, 1 white, 2 yellow
          if (ad < markReach) {
            for (let l = 0; l < nLines; l++) {
              const dl = d - lineD[l];
              const adl = dl < 0 ? -dl : dl;
              const kind = lineKind[l];
              if (kind === 2) {
                const e = adl - (hw + 0.06);
                if (e < hw * 0.8 && e > -hw * 0.8) { paint = 1 + lineYellow[l]; break; }
              } else if (adl < hw) {
                if (kind === 0 || ((s % period) + period) % period < dashLen) { paint = 1 + lineYellow[l]; break; }
              }
            }
          }
          if (paint !== 0) {
            const wear = 0.8 + 0.2 * blotch + grain;
            if (paint === 1) { r = wR * wear; gg = wG * wear; bb = wB * wear; } else { r = yR * wear; gg = yG * wear; bb = yB * wear; }
            r *= wetDark; gg *= wetDark; bb *= wetDark;
            label = LANE_MARK; m = MAT_ROAD;
          } else if (ad <= half) {
            const k = (1 + 0.25 * blotch + grain) * wetDark;
            r = aR * k; gg = aG * k; bb = aB * k;
            label = LANE_ROAD; m = MAT_ROAD;
          } else if (ad <= shoulderEnd) {
            const k = (1.35 + 0.3 * blotch + grain * 1.5) * wetDark;
            r = aR * k * 1.05; gg = aG * k; bb = aB * k * 0.92;
          } else if (ad <= walkEnd) {
            const joint = (s % 1.5 + 1.5) % 1.5 < 0.04 || ad - shoulderEnd < 0.15 ? 0.6 : 1;
            const k = (0.32 + 0.04 * blotch + grain * 0.3) * joint * (1 - 0.3 * look.wet);
            r = k; gg = k * 0.98; bb = k * 0.95;
          } else {
            const k = 1 + 0.5 * blotch + grain * 2;
            r = gR * k; gg = gG * k; bb = gB * k;
          }
          let lr = irR, lg = irG, lb = irB;
          if (shadow !== null && shadow[p] === 1) { lr = shR; lg = shG; lb = shB; }
          if (lights) {
            const rx = X - lampX, ry = Y - lampY;
            const fwd = rx * ehx + ry * ehy;
            if (fwd > 0.5) {
              const lat = ry * ehx - rx * ehy;
              const w = lat / (0.22 * fwd + 1.0);
              const q = fwd / 22;
              const beam = (1.6 * Math.exp(-w * w)) / (1 + q * q) * (fwd < 4 ? fwd / 4 : 1);
              lr += beam; lg += beam * 0.95; lb += beam * 0.85;
            }
          }
          col[o] = r * lr; col[o + 1] = gg * lg; col[o + 2] = bb * lb;
          zbuf[p] = t;
          lane[p] = label;
          mat[p] = m;
          continue;
        }
        col[o] = hazeR; col[o + 1] = hazeG; col[o + 2] = hazeB;
        zbuf[p] = FAR; lane[p] = LANE_BG; mat[p] = MAT_SKY;
        continue;
      }
      // sky
      const inv = 1 / Math.sqrt(dx * dx + dy * dy + dz * dz);
      const el = dz * inv;
      const h = Math.sqrt(el);
      let r = hor[0] + (zen[0] - hor[0]) * h, gg = hor[1] + (zen[1] - hor[1]) * h, bb = hor[2] + (zen[2] - hor[2]) * h;
      if (look.cloudCover > 0 && el > 0.02) {
        const k = 300 / dz; // cloud layer: texel coordinates on a plane above
        const c = sampleBilinear(tex, (dx * k) / 40 + 31, (dy * k) / 40 + 77) * 0.5 + 0.5 + look.cloudCover - 0.6;
        if (c > 0) {
          const cv = Math.min(1, c * 2.5) * Math.min(1, el * 8);
          const cl = (irR + irG + irB) / 3 * 0.9;
          r += (cl - r) * cv; gg += (cl - gg) * cv; bb += (cl * 1.02 - bb) * cv;
        }
      }
      const cs = (dx * sx + dy * sy + dz * sz) * inv;
      if (cs > 0.995) {
        const glow = cs > 0.99995 ? 6 : ((cs - 0.995) / 0.005) ** 4 * 0.8;
        r += look.sunColour[0] * glow; gg += look.sunColour[1] * glow; bb += look.sunColour[2] * glow;
      }
      col[o] = r; col[o + 1] = gg; col[o + 2] = bb;
      zbuf[p] = FAR; lane[p] = LANE_BG; mat[p] = MAT_SKY;
    }
  }
}

