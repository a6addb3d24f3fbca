import { describe, expect, it } from 'vitest';
import { compose, TfBuffer, type Quat, type Rigid } from './tf-buffer.js';

const ts = (parent: string, child: string, t: [number, number, number], r: Quat = { x: 0, y: 0, z: 0, w: 1 }) => ({
  header: { frame_id: parent },
  child_frame_id: child,
  transform: { translation: { x: t[0], y: t[1], z: t[2] }, rotation: r },
});
/** About y by `a` (REP 103: x forward, z up; + pitches the x axis down). */
const pitch = (a: number): Quat => ({ x: 0, y: Math.sin(a / 2), z: 0, w: Math.cos(a / 2) });
/** camera_link → its optical frame (z forward, x right, y down): rpy (−π/2, 0, −π/2). */
const OPTICAL: Quat = { x: -0.5, y: 0.5, z: -0.5, w: 0.5 };
const apply = (p: Rigid, v: [number, number, number]) => compose(p, { t: { x: v[0], y: v[1], z: v[2] }, r: { x: 0, y: 0, z: 0, w: 1 } }).t;

function robot(): TfBuffer {
  const tf = new TfBuffer();
  expect(tf.note({ transforms: [ts('base_footprint', 'base_link', [0, 0, 0.1]), ts('base_link', 'camera_link', [1.2, 0, 1.4], pitch(0.1))] })).toBe(2);
  expect(tf.note({ transforms: [ts('camera_link', 'camera_color_optical_frame', [0, 0, 0], OPTICAL)] })).toBe(1);
  return tf;
}

describe('TfBuffer', () => {
  it("a camera's height above the ground frame, through the chain (mount pitch and the optical frame's rotation included)", () => {
    const tf = robot();
    expect(tf.heightAbove('base_footprint', 'camera_color_optical_frame')).toBeCloseTo(1.5, 9);
    const mount = tf.opticalMount('base_footprint', 'camera_color_optical_frame')!;
    expect(mount.heightM).toBeCloseTo(1.5, 9);
    expect(mount.pitchRad).toBeCloseTo(0.1, 9); // the mount's pitch, + down
    expect(tf.opticalMount('base_footprint', 'elsewhere')).toBeUndefined();
    expect(tf.heightAbove('base_link', 'camera_link')).toBeCloseTo(1.4, 9);
    // 1 m along the optical axis (its z): forward and down by the mount's pitch
    const p = apply(tf.lookup('base_footprint', 'camera_color_optical_frame')!, [0, 0, 1]);
    expect([p.x, p.y, p.z].map((v) => +v.toFixed(9))).toEqual([+(1.2 + Math.cos(0.1)).toFixed(9), 0, +(1.5 - Math.sin(0.1)).toFixed(9)]);
    // image right (optical x) is the robot's right (−y)
    const right = apply(tf.lookup('camera_link', 'camera_color_optical_frame')!, [1, 0, 0]);
    expect([right.x, right.y, right.z].map((v) => +v.toFixed(9) + 0)).toEqual([0, -1, 0]);
  });

  it('looks up either way and between siblings; a lookup and its reverse compose to nothing', () => {
    const tf = robot();
    tf.note({ transforms: [ts('base_link', 'rear_camera_link', [-0.8, 0, 0.9])] });
    const there = tf.lookup('camera_color_optical_frame', 'base_footprint')!;
    const back = tf.lookup('base_footprint', 'camera_color_optical_frame')!;
    const id = compose(there, back);
    for (const v of [id.t.x, id.t.y, id.t.z, id.r.x, id.r.y, id.r.z]) expect(v).toBeCloseTo(0, 9);
    expect(Math.abs(id.r.w)).toBeCloseTo(1, 9);
    const rearInFront = tf.lookup('camera_link', 'rear_camera_link')!;
    expect(tf.heightAbove('base_footprint', 'rear_camera_link')).toBeCloseTo(1.0, 9);
    expect(apply(tf.lookup('base_link', 'camera_link')!, [rearInFront.t.x, rearInFront.t.y, rearInFront.t.z]).z).toBeCloseTo(0.9, 9);
  });

  it('the latest transform of a frame wins (a /tf update over /tf_static); frames named with a leading slash are the same frames', () => {
    const tf = robot();
    tf.note({ transforms: [ts('/base_link', '/camera_link', [1.2, 0, 1.9], pitch(0.1))] });
    expect(tf.heightAbove('/base_footprint', 'camera_color_optical_frame')).toBeCloseTo(2.0, 9);
    expect(tf.size).toBe(3);
  });

  it('unconnected frames, unknown frames and loops give no answer; malformed transforms are skipped', () => {
    const tf = robot();
    tf.note({ transforms: [ts('map', 'odom', [1, 2, 0])] });
    expect(tf.lookup('map', 'camera_link')).toBeUndefined();
    expect(tf.heightAbove('base_footprint', 'no_such_frame')).toBeUndefined();
    expect(tf.lookup('camera_link', 'camera_link')).toMatchObject({ t: { x: 0, y: 0, z: 0 } });
    const loop = new TfBuffer();
    loop.note({ transforms: [ts('a', 'b', [0, 0, 1]), ts('b', 'c', [0, 0, 1]), ts('c', 'a', [0, 0, 1])] });
    expect(loop.lookup('a', 'c')).toBeUndefined();
    const bad = new TfBuffer();
    expect(bad.note({ transforms: [ts('', 'x', [0, 0, 1]), ts('a', 'a', [0, 0, 1]), ts('a', 'b', [NaN, 0, 1]), ts('a', 'c', [0, 0, 1], { x: 0, y: 0, z: 0, w: 0 }), { header: { frame_id: 'a' } } as never, ts('a', 'd', [0, 0, 1], { x: 0, y: 0, z: 0, w: 2 })] })).toBe(1);
    expect(bad.heightAbove('a', 'd')).toBeCloseTo(1, 9); // an unnormalised quaternion is normalised
    expect(bad.note(undefined as never)).toBe(0);
  });
});
