/**
 * Renders one camera view of a scene: boxes (actors, clutter) into a z-buffer, then the
 * ground/sky pass for the remaining pixels, then appearance passes, then ground truth.
 * A renderer owns its scratch buffers and reuses them from frame to frame; the arrays it
 * returns are fresh, because callers keep them.
 */
import type { Camera } from './camera.js';
import { drawBackground, FAR } from './background.js';
import type { Look } from './domains.js';
import { applyFog, drawLamps, rainStreaks, softBlur, toneMap, wetReflections, type Lamp } from './post.js';
import { Defocus, drawSpray, lensWater, wetRoadSheen } from './rain.js';
import { drawInstance, drawShadow, type FaceLight, type RasterTarget } from './raster.js';
import type { RoadTable } from './road.js';
import type { ActorClass } from './shapes.js';
import type { Instance, Scene, World } from './world.js';

export interface GtBox {
  cls: ActorClass;
  /** Stable actor id (same actor, same id in every frame and camera). */
  id: number;
  /** Pixel box of the visible pixels: x0, y0 inclusive; x1, y1 exclusive. */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** 1 − visible pixels / pixels the actor would cover inside the image without occluders. */
  occlusion: number;
  /** The actor extends beyond the image or behind the camera. */
  truncated: boolean;
  /** Visible pixel count. */
  pixels: number;
}

export interface ViewOutput {
  rgb: Uint8Array;
  lane: Uint8Array;
  depth: Float32Array;
  boxes: GtBox[];
  /** Per pixel: stable actor id, or 0. Only when asked for. */
  instances: Int32Array | null;
}

/** Actors with fewer visible pixels, or more occluded, get no box. */
export const MIN_BOX_PIXELS = 20;
export const MAX_OCCLUSION = 0.9;

export class ViewRenderer {
  private readonly tgt: RasterTarget;
  private readonly mat: Uint8Array;
  private readonly tmp: Float32Array;
  private readonly shadow: Uint8Array;
  private defocus: Defocus | null = null;
  private stampCounter = 0;

  constructor(readonly width: number, readonly height: number) {
    const n = width * height;
    this.tgt = { width, height, col: new Float32Array(n * 3), zbuf: new Float32Array(n), ids: new Int32Array(n), stamp: new Int32Array(n) };
    this.mat = new Uint8Array(n);
    this.tmp = new Float32Array(n * 3);
    this.shadow = new Uint8Array(n);
  }

  /**
   * `frameKey` seeds what changes every frame (noise, falling rain); `lensKey` what stays on
   * this camera's lens from frame to frame (rain drops), keyed with the scene time.
   */
  render(cam: Camera, world: World, scene: Scene, look: Look, table: RoadTable, tex: Float32Array, frameKey: number, wantInstances: boolean, lensKey = 0): ViewOutput {
    const { tgt, mat } = this;
    const W = this.width, H = this.height;
    tgt.zbuf.fill(Infinity);
    tgt.ids.fill(0);
    const lane = new Uint8Array(W * H);
    const faceLight = makeFaceLight(look, scene);
    const covered = new Int32Array(scene.actors.length);
    const truncated = new Uint8Array(scene.actors.length);
    scene.actors.forEach((a, i) => {
      const r = drawInstance(cam, tgt, a, faceLight, i + 1, this.nextStamp());
      covered[i] = r.covered;
      truncated[i] = r.truncated ? 1 : 0;
    });
    for (const c of scene.clutter) drawInstance(cam, tgt, c, faceLight, -1, this.nextStamp());
    const shadows = castsShadows(look);
    if (shadows) {
      this.shadow.fill(0);
      // a very low sun would stretch shadows over the whole scene; cap their length at ~6× height
      const sz = Math.max(look.sun.z, 0.15);
      for (const inst of scene.actors) drawShadow(cam, this.shadow, inst, look.sun.x, look.sun.y, sz);
      for (const inst of scene.clutter) drawShadow(cam, this.shadow, inst, look.sun.x, look.sun.y, sz);
    }
    drawBackground(tgt, lane, mat, { cam, road: world.road, table, look, tex, ego: scene.ego, shadow: shadows ? this.shadow : null });

    const lamps = collectLamps(scene, look);
    if (look.rain) wetRoadSheen(tgt.col, tgt.zbuf, mat, cam, look.rain, tex);
    if (lamps.length > 0) drawLamps(cam, tgt.col, tgt.zbuf, lamps, look.wet);
    if (look.wet > 0) wetReflections(tgt.col, mat, W, H, look.wet);
    if (look.rain) drawSpray(tgt.col, tgt.zbuf, cam, world, scene, look.rain, tex);
    applyFog(tgt.col, tgt.zbuf, look);
    if (look.wet > 0) {
      rainStreaks(tgt.col, W, H, frameKey, look.wet);
      softBlur(tgt.col, this.tmp, W, H, 0.5);
    }
    if (look.rain) {
      this.defocus ??= new Defocus(W, H);
      lensWater(tgt.col, W, H, look.rain, this.defocus, tex, lensKey, scene.t);
    }
    const rgb = new Uint8Array(W * H * 3);
    toneMap(tgt.col, rgb, look.exposure, look.noise, frameKey);

    const depth = new Float32Array(W * H);
    for (let p = 0; p < depth.length; p++) depth[p] = tgt.zbuf[p] < FAR ? tgt.zbuf[p] : FAR;
    const boxes = boxesFromIds(tgt.ids, W, H, scene.actors, covered, truncated);
    let instances: Int32Array | null = null;
    if (wantInstances) {
      instances = new Int32Array(W * H);
      for (let p = 0; p < instances.length; p++) {
        const k = tgt.ids[p];
        instances[p] = k > 0 ? scene.actors[k - 1].id : 0;
      }
    }
    return { rgb, lane, depth, boxes, instances };
  }

