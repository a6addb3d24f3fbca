import { describe, expect, it } from 'vitest';
import { groundPlaneDepth, markingHorizon, MountPitch, type GroundPlaneLabel } from './ground-plane.js';

// A 640x360 camera (fx = fy = 320, centred) 1.5 m above a flat road, pitched down by `pitch`;
// the model's view on a 90x160 grid: road (drivable, a lane line) below the horizon in a
// trapezoid, a wall 30 m away elsewhere; the model's depth `scale` times the truth, with noise.
const W = 640, H = 360, fy = 320, cy = 180, GW = 160, GH = 90;
function scene(o: { pitch?: number; scale?: number; height?: number; road?: boolean; rising?: boolean } = {}) {
  const pitch = o.pitch ?? 0.04, scale = o.scale ?? 1.25, h = o.height ?? 1.5;
  const v0 = cy - fy * Math.tan(pitch);
  const truth = new Float32Array(GW * GH), depth = new Float32Array(GW * GH), seg = new Uint8Array(GW * GH);
  let noise = 7;
  const rand = () => ((noise = (noise * 16807) % 2147483647) / 2147483647 - 0.5) * 0.04;
  for (let y = 0; y < GH; y++) {
    const v = ((y + 0.5) * H) / GH;
    for (let x = 0; x < GW; x++) {
      const p = y * GW + x;
      const below = v - v0;
      const half = below * 1.6; // the road's half width in grid columns grows towards the camera
      const onRoad = o.road !== false && below > 6 && Math.abs(x - GW / 2) < half;
      const z = onRoad ? (o.rising ? 2 + 0.5 * y : (fy * h) / (Math.cos(pitch) * below)) : 30;
      truth[p] = z;
      depth[p] = z * scale * (1 + rand());
      seg[p] = onRoad ? (Math.abs(x - GW / 2) < 2 ? 1 : 2) : 0;
    }
  }
  const view = { depth: { width: GW, height: GH, data: depth }, seg: { width: GW, height: GH, data: seg }, cameraSize: { width: W, height: H }, k: [320, fy, 320, cy] as const };
  return { view, truth, seg };
}

