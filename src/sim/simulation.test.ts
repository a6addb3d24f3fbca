import { describe, expect, it } from 'vitest';
import { isPerceptionError } from '../core/errors.js';
import { Simulation, type SimOptions, type CameraFrame } from './simulation.js';
import { MAX_OCCLUSION, MIN_BOX_PIXELS } from './render.js';
import type { Camera } from './camera.js';

const SMALL = { width: 320, height: 180 } as const;

function groundDepth(cam: Camera, x: number, y: number): number {
  const r = cam.ray(x + 0.5, y + 0.5);
  return r.dir.z < 0 ? -r.origin.z / r.dir.z : Infinity;
}

function expectError(opts: unknown, field: string): void {
  try {
    Simulation.create(opts as SimOptions);
    expect.unreachable(`accepted bad ${field}`);
  } catch (e) {
    expect(isPerceptionError(e, 'INVALID_ARGUMENT')).toBe(true);
    expect((e as { context: { field?: string } }).context.field).toBe(field);
    expect((e as Error).message).toContain(field);
  }
}

describe('Simulation options (BAD CALLS)', () => {
  it('rejects bad options, naming the field', () => {
    const ok = { seed: 1, domain: 'day' };
    expectError({ ...ok, width: 8 }, 'width');
    expectError({ ...ok, height: 9000 }, 'height');
    expectError({ ...ok, width: 100.5 }, 'width');
    expectError({ ...ok, rateHz: 0 }, 'rateHz');
    expectError({ ...ok, rateHz: Number.NaN }, 'rateHz');
    expectError({ ...ok, domain: 'snow' }, 'domain');
    expectError({ ...ok, cameras: ['top'] }, 'cameras');
    expectError({ ...ok, cameras: [] }, 'cameras');
    expectError({ ...ok, cameras: ['front', 'front'] }, 'cameras');
    expectError({ ...ok, seed: 1.5 }, 'seed');
  });

  it('does not mutate the caller options', () => {
    const opts: SimOptions = { seed: 3, domain: 'day', ...SMALL, cameras: ['front'] };
    const copy = structuredClone(opts);
    Simulation.create(opts).next();
    expect(opts).toEqual(copy);
  });
});

describe('Simulation frames', () => {
  it('is deterministic: same options → same bytes; random access equals the sequence', () => {
    const a = Simulation.create({ seed: 42, domain: 'rain', ...SMALL });
    const b = Simulation.create({ seed: 42, domain: 'rain', ...SMALL });
    a.next();
    const fa = a.next().cameras[0];
    const fb = b.frame(1).cameras[0];
    expect(Buffer.from(fa.rgb).equals(Buffer.from(fb.rgb))).toBe(true);
    expect(Buffer.from(fa.lane).equals(Buffer.from(fb.lane))).toBe(true);
    expect(Buffer.from(fa.depth.buffer).equals(Buffer.from(fb.depth.buffer))).toBe(true);
    expect(fa.boxes).toEqual(fb.boxes);
    const c = Simulation.create({ seed: 43, domain: 'rain', ...SMALL }).frame(1).cameras[0];
    expect(Buffer.from(fa.rgb).equals(Buffer.from(c.rgb))).toBe(false);
  });

  it('stamps frames by the rate', () => {
    const sim = Simulation.create({ seed: 1, domain: 'day', width: 16, height: 16, rateHz: 20 });
    expect(sim.next().stampNs).toBe(0n);
    expect(sim.next().stampNs).toBe(50_000_000n);
    expect(sim.frame(40).stampNs).toBe(2_000_000_000n);
  });

  it('renders every rig camera with its own intrinsics and ground truth', () => {
    const f = Simulation.create({ seed: 5, domain: 'day', width: 64, height: 48, cameras: ['front', 'left', 'right', 'rear'] }).next();
    expect(f.cameras.map((c) => c.camera)).toEqual(['front', 'left', 'right', 'rear']);
    for (const c of f.cameras) {
      expect(c.rgb.length).toBe(64 * 48 * 3);
      expect(c.lane.length).toBe(64 * 48);
      expect(c.depth.length).toBe(64 * 48);
      expect(c.intrinsics.cx).toBe(32);
    }
  });
});

