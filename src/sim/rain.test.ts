import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Camera, intrinsicsFromFov } from './camera.js';
import { MAT_OBJECT, MAT_ROAD } from './background.js';
import { makeLook, DOMAINS, type Domain } from './domains.js';
import { softBlur, wetReflections } from './post.js';
import type { RainLook } from './domains.js';
import { Defocus, lensDrops, lensWater, wetRoadSheen } from './rain.js';
import { Simulation } from './simulation.js';
import { makeNoiseTile } from './texture.js';

const SMALL = { width: 320, height: 180 } as const;

function luma(rgb: Uint8Array): Float64Array {
  const out = new Float64Array(rgb.length / 3);
  for (let p = 0; p < out.length; p++) out[p] = 0.299 * rgb[p * 3] + 0.587 * rgb[p * 3 + 1] + 0.114 * rgb[p * 3 + 2];
  return out;
}

function stats(values: ArrayLike<number>): { mean: number; sd: number } {
  let s = 0, s2 = 0;
  for (let i = 0; i < values.length; i++) { s += values[i]; s2 += values[i] * values[i]; }
  const mean = s / values.length;
  return { mean, sd: Math.sqrt(Math.max(0, s2 / values.length - mean * mean)) };
}

const RAIN: RainLook = { sheen: 0.6, spray: 0.6, veil: 0.2, smear: 0.7, drops: 40, skyReflection: [0.4, 0.41, 0.43], sprayColour: [0.42, 0.43, 0.45] };

describe('rain: other domains unchanged', () => {
  // sha256 of the RGB of frame 12 of seed 5 (front + rear, 96x64), rendered before rain's lens,
  // spray and sheen passes were added: the new passes must not touch any other domain
  const BEFORE: Record<Exclude<Domain, 'rain'>, string> = {
    day: '2283acce540db73819c245cc45595aede534688279981f95c1461100cba203b7',
    dusk: '4db6352d85ce176e4620058d4bd255774c0572c14c04b587e355d8b6053c15c7',
    night: '2eb338cd3d23e5809eb8f62dda1ea7f7ebc1455b30a2900381db75662f0a3d68',
    fog: '889fcc7b1ff14e7188ed21c4acc252aa9d9e11cd14e3e7c70e6d5a3b81fb7807',
    newpaint: '68fda08c6dd09406a930c6f823fadbb77caad92b7f102cfc63e359e675865a9d',
    camshift: '18757d0c36e46fef61230ae82885fd0ea47eb4be7a016f6f62d4cacfd53c4887',
  };

  it('renders every other domain byte for byte as before', () => {
    for (const domain of DOMAINS) {
      if (domain === 'rain') continue;
      const f = Simulation.create({ seed: 5, domain, width: 96, height: 64, cameras: ['front', 'rear'] }).frame(12);
      const h = createHash('sha256');
      for (const c of f.cameras) h.update(c.rgb);
      expect(h.digest('hex'), domain).toBe(BEFORE[domain]);
      expect(makeLook(domain, 5).rain, domain).toBeNull();
    }
  });
});

