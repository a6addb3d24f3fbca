import type { Header } from '../msgs/index.js';
import type { FrameResult } from '../pipeline/perception.js';

/**
 * Detections as a `visualization_msgs/MarkerArray` rviz2 can show without a plugin: each box a
 * LINE_LIST rectangle plus a TEXT_VIEW_FACING label, in the camera's optical frame (z forward,
 * x right, y down: REP 103) at the depth the model predicts at the box centre (a nominal
 * distance where it has none). Without camera_info the projection assumes a pinhole with
 * fx = fy = image width (about 53° horizontal field of view) and the principal point at the
 * centre: good enough to see where things are, not to measure them.
 */
export const MARKER = { LINE_LIST: 5, TEXT_VIEW_FACING: 9, ADD: 0, DELETEALL: 3 } as const;

export interface MarkerOptions {
  /** Metres, used where the depth map has no finite positive value at the box centre. */
  readonly nominalDepthM?: number;
  /** How long rviz2 keeps a marker that is not replaced (a stalled node's boxes fade). */
  readonly lifetimeS?: number;
}

type Point = { x: number; y: number; z: number };
type Color = { r: number; g: number; b: number; a: number };

type Pose = { position: Point; orientation: { x: number; y: number; z: number; w: number } };
const IDENTITY: Pose = Object.freeze({ position: Object.freeze({ x: 0, y: 0, z: 0 }), orientation: Object.freeze({ x: 0, y: 0, z: 0, w: 1 }) });
const NO_TEXTURE = Object.freeze({ header: Object.freeze({ stamp: Object.freeze({ sec: 0, nanosec: 0 }), frame_id: '' }), format: '', data: new Uint8Array(0) });
const NO_MESH = Object.freeze({ filename: '', data: new Uint8Array(0) });

const PALETTE: readonly Color[] = [
  { r: 1, g: 0.3, b: 0.2, a: 1 },
  { r: 0.2, g: 0.8, b: 1, a: 1 },
  { r: 1, g: 0.85, b: 0.1, a: 1 },
  { r: 0.5, g: 1, b: 0.3, a: 1 },
  { r: 0.9, g: 0.4, b: 1, a: 1 },
];

function colorOf(cls: string): Color {
  let h = 0;
  for (let i = 0; i < cls.length; i++) h = (h * 31 + cls.charCodeAt(i)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

/** A marker with every field set (rclnodejs and CDR need them all), to fill in. */
export function marker(header: Header, ns: string, id: number, type: number, action: number, lifetimeS: number) {
  const sec = Math.floor(lifetimeS);
  return {
    header,
    ns,
    id,
    type,
    action,
    pose: IDENTITY as Pose,
    scale: { x: 0.05, y: 0.05, z: 0.05 },
    color: { r: 1, g: 1, b: 1, a: 1 },
    lifetime: { sec, nanosec: Math.round((lifetimeS - sec) * 1e9) },
    frame_locked: false,
    points: [] as Point[],
    colors: [] as Color[],
    texture_resource: '',
    texture: NO_TEXTURE,
    uv_coordinates: [] as { u: number; v: number }[],
    text: '',
    mesh_resource: '',
    mesh_file: NO_MESH,
    mesh_use_embedded_materials: false,
  };
}

function depthAt(r: FrameResult, u: number, v: number, fallback: number): number {
  const { width, height, data } = r.depth;
  const x = Math.min(width - 1, Math.max(0, Math.floor((u / r.cameraSize.width) * width)));
  const y = Math.min(height - 1, Math.max(0, Math.floor((v / r.cameraSize.height) * height)));
  const d = data[y * width + x];
  return Number.isFinite(d) && d > 0.1 ? d : fallback;
}

/** The markers of one frame; the first clears the camera's previous boxes (DELETEALL). */
export function detectionMarkers(r: FrameResult, header: Header, options: MarkerOptions = {}): { markers: ReturnType<typeof marker>[] } {
  const nominal = options.nominalDepthM ?? 10;
  const lifetime = options.lifetimeS ?? 1;
  const ns = `${r.camera}/detections`;
  const f = r.cameraSize.width;
  const cx = r.cameraSize.width / 2;
  const cy = r.cameraSize.height / 2;
  const markers = [marker(header, ns, 0, MARKER.LINE_LIST, MARKER.DELETEALL, 0)];
  r.boxes.forEach((b, i) => {
    const z = depthAt(r, (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, nominal);
    const p = (u: number, v: number): Point => ({ x: ((u - cx) / f) * z, y: ((v - cy) / f) * z, z });
    const [a, bb, c, d] = [p(b.x0, b.y0), p(b.x1, b.y0), p(b.x1, b.y1), p(b.x0, b.y1)];
    const color = colorOf(b.cls);
    const box = marker(header, ns, 2 * i + 1, MARKER.LINE_LIST, MARKER.ADD, lifetime);
    box.points = [a, bb, bb, c, c, d, d, a];
    box.color = color;
    box.scale = { x: Math.max(0.01, z * 0.004), y: 0, z: 0 };
    const label = marker(header, ns, 2 * i + 2, MARKER.TEXT_VIEW_FACING, MARKER.ADD, lifetime);
    label.pose = { position: { x: a.x, y: a.y - z * 0.03, z }, orientation: IDENTITY.orientation };
    label.scale = { x: 0, y: 0, z: Math.max(0.1, z * 0.04) };
    label.color = color;
    label.text = `${b.cls} ${b.score.toFixed(2)}`;
    markers.push(box, label);
  });
  return { markers };
}
