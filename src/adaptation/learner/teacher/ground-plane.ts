/**
 * Label-free metric depth from the road's geometry. A camera at a known height above a flat road
 * sees the road at row v (camera pixels) at depth Z = fy · h / (cos θ · (v − v₀)), v₀ the
 * horizon's row and θ the pitch (tan θ = (cy − v₀) / fy). The height is the robot's to know (its
 * mount); the horizon moves with the pitch, so it is fitted per frame: on the serving model's
 * own road pixels (lane and drivable classes) 1/Z is a line in v, whose zero is the horizon. The
 * line's slope would give the metric scale too, but the model's depth can be off by a factor
 * (a shifted domain, a lens unlike its training cameras) — the geometry is not.
 *
 * The label: on road pixels the geometric depth; elsewhere (`fill`) the model's own depth times
 * the factor that makes its road agree with the geometry (the median ratio on the road), else
 * invalid. On synthetic drives the road's geometric depth is within 2–8 % AbsRel of the truth
 * (the model's own: 18–25 %): docs/experiments/2026-12-06-ground-plane.md.
 *
 * Nothing here knows which model or camera it serves: the caller hands the serving model's metric
 * depth and segmentation (its output grid) with the camera's intrinsics.
 */
import type { ModelView } from '../store-types.js';

export interface GroundPlaneOptions {
  /** The optical centre's height above the road (m). */
  readonly cameraHeightM: number;
  /** Label non-road pixels with the model's depth rescaled to agree with the road (default true). */
  readonly fill?: boolean;
  /** Depths beyond this are left invalid (m; default 80). */
  readonly maxDepthM?: number;
}

export interface GroundPlaneLabel {
  /** Metric depth (m) on the model's grid; 0 = no label. */
  readonly depth: { readonly width: number; readonly height: number; readonly data: Float32Array };
  /** Pitch of the optical axis below the horizon (rad), from the fitted horizon. */
  readonly pitch: number;
  /** Model depth ÷ geometric depth on the road (median): the model's scale error. */
  readonly modelScale: number;
  /** Road pixels the fit kept. */
  readonly roadPixels: number;
}

/** Why a frame gets no ground-plane label (the caller counts and logs it). */
export type GroundPlaneRefusal = 'too little road' | 'no ground plane' | 'implausible pitch';

/** Fewer road pixels than this share of the grid: no label (a turn into a wall, a crowd, sky). */
const MIN_ROAD_SHARE = 0.03;
/** Pitch beyond ±20°: the fit found something else than a level road ahead. */
const MAX_PITCH = 0.35;
/** Trimmed least squares: rounds, and the residual cut in medians. */
const FIT_ROUNDS = 4;
const TRIM = 2.5;
/** Road pixels nearer the horizon than this (camera rows) are left out: depth there blows up. */
const HORIZON_MARGIN_ROWS = 4;

/** y = a·x + b by least squares, trimming points beyond TRIM median residuals for FIT_ROUNDS rounds. */
function trimmedLine(xs: readonly number[], ys: readonly number[]): [number, number] {
  let a = NaN, b = NaN;
  let keep = xs.map((_, i) => i);
  for (let round = 0; round < FIT_ROUNDS && keep.length >= 2; round++) {
    let sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const i of keep) {
      sx += xs[i];
      sy += ys[i];
      sxx += xs[i] * xs[i];
      sxy += xs[i] * ys[i];
    }
    const n = keep.length;
    const den = n * sxx - sx * sx;
    if (!(Math.abs(den) > 0)) break;
    a = (n * sxy - sx * sy) / den;
    b = (sy - a * sx) / n;
    const r = keep.map((i) => Math.abs(ys[i] - (a * xs[i] + b)));
    const cut = TRIM * median(r);
    if (!(cut > 0)) break;
    keep = keep.filter((_, j) => r[j] <= cut);
  }
  return [a, b];
}

const median = (a: number[]): number => {
  if (a.length === 0) return NaN;
  const s = Float64Array.from(a).sort();
  return s[s.length >> 1];
};

/**
 * The ground-plane depth label of one frame, or why there is none. Throws nothing on odd input:
 * a view without road, with a rising road or a horizon off the picture is refused.
 */
export function groundPlaneDepth(view: Pick<ModelView, 'depth' | 'seg' | 'cameraSize' | 'k'>, o: GroundPlaneOptions): GroundPlaneLabel | GroundPlaneRefusal {
  const { depth, seg, cameraSize, k } = view;
  const [, fy, , cy] = k;
  const maxM = o.maxDepthM ?? 80;
  const dw = depth.width, dh = depth.height;
  const rowOf = (y: number) => ((y + 0.5) * cameraSize.height) / dh;
  const road = new Uint8Array(dw * dh);
  const vs: number[] = [], iz: number[] = [];
  for (let y = 0; y < dh; y++) {
    const sy = Math.min(seg.height - 1, Math.floor(((y + 0.5) * seg.height) / dh));
    for (let x = 0; x < dw; x++) {
      const c = seg.data[sy * seg.width + Math.min(seg.width - 1, Math.floor(((x + 0.5) * seg.width) / dw))];
      if (c !== 1 && c !== 2) continue;
      road[y * dw + x] = 1;
      const z = depth.data[y * dw + x];
      if (!(z > 0.5 && z < maxM)) continue;
      vs.push(rowOf(y));
      iz.push(1 / z);
    }
  }
  if (vs.length < MIN_ROAD_SHARE * dw * dh) return 'too little road';
  // 1/Z = a·v + b (the mask's edges, cars' shadows and a kerb trimmed away).
  const [a, b] = trimmedLine(vs, iz);
  if (!(a > 0) || !Number.isFinite(b)) return 'no ground plane';
  const v0 = -b / a;
  const pitch = Math.atan((cy - v0) / fy);
  if (!(Math.abs(pitch) <= MAX_PITCH)) return 'implausible pitch';
  const c = fy * o.cameraHeightM / Math.cos(pitch);
  const out = new Float32Array(dw * dh);
  const ratios: number[] = [];
  let roadPixels = 0;
  for (let y = 0; y < dh; y++) {
    const dv = rowOf(y) - v0;
    if (dv < HORIZON_MARGIN_ROWS) continue;
    const zg = c / dv;
    if (!(zg <= maxM)) continue;
    for (let x = 0; x < dw; x++) {
      const p = y * dw + x;
      if (!road[p]) continue;
      out[p] = zg;
      roadPixels++;
      const z = depth.data[p];
      if (z > 0 && Number.isFinite(z)) ratios.push(z / zg);
    }
  }
  if (roadPixels < MIN_ROAD_SHARE * dw * dh) return 'too little road';
  const modelScale = median(ratios);
  if (o.fill !== false && modelScale > 0) {
    for (let p = 0; p < out.length; p++) {
      if (road[p]) continue;
      const z = depth.data[p] / modelScale;
      if (z > 0 && z <= maxM) out[p] = z;
    }
  }
  return { depth: { width: dw, height: dh, data: out }, pitch, modelScale, roadPixels };
}