describe('rain: the frames', () => {
  it('is deterministic with lens drops: random access equals the sequence, per camera', () => {
    const a = Simulation.create({ seed: 9, domain: 'rain', ...SMALL, cameras: ['front', 'rear'] });
    for (let i = 0; i < 4; i++) a.next();
    const seq = a.next();
    const direct = Simulation.create({ seed: 9, domain: 'rain', ...SMALL, cameras: ['front', 'rear'] }).frame(4);
    for (let c = 0; c < 2; c++) expect(Buffer.from(seq.cameras[c].rgb).equals(Buffer.from(direct.cameras[c].rgb))).toBe(true);
  });

  it('keeps the ground truth of the same scene by day (lens water moves nothing)', () => {
    for (const seed of [3, 4711]) {
      const day = Simulation.create({ seed, domain: 'day', ...SMALL }).frame(30).cameras[0];
      const rain = Simulation.create({ seed, domain: 'rain', ...SMALL }).frame(30).cameras[0];
      expect(rain.boxes).toEqual(day.boxes);
      expect(Buffer.from(rain.lane).equals(Buffer.from(day.lane))).toBe(true);
      expect(Buffer.from(rain.depth.buffer).equals(Buffer.from(day.depth.buffer))).toBe(true);
    }
  });

  it('has lower contrast and a darker sky than the same scene by day', () => {
    for (const seed of [1, 2, 3, 4711]) {
      const day = Simulation.create({ seed, domain: 'day', ...SMALL }).frame(40).cameras[0];
      const rain = Simulation.create({ seed, domain: 'rain', ...SMALL }).frame(40).cameras[0];
      const ld = luma(day.rgb), lr = luma(rain.rgb);
      expect(stats(lr).sd, `seed ${seed}`).toBeLessThan(stats(ld).sd * 0.8);
      const sky = (l: Float64Array) => stats(Array.from(l).filter((_, p) => day.depth[p] >= 200 && p < l.length / 2)).mean;
      expect(sky(lr), `seed ${seed}`).toBeLessThan(sky(ld) - 20);
    }
  });

  it('throws up spray behind moving vehicles, over their lower parts', () => {
    // seed 12, frame 270: two cars ahead driving away (found by scanning for the largest effect)
    const withSpray = Simulation.create({ seed: 12, domain: 'rain', ...SMALL });
    const without = Simulation.create({ seed: 12, domain: 'rain', ...SMALL });
    without.look.rain!.spray = 0;
    const a = withSpray.frame(270).cameras[0], b = without.frame(270).cameras[0];
    const vehicles = a.boxes.filter((x) => x.cls === 'car' || x.cls === 'truck');
    let changed = 0, nearVehicle = 0;
    for (let p = 0; p < SMALL.width * SMALL.height; p++) {
      const d = Math.abs(a.rgb[p * 3] - b.rgb[p * 3]) + Math.abs(a.rgb[p * 3 + 1] - b.rgb[p * 3 + 1]) + Math.abs(a.rgb[p * 3 + 2] - b.rgb[p * 3 + 2]);
      if (d < 6) continue;
      changed++;
      const x = p % SMALL.width, y = Math.floor(p / SMALL.width);
      if (vehicles.some((v) => x >= v.x0 - (v.x1 - v.x0) / 2 && x < v.x1 + (v.x1 - v.x0) / 2 && y >= v.y0 && y < v.y1 + (v.y1 - v.y0))) nearVehicle++;
    }
    expect(changed).toBeGreaterThan(100);
    expect(nearVehicle / changed).toBeGreaterThan(0.7);
  });
});

describe('rain: lens drops', () => {
  it('persist from frame to frame and are replaced over seconds', () => {
    const same = (a: ReturnType<typeof lensDrops>, b: ReturnType<typeof lensDrops>) =>
      a.filter((d) => b.some((e) => e.u === d.u && e.rx === d.rx)).length / a.length;
    const t0 = lensDrops(77, 10, 640, 360, 40);
    expect(t0.length).toBeGreaterThan(25);
    expect(same(t0, lensDrops(77, 10.1, 640, 360, 40))).toBeGreaterThan(0.85);
    expect(same(t0, lensDrops(77, 40, 640, 360, 40))).toBeLessThan(0.2);
    expect(lensDrops(77, 10, 640, 360, 40)).toEqual(t0);
    expect(same(t0, lensDrops(78, 10, 640, 360, 40))).toBeLessThan(0.2); // another lens, other drops
  });

  it('run only downwards, leaving a trail above them, and scale with the image', () => {
    let running = 0;
    for (let t = 0; t < 60; t += 0.5) {
      const now = lensDrops(5, t, 640, 360, 40), later = lensDrops(5, t + 0.1, 640, 360, 40);
      for (const d of now) {
        const e = later.find((x) => x.u === d.u && x.rx === d.rx);
        if (e) expect(e.v).toBeGreaterThanOrEqual(d.v);
        if (d.trailWidth > 0) { running++; expect(d.trailTop).toBeLessThan(d.v); }
      }
    }
    expect(running).toBeGreaterThan(0);
    const small = lensDrops(5, 3, 640, 360, 40), big = lensDrops(5, 3, 1280, 720, 40);
    expect(big.map((d) => d.rx)).toEqual(small.map((d) => d.rx * 2));
  });
});

