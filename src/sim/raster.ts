/**
 * Z-buffered rasterisation of oriented boxes. Each visible face is clipped against the near
 * plane, projected, and scan-converted by pixel centres; depth is exact per pixel because
 * 1/z is affine in screen space for a planar face. Scratch arrays are module-level and
 * reused so that no per-face or per-pixel objects are allocated.
 */
import type { Camera } from './camera.js';
import type { Instance } from './world.js';

export const NEAR = 0.05;

export interface RasterTarget {
  width: number;
  height: number;
  /** Linear RGB, 3 floats per pixel. */
  col: Float32Array;
  /** Optical depth; +Infinity where nothing was drawn yet. */
  zbuf: Float32Array;
  /** Owner of each pixel: actor index + 1, -1 clutter, 0 nothing. */
  ids: Int32Array;
  /** Last coverage stamp per pixel, for counting an actor's unoccluded pixels once. */
  stamp: Int32Array;
}

/** Light reaching a face with world normal n at world point p, written to out[0..2]. */
export type FaceLight = (nx: number, ny: number, nz: number, px: number, py: number, pz: number, out: Float64Array) => void;

export interface DrawResult {
  /** Pixels the instance would cover if nothing occluded it (inside the image). */
  covered: number;
  /** Part of the instance lies outside the image or behind the camera. */
  truncated: boolean;
}

const FACES = [
  [1, 3, 7, 5], [0, 4, 6, 2], [2, 6, 7, 3], [0, 1, 5, 4], [4, 5, 7, 6], [0, 2, 3, 1],
];
const FACE_N = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]];

const cornerW = new Float64Array(24); // world corners
const cornerO = new Float64Array(24); // optical corners
const polyIn = new Float64Array(30);
const polyOut = new Float64Array(30);
const poly2d = new Float64Array(20);
const light = new Float64Array(3);

export function drawInstance(cam: Camera, tgt: RasterTarget, inst: Instance, lightFn: FaceLight, id: number, stampVal: number): DrawResult {
  const { x: ox, y: oy, heading } = inst.pose;
  const ch = Math.cos(heading), sh = Math.sin(heading);
  const P = cam.position, F = cam.forward, R = cam.right, D = cam.down;
  const { fx, fy, cx, cy } = cam.intrinsics;
  let covered = 0;
  let truncated = false;
  for (const part of inst.shape.parts) {
    // corners
    let anyFront = false;
    for (let i = 0; i < 8; i++) {
      const lx = part.x + (i & 1 ? part.hx : -part.hx);
      const ly = part.y + (i & 2 ? part.hy : -part.hy);
      const wz = part.z + (i & 4 ? part.hz : -part.hz);
      const wx = ox + ch * lx - sh * ly, wy = oy + sh * lx + ch * ly;
      cornerW[i * 3] = wx; cornerW[i * 3 + 1] = wy; cornerW[i * 3 + 2] = wz;
      const dx = wx - P.x, dy = wy - P.y, dz = wz - P.z;
      const zc = dx * F.x + dy * F.y + dz * F.z;
      const xc = dx * R.x + dy * R.y + dz * R.z;
      const yc = dx * D.x + dy * D.y + dz * D.z;
      cornerO[i * 3] = xc; cornerO[i * 3 + 1] = yc; cornerO[i * 3 + 2] = zc;
      if (zc > NEAR) {
        anyFront = true;
        const u = (fx * xc) / zc + cx, v = (fy * yc) / zc + cy;
        if (u < 0 || v < 0 || u > tgt.width || v > tgt.height) truncated = true;
      } else truncated = true;
    }
    if (!anyFront) continue;
    for (let f = 0; f < 6; f++) {
      const ln = FACE_N[f];
      const nwx = ch * ln[0] - sh * ln[1], nwy = sh * ln[0] + ch * ln[1], nwz = ln[2];
      const nox = nwx * R.x + nwy * R.y + nwz * R.z;
      const noy = nwx * D.x + nwy * D.y + nwz * D.z;
      const noz = nwx * F.x + nwy * F.y + nwz * F.z;
      const idx = FACES[f];
      const c0 = idx[0] * 3;
      const k = nox * cornerO[c0] + noy * cornerO[c0 + 1] + noz * cornerO[c0 + 2];
      if (k >= -1e-9) continue; // back-facing or edge-on
      let n = 0;
      for (let j = 0; j < 4; j++) {
        const c = idx[j] * 3;
        polyIn[n * 3] = cornerO[c]; polyIn[n * 3 + 1] = cornerO[c + 1]; polyIn[n * 3 + 2] = cornerO[c + 2];
        n++;
      }
      n = clipNear(n);
      if (n < 3) continue;
      for (let j = 0; j < n; j++) {
        const z = polyOut[j * 3 + 2];
        poly2d[j * 2] = (fx * polyOut[j * 3]) / z + cx;
        poly2d[j * 2 + 1] = (fy * polyOut[j * 3 + 1]) / z + cy;
      }
      // face centre for lighting
      let px = 0, py = 0, pz = 0;
      for (let j = 0; j < 4; j++) { const c = idx[j] * 3; px += cornerW[c]; py += cornerW[c + 1]; pz += cornerW[c + 2]; }
      lightFn(nwx, nwy, nwz, px / 4, py / 4, pz / 4, light);
      covered += fillPolygon(tgt, n, nox / (fx * k), noy / (fy * k), (noz - (nox * cx) / fx - (noy * cy) / fy) / k,
        part.r * light[0], part.g * light[1], part.b * light[2], id, stampVal);
    }
  }
  return { covered, truncated };
}