  private nextStamp(): number {
    this.stampCounter = (this.stampCounter + 1) | 0;
    if (this.stampCounter === 0) {
      this.tgt.stamp.fill(0);
      this.stampCounter = 1;
    }
    return this.stampCounter;
  }
}

/** Shadows are drawn only where direct sun dominates (not at night, in fog or rain). */
function castsShadows(look: Look): boolean {
  const sun = (look.sunColour[0] + look.sunColour[1] + look.sunColour[2]) / 3;
  const amb = (look.ambient[0] + look.ambient[1] + look.ambient[2]) / 3;
  return look.sun.z > 0 && sun > amb;
}

function boxesFromIds(ids: Int32Array, W: number, H: number, actors: Instance[], covered: Int32Array, truncated: Uint8Array): GtBox[] {
  const n = actors.length;
  const x0 = new Int32Array(n).fill(W), y0 = new Int32Array(n).fill(H), x1 = new Int32Array(n), y1 = new Int32Array(n), count = new Int32Array(n);
  for (let y = 0, p = 0; y < H; y++) {
    for (let x = 0; x < W; x++, p++) {
      const k = ids[p] - 1;
      if (k < 0) continue;
      count[k]++;
      if (x < x0[k]) x0[k] = x;
      if (x >= x1[k]) x1[k] = x + 1;
      if (y < y0[k]) y0[k] = y;
      if (y >= y1[k]) y1[k] = y + 1;
    }
  }
  const boxes: GtBox[] = [];
  for (let k = 0; k < n; k++) {
    if (count[k] < MIN_BOX_PIXELS) continue;
    const occlusion = covered[k] > 0 ? Math.max(0, 1 - count[k] / covered[k]) : 0;
    if (occlusion > MAX_OCCLUSION) continue;
    const a = actors[k];
    boxes.push({ cls: a.cls!, id: a.id, x0: x0[k], y0: y0[k], x1: x1[k], y1: y1[k], occlusion, truncated: truncated[k] === 1, pixels: count[k] });
  }
  return boxes;
}

/** Lambert light on a face: hemisphere ambient + sun + (at night) the ego's headlights. */
function makeFaceLight(look: Look, scene: Scene): FaceLight {
  const sun = look.sun;
  const ego = scene.ego;
  const hx = Math.cos(ego.heading), hy = Math.sin(ego.heading);
  const lx = ego.x + 2 * hx, ly = ego.y + 2 * hy;
  return (nx, ny, nz, px, py, _pz, out) => {
    const amb = 0.6 + 0.4 * nz; // sky-facing faces see more sky
    const lam = Math.max(0, nx * sun.x + ny * sun.y + nz * sun.z);
    out[0] = look.ambient[0] * amb + look.sunColour[0] * lam;
    out[1] = look.ambient[1] * amb + look.sunColour[1] * lam;
    out[2] = look.ambient[2] * amb + look.sunColour[2] * lam;
    if (look.lightsOn) {
      const rx = px - lx, ry = py - ly;
      const fwd = rx * hx + ry * hy;
      if (fwd > 0.5) {
        const dist = Math.hypot(rx, ry);
        const lat = (ry * hx - rx * hy) / (0.22 * fwd + 1);
        const facing = Math.max(0, -(nx * rx + ny * ry) / dist);
        const q = fwd / 22;
        const beam = ((2.2 * Math.exp(-lat * lat)) / (1 + q * q)) * facing;
        out[0] += beam; out[1] += beam * 0.95; out[2] += beam * 0.85;
      }
    }
  };
}

const HEAD: [number, number, number] = [1.0, 0.95, 0.8];
const TAIL: [number, number, number] = [0.9, 0.05, 0.02];
const STREET: [number, number, number] = [1.0, 0.75, 0.4];

/** Lamps of the scene in world coordinates: vehicle head/tail lights and street lights. */
function collectLamps(scene: Scene, look: Look): Lamp[] {
  if (!look.lightsOn && !look.streetLights) return [];
  const scale = look.domain === 'night' ? 1 : 0.35;
  const lamps: Lamp[] = [];
  const add = (inst: Instance) => {
    const c = Math.cos(inst.pose.heading), s = Math.sin(inst.pose.heading);
    for (const l of inst.shape.lights) {
      if (l.kind === 'street' && !look.streetLights) continue;
      if (l.kind !== 'street' && !look.lightsOn) continue;
      const p = { x: inst.pose.x + c * l.x - s * l.y, y: inst.pose.y + s * l.x + c * l.y, z: l.z };
      const colour = l.kind === 'head' ? HEAD : l.kind === 'tail' ? TAIL : STREET;
      const dir = l.kind === 'street' ? null : l.kind === 'head' ? { x: c, y: s, z: 0 } : { x: -c, y: -s, z: 0 };
      const k = (l.kind === 'head' ? 1.5 : l.kind === 'tail' ? 0.8 : 1.2) * scale;
      lamps.push({ p, dir, r: colour[0] * k, g: colour[1] * k, b: colour[2] * k, size: l.kind === 'street' ? 0.5 : l.kind === 'head' ? 0.18 : 0.12 });
    }
  };
  scene.actors.forEach(add);
  scene.clutter.forEach(add);
  return lamps;
}
