/**
 * The little of tf2 the perception node and replay need: where a camera is mounted, from
 * `/tf_static` (tf2_msgs/TFMessage; a mount is a fixed joint). A tree of the latest transform per child frame; lookups compose
 * along it. Written here because no maintained tf2 exists for Node (rclnodejs ships none) and the
 * node asks one static question — how high above the ground frame is each camera — for which the
 * latest transform is the answer: no time-stamped history, no interpolation, no extrapolation.
 */

export interface Vec3 {
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

export interface Quat {
  readonly x: number;
  readonly y: number;
  readonly z: number;
  readonly w: number;
}

/** A rigid transform: a point p in the child frame is r·p + t in the parent frame. */
export interface Rigid {
  readonly t: Vec3;
  readonly r: Quat;
}

/** geometry_msgs/TransformStamped, as much of it as is read. */
export interface TransformStampedLike {
  readonly header: { readonly frame_id: string };
  readonly child_frame_id: string;
  readonly transform: { readonly translation: Vec3; readonly rotation: Quat };
}

/** tf2_msgs/TFMessage. */
export interface TfMessageLike {
  readonly transforms: readonly TransformStampedLike[];
}

/** REP 105's frame on the ground under the robot: where camera heights are measured from by default. */
export const DEFAULT_GROUND_FRAME = 'base_footprint';

const IDENTITY: Rigid = { t: { x: 0, y: 0, z: 0 }, r: { x: 0, y: 0, z: 0, w: 1 } };
/** Chains deeper than this are a loop (a broadcaster naming a frame its own ancestor). */
const MAX_DEPTH = 64;

/** tf2 strips a leading slash from frame ids (ROS 1 habit); so do we. */
const frame = (id: string) => (id.startsWith('/') ? id.slice(1) : id);

function qmul(a: Quat, b: Quat): Quat {
  return {
    w: a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z,
    x: a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
    y: a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x,
    z: a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w,
  };
}

function rotate(q: Quat, v: Vec3): Vec3 {
  // v' = q v q*, expanded: v + 2w(u×v) + 2u×(u×v), u = (x, y, z)
  const cx = q.y * v.z - q.z * v.y, cy = q.z * v.x - q.x * v.z, cz = q.x * v.y - q.y * v.x;
  return {
    x: v.x + 2 * (q.w * cx + q.y * cz - q.z * cy),
    y: v.y + 2 * (q.w * cy + q.z * cx - q.x * cz),
    z: v.z + 2 * (q.w * cz + q.x * cy - q.y * cx),
  };
}

/** a ∘ b: first b, then a. */
export function compose(a: Rigid, b: Rigid): Rigid {
  const t = rotate(a.r, b.t);
  return { t: { x: t.x + a.t.x, y: t.y + a.t.y, z: t.z + a.t.z }, r: qmul(a.r, b.r) };
}

export function inverse(a: Rigid): Rigid {
  const r = { x: -a.r.x, y: -a.r.y, z: -a.r.z, w: a.r.w };
  const t = rotate(r, a.t);
  return { t: { x: -t.x, y: -t.y, z: -t.z }, r };
}

function normalised(q: Quat): Quat | undefined {
  const n = Math.hypot(q.x, q.y, q.z, q.w);
  return Number.isFinite(n) && n > 1e-9 ? { x: q.x / n, y: q.y / n, z: q.z / n, w: q.w / n } : undefined;
}

export class TfBuffer {
  /** child → its parent and the child's pose in it. */
  readonly #parent = new Map<string, { parent: string; pose: Rigid }>();

  /**
   * Takes a TFMessage (the latest transform of a child frame wins). Transforms with an
   * empty frame, a non-finite number or a zero quaternion are skipped; returns how many were taken.
   */
  note(msg: TfMessageLike): number {
    let taken = 0;
    for (const ts of msg?.transforms ?? []) {
      const parent = frame(ts?.header?.frame_id ?? ''), child = frame(ts?.child_frame_id ?? '');
      const tr = ts?.transform?.translation, rq = ts?.transform?.rotation;
      if (!parent || !child || parent === child || !tr || !rq) continue;
      const r = normalised(rq);
      if (!r || ![tr.x, tr.y, tr.z].every(Number.isFinite)) continue;
      this.#parent.set(child, { parent, pose: { t: { x: tr.x, y: tr.y, z: tr.z }, r } });
      taken++;
    }
    return taken;
  }

  /** The pose of `source` in `target` (a point in source → target), or undefined if the tree does not connect them. */
  lookup(target: string, source: string): Rigid | undefined {
    const up = (f: string): Map<string, Rigid> | undefined => {
      // Each ancestor of f with f's pose in it.
      const chain = new Map<string, Rigid>([[f, IDENTITY]]);
      let pose = IDENTITY;
      for (let cur = f, n = 0; ; n++) {
        const p = this.#parent.get(cur);
        if (!p) return chain;
        if (n >= MAX_DEPTH || chain.has(p.parent)) return undefined;
        pose = compose(p.pose, pose);
        chain.set(p.parent, pose);
        cur = p.parent;
      }
    };
    const s = up(frame(source)), t = up(frame(target));
    if (!s || !t) return undefined;
    // The nearest common ancestor: the first of source's ancestors that target also reaches.
    for (const [a, sourceInA] of s) {
      const targetInA = t.get(a);
      if (targetInA) return compose(inverse(targetInA), sourceInA);
    }
    return undefined;
  }

  /** How far `frameId`'s origin is above `groundFrame`'s xy plane (its z there, metres), or undefined. */
  heightAbove(groundFrame: string, frameId: string): number | undefined {
    return this.lookup(groundFrame, frameId)?.t.z;
  }

  /**
   * An optical frame's mount over the ground frame (REP 103: the optical axis is its z): the
   * origin's height above the ground frame's xy plane (m) and the axis's angle below that plane
   * (rad, + down), or undefined where TF does not connect them.
   */
  opticalMount(groundFrame: string, opticalFrame: string): { heightM: number; pitchRad: number } | undefined {
    const p = this.lookup(groundFrame, opticalFrame);
    if (!p) return undefined;
    const d = rotate(p.r, { x: 0, y: 0, z: 1 });
    return { heightM: p.t.z, pitchRad: Math.atan2(-d.z, Math.hypot(d.x, d.y)) };
  }

  get size(): number {
    return this.#parent.size;
  }
}