/** Sutherland–Hodgman against z = NEAR: polyIn (n vertices) → polyOut; returns the count. */
function clipNear(n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const a = i * 3, b = ((i + 1) % n) * 3;
    const za = polyIn[a + 2], zb = polyIn[b + 2];
    const ina = za > NEAR, inb = zb > NEAR;
    if (ina) { polyOut[m * 3] = polyIn[a]; polyOut[m * 3 + 1] = polyIn[a + 1]; polyOut[m * 3 + 2] = za; m++; }
    if (ina !== inb) {
      const t = (NEAR - za) / (zb - za);
      polyOut[m * 3] = polyIn[a] + t * (polyIn[b] - polyIn[a]);
      polyOut[m * 3 + 1] = polyIn[a + 1] + t * (polyIn[b + 1] - polyIn[a + 1]);
      polyOut[m * 3 + 2] = NEAR;
      m++;
    }
  }
  return m;
}

/**
 * Fills a convex screen polygon (poly2d, n vertices), pixel centres inside, with depth
 * 1/z = A·u + B·v + C. Returns the number of pixels newly covered by this stamp.
 */
function fillPolygon(tgt: RasterTarget, n: number, A: number, B: number, C: number, r: number, g: number, b: number, id: number, stampVal: number): number {
  const W = tgt.width, H = tgt.height;
  let vmin = Infinity, vmax = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = poly2d[j * 2 + 1];
    if (v < vmin) vmin = v;
    if (v > vmax) vmax = v;
  }
  const y0 = Math.max(0, Math.ceil(vmin - 0.5)), y1 = Math.min(H, Math.ceil(vmax - 0.5));
  const { col, zbuf, ids, stamp } = tgt;
  let newly = 0;
  for (let y = y0; y < y1; y++) {
    const vc = y + 0.5;
    let xl = Infinity, xr = -Infinity;
    for (let j = 0; j < n; j++) {
      const ua = poly2d[j * 2], va = poly2d[j * 2 + 1];
      const k = j + 1 === n ? 0 : j + 1;
      const ub = poly2d[k * 2], vb = poly2d[k * 2 + 1];
      if ((va <= vc && vb > vc) || (vb <= vc && va > vc)) {
        const u = ua + ((vc - va) * (ub - ua)) / (vb - va);
        if (u < xl) xl = u;
        if (u > xr) xr = u;
      }
    }
    if (!(xr > xl)) continue;
    const x0 = Math.max(0, Math.ceil(xl - 0.5)), x1 = Math.min(W, Math.ceil(xr - 0.5));
    const rowC = B * vc + C;
    let p = y * W + x0;
    for (let x = x0; x < x1; x++, p++) {
      if (stamp[p] !== stampVal) { stamp[p] = stampVal; newly++; }
      const iz = A * (x + 0.5) + rowC;
      if (iz <= 0) continue;
      const z = 1 / iz;
      if (z < zbuf[p]) {
        zbuf[p] = z;
        ids[p] = id;
        col[p * 3] = r; col[p * 3 + 1] = g; col[p * 3 + 2] = b;
      }
    }
  }
  return newly;
}

const hullX = new Float64Array(8), hullY = new Float64Array(8);
const order = [0, 1, 2, 3, 4, 5, 6, 7];
const hull = new Int32Array(17);