describe('ground truth', () => {
  const frames: { cam: Camera; f: CameraFrame }[] = [];
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const sim = Simulation.create({ seed, domain: 'day', ...SMALL, instances: true, cameras: seed % 2 ? ['front'] : ['front', 'rear'] });
    const frame = sim.frame(seed * 7);
    for (const f of frame.cameras) frames.push({ cam: sim.camera(f.camera, seed * 7), f });
  }

  it('has actors, road and markings to check', () => {
    expect(frames.reduce((n, x) => n + x.f.boxes.length, 0)).toBeGreaterThan(5);
    expect(frames.every((x) => x.f.lane.includes(1) && x.f.lane.includes(2))).toBe(true);
  });

  it('puts actor pixels nearer than the ground behind them, and lane pixels on the ground plane', () => {
    for (const { cam, f } of frames) {
      let lanePixels = 0, bad = 0;
      for (let y = 0; y < f.height; y++) {
        for (let x = 0; x < f.width; x++) {
          const p = y * f.width + x;
          const g = groundDepth(cam, x, y);
          // per-pixel expect() is slow; count violations instead
          if (f.instances![p] !== 0 && !(f.depth[p] < g)) bad++;
          if (f.lane[p] !== 0) {
            lanePixels++;
            if (f.instances![p] !== 0 || !(Math.abs(f.depth[p] - g) / g < 1e-4)) bad++;
          }
        }
      }
      expect(lanePixels).toBeGreaterThan(0);
      expect(bad).toBe(0);
    }
  });

  it('gives each box exactly the extent of its actor’s visible pixels', () => {
    for (const { f } of frames) {
      const seen = new Map<number, { x0: number; y0: number; x1: number; y1: number; n: number }>();
      for (let p = 0; p < f.instances!.length; p++) {
        const id = f.instances![p];
        if (id === 0) continue;
        const x = p % f.width, y = Math.floor(p / f.width);
        const s = seen.get(id) ?? { x0: x, y0: y, x1: x + 1, y1: y + 1, n: 0 };
        s.x0 = Math.min(s.x0, x); s.y0 = Math.min(s.y0, y); s.x1 = Math.max(s.x1, x + 1); s.y1 = Math.max(s.y1, y + 1); s.n++;
        seen.set(id, s);
      }
      for (const b of f.boxes) {
        const s = seen.get(b.id)!;
        expect({ x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1, n: b.pixels }).toEqual(s);
        expect(b.pixels).toBeGreaterThanOrEqual(MIN_BOX_PIXELS);
        expect(b.occlusion).toBeGreaterThanOrEqual(0);
        expect(b.occlusion).toBeLessThanOrEqual(MAX_OCCLUSION);
      }
      for (const [id, s] of seen) if (s.n < MIN_BOX_PIXELS) expect(f.boxes.some((b) => b.id === id)).toBe(false);
    }
  });

  it('moves actors a little between consecutive 30 Hz frames, never jumping', () => {
    let matched = 0;
    for (const seed of [1, 2, 3]) {
      const sim = Simulation.create({ seed, domain: 'day', ...SMALL });
      const a = sim.frame(10).cameras[0], b = sim.frame(11).cameras[0];
      for (const ba of a.boxes) {
        const bb = b.boxes.find((x) => x.id === ba.id);
        if (!bb || ba.pixels < 150 || ba.truncated || bb.truncated || ba.occlusion > 0.2 || bb.occlusion > 0.2) continue;
        matched++;
        const dx = Math.abs((ba.x0 + ba.x1) / 2 - (bb.x0 + bb.x1) / 2), dy = Math.abs((ba.y0 + ba.y1) / 2 - (bb.y0 + bb.y1) / 2);
        expect(dx + dy).toBeLessThan(0.05 * SMALL.width);
        const ha = ba.y1 - ba.y0, hb = bb.y1 - bb.y0;
        expect(hb / ha).toBeGreaterThan(0.8);
        expect(hb / ha).toBeLessThan(1.25);
      }
    }
    expect(matched).toBeGreaterThan(0);
  });
});

describe('domains', () => {
  const render = (domain: SimOptions['domain']) => Simulation.create({ seed: 11, domain, ...SMALL }).frame(20).cameras[0];
  const day = render('day');

  it('change appearance but not ground truth', () => {
    for (const d of ['dusk', 'night', 'fog', 'rain'] as const) {
      const f = render(d);
      expect(Buffer.from(f.lane).equals(Buffer.from(day.lane)), d).toBe(true);
      expect(Buffer.from(f.depth.buffer).equals(Buffer.from(day.depth.buffer)), d).toBe(true);
      expect(f.boxes, d).toEqual(day.boxes);
      let diff = 0;
      for (let i = 0; i < f.rgb.length; i++) diff += Math.abs(f.rgb[i] - day.rgb[i]);
      expect(diff / f.rgb.length, d).toBeGreaterThan(8);
    }
  });

  it('newpaint changes only the marking width; camshift changes the geometry', () => {
    const paint = render('newpaint');
    expect(Buffer.from(paint.depth.buffer).equals(Buffer.from(day.depth.buffer))).toBe(true);
    let changed = 0;
    for (let p = 0; p < paint.lane.length; p++) {
      if (paint.lane[p] !== day.lane[p]) {
        changed++;
        expect(paint.lane[p] === 1 || day.lane[p] === 1).toBe(true);
      }
    }
    expect(changed).toBeGreaterThan(0);
    const shift = Simulation.create({ seed: 11, domain: 'camshift', ...SMALL });
    expect(shift.mount('front').height).toBeGreaterThan(2);
    expect(Buffer.from(shift.frame(20).cameras[0].depth.buffer).equals(Buffer.from(day.depth.buffer))).toBe(false);
  });
});
