/**
 * Pinhole camera. World frame per REP 103: x forward, y left, z up (metres). The optical
 * frame is REP 103's `_optical`: z forward along the optical axis, x right, y down.
 * Pixel (i, j) covers [i, i+1) × [j, j+1); its centre is (i + 0.5, j + 0.5), and the
 * principal point of a default camera is the image centre (W/2, H/2).
 */
import { PerceptionError } from '../core/errors.js';

export type CameraName = 'front' | 'left' | 'right' | 'rear';
export const CAMERA_NAMES: readonly CameraName[] = ['front', 'left', 'right', 'rear'];

export interface Intrinsics {
  fx: number;
  fy: number;
  cx: number;
  cy: number;
}

export interface Vec3 {
  x: number;
  y: number;
  z: number;
}

/** Where a camera sits on the ego vehicle (ego frame: x forward, y left, z up, origin on the ground). */
export interface Mount {
  /** Longitudinal offset from the ego origin (m, + forward). */
  forward: number;
  /** Lateral offset (m, + left). */
  lateral: number;
  /** Height of the optical centre above the ground (m). */
  height: number;
  /** Yaw relative to the ego heading (rad, + turns left; REP 103). */
  yaw: number;
  /** Pitch (rad, + tilts the optical axis down; a right-handed rotation about +y). */
  pitch: number;
}

export interface Projection {
  u: number;
  v: number;
  /** Optical-frame z: metres along the optical axis. Negative or zero means behind the camera. */
  depth: number;
}

export interface Ray {
  origin: Vec3;
  /** Direction scaled so that its optical-frame z is 1: origin + depth * dir is the point at that depth. */
  dir: Vec3;
}

export class Camera {
  readonly width: number;
  readonly height: number;
  readonly intrinsics: Intrinsics;
  /** Optical centre in the world frame. */
  readonly position: Vec3;
  /** Optical axes expressed in the world frame: forward (optical z), right (optical x), down (optical y). */
  readonly forward: Vec3;
  readonly right: Vec3;
  readonly down: Vec3;

  /** Camera at `position` with world yaw and pitch (see Mount for sign conventions). */
  constructor(width: number, height: number, intrinsics: Intrinsics, position: Vec3, yaw: number, pitch: number) {
    this.width = width;
    this.height = height;
    this.intrinsics = { ...intrinsics };
    this.position = { ...position };
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    // R = Rz(yaw) · Ry(pitch) applied to the body axes (x fwd, y left, z up).
    this.forward = { x: cy * cp, y: sy * cp, z: -sp };
    this.right = { x: sy, y: -cy, z: 0 }; // -(body y)
    this.down = { x: -cy * sp, y: -sy * sp, z: -cp }; // -(body z)
  }

  /** World point → pixel coordinates (continuous) and optical depth. */
  project(p: Vec3): Projection {
    const dx = p.x - this.position.x, dy = p.y - this.position.y, dz = p.z - this.position.z;
    const zc = dx * this.forward.x + dy * this.forward.y + dz * this.forward.z;
    const xc = dx * this.right.x + dy * this.right.y + dz * this.right.z;
    const yc = dx * this.down.x + dy * this.down.y + dz * this.down.z;
    const { fx, fy, cx, cy } = this.intrinsics;
    return { u: (fx * xc) / zc + cx, v: (fy * yc) / zc + cy, depth: zc };
  }

  /** World point → optical frame (x right, y down, z forward). */
  toOptical(p: Vec3): Vec3 {
    const dx = p.x - this.position.x, dy = p.y - this.position.y, dz = p.z - this.position.z;
    return {
      x: dx * this.right.x + dy * this.right.y + dz * this.right.z,
      y: dx * this.down.x + dy * this.down.y + dz * this.down.z,
      z: dx * this.forward.x + dy * this.forward.y + dz * this.forward.z,
    };
  }

  /** Ray through continuous pixel coordinates (u, v); use (i + 0.5, j + 0.5) for a pixel centre. */
  ray(u: number, v: number): Ray {
    const a = (u - this.intrinsics.cx) / this.intrinsics.fx;
    const b = (v - this.intrinsics.cy) / this.intrinsics.fy;
    const f = this.forward, r = this.right, d = this.down;
    return {
      origin: { ...this.position },
      dir: { x: f.x + a * r.x + b * d.x, y: f.y + a * r.y + b * d.y, z: f.z + a * r.z + b * d.z },
    };
  }
}

/** Intrinsics for a horizontal field of view, square pixels, principal point at the centre. */
export function intrinsicsFromFov(width: number, height: number, hfovRad: number): Intrinsics {
  if (!(hfovRad > 0 && hfovRad < Math.PI)) {
    throw new PerceptionError('INVALID_ARGUMENT', `hfov must be in (0, pi) rad, got ${hfovRad}`, { field: 'hfov' });
  }
  const fx = width / 2 / Math.tan(hfovRad / 2);
  return { fx, fy: fx, cx: width / 2, cy: height / 2 };
}

export interface RigOptions {
  /** Horizontal field of view (rad); default 90°. */
  hfov?: number;
  /** Mount height (m); default 1.5. */
  height?: number;
  /** Pitch down (rad); default 0.03 (≈1.7°). */
  pitch?: number;
}

/** The mount of a named camera of the standard rig. */
export function rigMount(name: CameraName, opts: RigOptions = {}): Mount {
  const height = opts.height ?? 1.5;
  const pitch = opts.pitch ?? 0.03;
  switch (name) {
    case 'front':
      return { forward: 1.8, lateral: 0, height, yaw: 0, pitch };
    case 'left':
      return { forward: 0.8, lateral: 0.9, height, yaw: Math.PI / 2, pitch };
    case 'right':
      return { forward: 0.8, lateral: -0.9, height, yaw: -Math.PI / 2, pitch };
    case 'rear':
      return { forward: -2.2, lateral: 0, height, yaw: Math.PI, pitch };
  }
}

/** Places a mounted camera on an ego pose (position on the ground, heading in rad). */
export function mountedCamera(width: number, height: number, hfov: number, mount: Mount, ego: { x: number; y: number; heading: number }): Camera {
  const c = Math.cos(ego.heading), s = Math.sin(ego.heading);
  const position = {
    x: ego.x + c * mount.forward - s * mount.lateral,
    y: ego.y + s * mount.forward + c * mount.lateral,
    z: mount.height,
  };
  return new Camera(width, height, intrinsicsFromFov(width, height, hfov), position, ego.heading + mount.yaw, mount.pitch);
}