/**
 * Marks in `mask` the ground pixels shaded by an instance: each part's 8 corners are
 * projected along the sun onto z = 0, their convex hull is taken and filled (no depth test:
 * shadows fall on the ground pass only). `sun` must point up (z > 0).
 */
export function drawShadow(cam: Camera, mask: Uint8Array, inst: Instance, sunX: number, sunY: number, sunZ: number): void {
  const { x: ox, y: oy, heading } = inst.pose;
  const ch = Math.cos(heading), sh = Math.sin(heading);
  const P = cam.position, F = cam.forward, R = cam.right, D = cam.down;
  const { fx, fy, cx, cy } = cam.intrinsics;
  const kx = sunX / sunZ, ky = sunY / sunZ;
  for (const part of inst.shape.parts) {
    for (let i = 0; i < 8; i++) {
      const lx = part.x + (i & 1 ? part.hx : -part.hx);
      const ly = part.y + (i & 2 ? part.hy : -part.hy);
      const wz = part.z + (i & 4 ? part.hz : -part.hz);
      hullX[i] = ox + ch * lx - sh * ly - wz * kx;
      hullY[i] = oy + sh * lx + ch * ly - wz * ky;
    }
    const n = convexHull();
    for (let j = 0; j < n; j++) {
      const dx = hullX[hull[j]] - P.x, dy = hullY[hull[j]] - P.y, dz = -P.z;
      polyIn[j * 3] = dx * R.x + dy * R.y + dz * R.z;
      polyIn[j * 3 + 1] = dx * D.x + dy * D.y + dz * D.z;
      polyIn[j * 3 + 2] = dx * F.x + dy * F.y + dz * F.z;
    }
    const m = clipNear(n);
    if (m < 3) continue;
    for (let j = 0; j < m; j++) {
      const z = polyOut[j * 3 + 2];
      poly2d[j * 2] = (fx * polyOut[j * 3]) / z + cx;
      poly2d[j * 2 + 1] = (fy * polyOut[j * 3 + 1]) / z + cy;
    }
    fillMask(mask, cam.width, cam.height, m);
  }
}

/** Andrew's monotone chain over hullX/hullY[0..7] → indices in `hull`; returns the count. */
function convexHull(): number {
  order.sort((a, b) => hullX[a] - hullX[b] || hullY[a] - hullY[b]);
  const cross = (o: number, a: number, b: number) => (hullX[a] - hullX[o]) * (hullY[b] - hullY[o]) - (hullY[a] - hullY[o]) * (hullX[b] - hullX[o]);
  let k = 0;
  for (let i = 0; i < 8; i++) {
    while (k >= 2 && cross(hull[k - 2], hull[k - 1], order[i]) <= 0) k--;
    hull[k++] = order[i];
  }
  for (let i = 6, t = k + 1; i >= 0; i--) {
    while (k >= t && cross(hull[k - 2], hull[k - 1], order[i]) <= 0) k--;
    hull[k++] = order[i];
  }
  return Math.min(8, k - 1);
}

function fillMask(mask: Uint8Array, W: number, H: number, n: number): void {
  let vmin = Infinity, vmax = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = poly2d[j * 2 + 1];
    if (v < vmin) vmin = v;
    if (v > vmax) vmax = v;
  }
  const y0 = Math.max(0, Math.ceil(vmin - 0.5)), y1 = Math.min(H, Math.ceil(vmax - 0.5));
  for (let y = y0; y < y1; y++) {
    const vc = y + 0.5;
    let xl = Infinity, xr = -Infinity;
    for (let j = 0; j < n; j++) {
      const ua = poly2d[j * 2], va = poly2d[j * 2 + 1];
      const k = j + 1 === n ? 0 : j + 1;
      const ub = poly2d[k * 2], vb = poly2d[k * 2 + 1];
      if ((va <= vc && vb > vc) || (vb <= vc && va > vc)) {
        const u = ua + ((vc - va) * (ub - ua)) / (vb - va);
        if (u < xl) xl = u;
        if (u > xr) xr = u;
      }
    }
    if (!(xr > xl)) continue;
    const x0 = Math.max(0, Math.ceil(xl - 0.5)), x1 = Math.min(W, Math.ceil(xr - 0.5));
    mask.fill(1, y * W + x0, y * W + Math.max(x0, x1));
  }
}