describe('groundPlaneDepth', () => {
  it("recovers the pitch, the model's scale error and metric depth on the road", () => {
    const { view, truth, seg } = scene({ pitch: 0.04, scale: 1.25 });
    const r = groundPlaneDepth(view, { cameraHeightM: 1.5 }) as GroundPlaneLabel;
    expect(typeof r).toBe('object');
    expect(r.pitch).toBeCloseTo(0.04, 2);
    expect(r.modelScale).toBeGreaterThan(1.2);
    expect(r.modelScale).toBeLessThan(1.3);
    let road = 0, err = 0, wall = 0, wallErr = 0;
    for (let p = 0; p < truth.length; p++) {
      if (r.depth.data[p] <= 0) continue;
      const e = Math.abs(r.depth.data[p] - truth[p]) / truth[p];
      if (seg[p]) {
        road++;
        err += e;
      } else {
        wall++;
        wallErr += e;
      }
    }
    expect(road).toBe(r.roadPixels);
    expect(err / road).toBeLessThan(0.02); // geometry, not the model's noisy depth
    expect(wall).toBeGreaterThan(0); // filled: the model's depth ÷ its scale error
    expect(wallErr / wall).toBeLessThan(0.04);
  });

  it('follows a camera pitched further down (a knocked mount) and another height', () => {
    const { view, truth } = scene({ pitch: 0.12, scale: 0.8, height: 2.2 });
    const r = groundPlaneDepth(view, { cameraHeightM: 2.2, fill: false }) as GroundPlaneLabel;
    expect(r.pitch).toBeCloseTo(0.12, 2);
    const p = 80 * GW + 80; // on the road near the camera
    expect(r.depth.data[p]).toBeCloseTo(truth[p], 0);
  });

  it('scales with the height it is told: the metric anchor is the mount', () => {
    const { view } = scene();
    const a = groundPlaneDepth(view, { cameraHeightM: 1.5 }) as GroundPlaneLabel;
    const b = groundPlaneDepth(view, { cameraHeightM: 3 }) as GroundPlaneLabel;
    const p = 80 * GW + 80;
    expect(b.depth.data[p] / a.depth.data[p]).toBeCloseTo(2, 5);
  });

  it('leaves the rest unlabelled without fill', () => {
    const { view, seg } = scene();
    const r = groundPlaneDepth(view, { cameraHeightM: 1.5, fill: false }) as GroundPlaneLabel;
    for (let p = 0; p < seg.length; p++) if (!seg[p]) expect(r.depth.data[p]).toBe(0);
  });

  it('refuses a frame without road, a road whose depth does not fall towards the camera, and a horizon off the picture', () => {
    expect(groundPlaneDepth(scene({ road: false }).view, { cameraHeightM: 1.5 })).toBe('too little road');
    expect(groundPlaneDepth(scene({ rising: true }).view, { cameraHeightM: 1.5 })).toBe('no ground plane');
    expect(groundPlaneDepth(scene({ pitch: 0.5 }).view, { cameraHeightM: 1.5 })).toBe('implausible pitch');
  });

  it('ignores depths that are not numbers', () => {
    const { view } = scene();
    view.depth.data.fill(NaN, 0, 4000);
    const r = groundPlaneDepth(view, { cameraHeightM: 1.5 });
    expect(typeof r).toBe('object');
    expect(Array.from((r as GroundPlaneLabel).depth.data).every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
  });

  it("takes the horizon from the lane markings' vanishing point over the model's depth", () => {
    // the model's depth implies a pitch of 0.02; the markings (and the truth) say 0.05
    const { view, truth } = scene({ pitch: 0.02, scale: 1 });
    const v0 = cy - fy * Math.tan(0.05);
    const seg = paintMarkings(view.seg.data.slice(), v0);
    const r = groundPlaneDepth({ ...view, seg: { ...view.seg, data: seg } }, { cameraHeightM: 1.5, fill: false }) as GroundPlaneLabel;
    expect(r.horizon).toBe('markings');
    expect(r.pitch).toBeCloseTo(0.05, 2);
    const plain = groundPlaneDepth(view, { cameraHeightM: 1.5, fill: false }) as GroundPlaneLabel;
    expect(plain.horizon).toBe('depth'); // one marking down the middle: no vanishing point
    expect(plain.pitch).toBeCloseTo(0.02, 2);
    // a known mount pitch overrides both
    const mount = groundPlaneDepth({ ...view, seg: { ...view.seg, data: seg } }, { cameraHeightM: 1.5, pitch: 0.03 }) as GroundPlaneLabel;
    expect([mount.horizon, mount.pitch]).toEqual(['mount', expect.closeTo(0.03, 6)]);
    expect(truth.length).toBe(GW * GH);
  });
});

/** Three markings converging at (320, v0) in camera pixels, 3 cells wide, painted as lane (1) on the grid below the horizon; the middle one dashed. */
function paintMarkings(seg: Uint8Array, v0: number): Uint8Array {
  for (const [k, foot] of [[0, 60], [1, 320], [2, 580]] as const) {
    for (let y = 0; y < GH; y++) {
      const v = ((y + 0.5) * H) / GH;
      if (v < v0 + 8 || (k === 1 && Math.floor(y / 4) % 2 === 0)) continue;
      const u = 320 + ((foot - 320) * (v - v0)) / (H - v0);
      const x = Math.floor((u * GW) / W);
      for (let dx = -1; dx <= 1; dx++) if (x + dx >= 0 && x + dx < GW) seg[y * GW + x + dx] = 1;
    }
  }
  return seg;
}

describe('markingHorizon and MountPitch', () => {
  const k = [320, fy, 320, cy] as const;
  const size = { width: W, height: H };
  const grid = () => new Uint8Array(GW * GH);

  it('finds the common vanishing point of markings, and none from one marking or parallel ones', () => {
    const v0 = cy - fy * Math.tan(0.04);
    expect(markingHorizon({ width: GW, height: GH, data: paintMarkings(grid(), v0) }, size)).toBeCloseTo(v0, -0.5);
    const one = grid();
    for (let y = 40; y < GH; y++) one[y * GW + 80] = 1;
    expect(markingHorizon({ width: GW, height: GH, data: one }, size)).toBeUndefined();
    const parallel = grid();
    for (let y = 40; y < GH; y++) {
      parallel[y * GW + 40] = 1;
      parallel[y * GW + 120] = 1;
    }
    expect(markingHorizon({ width: GW, height: GH, data: parallel }, size)).toBeUndefined();
  });

  it("is the median of a camera's recent frames, once three are in; cameras apart", () => {
    const m = new MountPitch(5, 3);
    const frame = (pitch: number) => ({ seg: { width: GW, height: GH, data: paintMarkings(grid(), cy - fy * Math.tan(pitch)) }, cameraSize: size, k });
    expect(m.observe('front', frame(0.04))).toBeUndefined();
    expect(m.observe('front', frame(0.045))).toBeUndefined();
    expect(m.observe('front', frame(0.2))).toBeCloseTo(0.045, 2); // an outlier frame does not move the median far
    expect(m.observe('left', frame(0.01))).toBeUndefined();
    expect(m.observe('front', { ...frame(0), seg: { width: GW, height: GH, data: grid() } })).toBeCloseTo(0.045, 2); // no markings: unchanged
  });

  it("trusts the plane only once the lanes confirm the camera's height and the markings agree on a horizon", () => {
    // markings 3.5 m apart seen from a camera h above the road, pitched `pitch` (fx = fy = 320)
    const lanes = (pitch: number, h: number) => {
      const v0 = cy - fy * Math.tan(pitch);
      const seg = grid();
      for (const X of [-3.5, 0, 3.5]) {
        const m = (X * Math.cos(pitch)) / h;
        for (let y = 0; y < GH; y++) {
          const v = ((y + 0.5) * H) / GH;
          if (v < v0 + 8) continue;
          const x = Math.floor(((320 + m * (v - v0)) * GW) / W);
          for (let dx = -1; dx <= 1; dx++) if (x + dx >= 0 && x + dx < GW) seg[y * GW + x + dx] = 1;
        }
      }
      return { seg: { width: GW, height: GH, data: seg }, cameraSize: size, k };
    };
    const m = new MountPitch(5, 3);
    m.observe('front', lanes(0.03, 1.5));
    expect(m.distrust('front', 1.5)).toBe('height not confirmed by the lanes');
    m.observe('front', lanes(0.03, 1.5));
    m.observe('front', lanes(0.03, 1.5));
    expect(m.laneHeight('front')).toBeCloseTo(1.5, 0);
    expect(m.distrust('front', 1.5)).toBeUndefined();
    expect(m.distrust('front', 1.6)).toBeUndefined(); // within a lane's spread of widths
    expect(m.distrust('front', 2.2)).toBe('height disagrees with the lanes'); // the camera moved
    const knocked = new MountPitch(5, 3);
    for (const p of [0.0, 0.05, 0.1, 0.02, 0.08]) knocked.observe('front', lanes(p, 1.5));
    expect(knocked.spread('front')).toBeGreaterThan(0.015);
    expect(knocked.distrust('front', 1.5)).toBe('unsteady horizon');
  });
});
