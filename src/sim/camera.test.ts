import { describe, expect, it } from 'vitest';
import { Camera, intrinsicsFromFov, mountedCamera, rigMount, CAMERA_NAMES } from './camera.js';
import { isPerceptionError } from '../core/errors.js';

const K = intrinsicsFromFov(1280, 720, Math.PI / 2);

describe('camera', () => {
  it('derives intrinsics from the field of view and scales with the image', () => {
    expect(K.fx).toBeCloseTo(640, 9);
    expect(K.fy).toBeCloseTo(640, 9);
    expect(K).toMatchObject({ cx: 640, cy: 360 });
    const half = intrinsicsFromFov(640, 360, Math.PI / 2);
    expect(half.fx).toBeCloseTo(320, 9);
  });

  it('rejects an impossible field of view, naming the field', () => {
    try {
      intrinsicsFromFov(100, 100, Math.PI);
      expect.unreachable();
    } catch (e) {
      expect(isPerceptionError(e, 'INVALID_ARGUMENT')).toBe(true);
      expect((e as Error).message).toContain('hfov');
    }
  });

  it('projects known points of a level forward camera (x forward, y left, z up)', () => {
    const cam = new Camera(1280, 720, K, { x: 0, y: 0, z: 1.5 }, 0, 0);
    expect(cam.project({ x: 10, y: 0, z: 1.5 })).toEqual({ u: 640, v: 360, depth: 10 });
    const right = cam.project({ x: 10, y: -1, z: 1.5 }); // 1 m to the right → +u
    expect(right.u).toBeCloseTo(640 + 64, 9);
    const ground = cam.project({ x: 10, y: 0, z: 0 }); // below → +v
    expect(ground.v).toBeCloseTo(360 + 96, 9);
    expect(cam.project({ x: -5, y: 0, z: 1.5 }).depth).toBe(-5);
  });

  it('turns with yaw (+90° looks left) and pitch (+ looks down)', () => {
    const left = new Camera(1280, 720, K, { x: 0, y: 0, z: 1.5 }, Math.PI / 2, 0);
    const p = left.project({ x: 0, y: 7, z: 1.5 });
    expect(p.u).toBeCloseTo(640, 9);
    expect(p.v).toBeCloseTo(360, 9);
    expect(p.depth).toBeCloseTo(7, 9);
    const down = new Camera(1280, 720, K, { x: 0, y: 0, z: 1.5 }, 0, Math.atan2(1.5, 10));
    const g = down.project({ x: 10, y: 0, z: 0 });
    expect(g.u).toBeCloseTo(640, 9);
    expect(g.v).toBeCloseTo(360, 9);
  });

  it('ray and project are inverse: origin + depth·dir projects back to (u, v, depth)', () => {
    const cam = mountedCamera(320, 180, 1.9, rigMount('right', { pitch: 0.07 }), { x: 12, y: -3, heading: 0.3 });
    for (const [u, v, depth] of [[0.5, 0.5, 3], [160, 90, 40], [319.5, 179.5, 0.7], [33.25, 150, 120]]) {
      const r = cam.ray(u, v);
      const q = cam.project({ x: r.origin.x + depth * r.dir.x, y: r.origin.y + depth * r.dir.y, z: r.origin.z + depth * r.dir.z });
      expect(q.u).toBeCloseTo(u, 6);
      expect(q.v).toBeCloseTo(v, 6);
      expect(q.depth).toBeCloseTo(depth, 6);
    }
  });

  it('mounts the rig on the ego pose', () => {
    for (const name of CAMERA_NAMES) {
      const m = rigMount(name);
      const cam = mountedCamera(640, 360, Math.PI / 2, m, { x: 100, y: 5, heading: Math.PI / 2 });
      expect(cam.position.z).toBe(1.5);
      // the optical axis points along ego heading + mount yaw (level apart from the pitch)
      expect(cam.forward.x).toBeCloseTo(Math.cos(Math.PI / 2 + m.yaw) * Math.cos(m.pitch), 9);
      expect(cam.forward.y).toBeCloseTo(Math.sin(Math.PI / 2 + m.yaw) * Math.cos(m.pitch), 9);
    }
    const front = mountedCamera(640, 360, Math.PI / 2, rigMount('front'), { x: 100, y: 5, heading: Math.PI / 2 });
    expect(front.position.x).toBeCloseTo(100, 9);
    expect(front.position.y).toBeCloseTo(5 + 1.8, 9);
  });
});