describe('rain: passes', () => {
  it('veil lowers contrast towards the frame mean; a flat frame stays flat', () => {
    const W = 64, H = 32;
    const tex = makeNoiseTile(1);
    const flat = new Float32Array(W * H * 3).fill(0.3);
    lensWater(flat, W, H, { ...RAIN, drops: 0 }, new Defocus(W, H), tex, 1, 0);
    for (const v of flat) expect(v).toBeCloseTo(0.3, 5);
    const halves = new Float32Array(W * H * 3);
    for (let p = 0; p < W * H; p++) if (p % W < W / 2) halves.fill(1, p * 3, p * 3 + 3);
    lensWater(halves, W, H, { ...RAIN, drops: 0, smear: 0, veil: 0.25 }, new Defocus(W, H), tex, 1, 0);
    const left = halves[(5 * W + 3) * 3], right = halves[(5 * W + W - 3) * 3];
    expect(left - right).toBeCloseTo(0.75, 4); // contrast × (1 − veil)
  });

  it('the defocused copy is a blur: flat stays flat, the mean is kept', () => {
    const d = new Defocus(640, 360);
    const col = new Float32Array(640 * 360 * 3).fill(0.5);
    d.update(col);
    for (const v of d.buf) expect(v).toBeCloseTo(0.5, 5);
    for (let i = 0; i < col.length; i++) col[i] = (i * 7919) % 101 / 100;
    d.update(col);
    expect(stats(d.buf).mean).toBeCloseTo(stats(col).mean, 2);
    expect(stats(d.buf).sd).toBeLessThan(stats(col).sd / 5);
  });

  it('wet road sheen mirrors more sky at grazing angles (far) than near the car', () => {
    const W = 64, H = 48;
    const cam = new Camera(W, H, intrinsicsFromFov(W, H, Math.PI / 2), { x: 0, y: 0, z: 1.5 }, 0, 0.05);
    const col = new Float32Array(W * H * 3), zbuf = new Float32Array(W * H).fill(200), mat = new Uint8Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const r = cam.ray(x + 0.5, y + 0.5);
        if (r.dir.z >= 0) continue;
        zbuf[y * W + x] = -1.5 / r.dir.z; // optical depth (forward·dir = 1)
        mat[y * W + x] = MAT_ROAD;
      }
    }
    wetRoadSheen(col, zbuf, mat, cam, { ...RAIN, sheen: 1 }, new Float32Array(256 * 256).fill(0.5));
    const at = (y: number) => col[(y * W + W / 2) * 3];
    const horizonRow = mat.indexOf(MAT_ROAD) / W | 0;
    expect(at(horizonRow + 1)).toBeGreaterThan(at(H - 1) * 3);
    expect(at(H - 1)).toBeGreaterThan(0);
    expect(col[0]).toBe(0); // sky untouched
  });

  it('softBlur and wetReflections give exactly what the straightforward versions give', () => {
    const W = 37, H = 23;
    const rnd = (i: number) => ((i * 2654435761) >>> 0) / 4294967296;
    const col = Float32Array.from({ length: W * H * 3 }, (_, i) => rnd(i));
    const mat = Uint8Array.from({ length: W * H }, (_, p) => ((p / W) | 0) < 8 + (p % 5) ? MAT_OBJECT : rnd(p + 99) < 0.9 ? MAT_ROAD : 2);
    // reference: the column-walking mirror and the two-copy blur (the code before 2026-12-06)
    const ref = Float32Array.from(col);
    for (let x = 0; x < W; x++) {
      let base = -1;
      for (let y = 1; y < H; y++) {
        const p = y * W + x;
        if (mat[p] === MAT_OBJECT) { base = -1; continue; }
        if (mat[p] !== MAT_ROAD) continue;
        if (base < 0) { if (mat[p - W] !== MAT_OBJECT) continue; base = y; }
        const k = y - base, src = base - 1 - k;
        if (src < 0 || mat[src * W + x] !== MAT_OBJECT) { base = -1; continue; }
        const f = 0.45 * 0.8 * Math.exp(-k / 25);
        for (let c = 0; c < 3; c++) ref[p * 3 + c] += (ref[(src * W + x) * 3 + c] - ref[p * 3 + c]) * f;
      }
    }
    const tmp = new Float32Array(ref.length);
    for (let pass = 0; pass < 2; pass++) {
      const step = pass === 0 ? 3 : W * 3;
      tmp.set(ref);
      for (let y = 1; y < H - 1; y++) {
        for (let x = 1; x < W - 1; x++) {
          const o = (y * W + x) * 3;
          for (let c = 0; c < 3; c++) ref[o + c] = tmp[o + c] * (1 - 0.5 + 0.5 / 3) + (tmp[o + c - step] + tmp[o + c + step]) * (0.5 / 3);
        }
      }
    }
    wetReflections(col, mat, W, H, 0.8);
    softBlur(col, new Float32Array(col.length), W, H, 0.5);
    expect(Array.from(col)).toEqual(Array.from(ref));
  });
});
