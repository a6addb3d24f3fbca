/**
 * Label-free metric depth from the road's geometry. A camera at a known height above a flat road
 * sees the road at row v (camera pixels) at depth Z = fy · h / (cos θ · (v − v₀)), v₀ the
 * horizon's row and θ the pitch (tan θ = (cy − v₀) / fy). The height is the robot's to know (its
 * mount); the horizon moves with the pitch, so it is found per frame: where the serving model
 * segments lane markings, at their common vanishing point (markingHorizon); else where 1/Z of the
 * model's own road pixels, a line in v, reaches zero (biased towards the pitch of the model's
 * training cameras). The model's depth can be off by a factor (a shifted domain, a lens unlike
 * its training cameras) — the geometry is not.
 *
 * The label: on road pixels the geometric depth; elsewhere (`fill`) the model's own depth times
 * the factor that makes its road agree with the geometry (the median ratio on the road), else
 * invalid. On synthetic drives the road's geometric depth is within 1.4–4 % AbsRel of the truth
 * (the model's own: 13–25 %): docs/experiments/2026-12-06-ground-plane.md.
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
  /**
   * The mount's pitch (rad, + down) when known — e.g. MountPitch's median over recent frames;
   * without, the frame's own horizon (its markings' vanishing point, else the model's road depth).
   */
  readonly pitch?: number;
}

export interface GroundPlaneLabel {
  /** Metric depth (m) on the model's grid; 0 = no label. */
  readonly depth: { readonly width: number; readonly height: number; readonly data: Float32Array };
  /** Pitch of the optical axis below the horizon (rad), from the fitted horizon. */
  readonly pitch: number;
  /** Model depth ÷ geometric depth on the road (median): the model's scale error. */
  readonly modelScale: number;
  /** Road pixels labelled. */
  readonly roadPixels: number;
  /** Where the horizon came from: the mount's pitch (options.pitch), this frame's lane markings' vanishing point, or the model's road depth. */
  readonly horizon: 'mount' | 'markings' | 'depth';
}

/** Why a frame gets no ground-plane label (the caller counts and logs it). */
export type GroundPlaneRefusal = 'too little road' | 'no ground plane' | 'implausible pitch' | 'unsteady horizon' | 'height not confirmed by the lanes' | 'height disagrees with the lanes' | 'horizon disagrees with TF';

/**
 * Where the robot's TF gives a camera's pitch, the markings' horizon (MountPitch) may differ from
 * it by this much (rad, about 1.1°): beyond, either the camera moved (TF is stale) or the markings
 * mislead (through lens water they put a 0.012-rad mount at 0.052: docs/experiments/2026-12-06-ground-plane.md),
 * and the ground plane is refused.
 */
export const MAX_TF_PITCH_GAP = 0.02;

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

/**
 * The horizon from the lane markings: on a flat road every marking's image is a line whose
 * vanishing point lies on the horizon, and the markings of one road (parallel near the camera)
 * share it. Each marking (a stroke of lane pixels down enough rows, straight enough) is fitted
 * as u = m·v + q; the common point minimises Σ w (m v₀ + q − u₀)², trimmed.
 * Undefined without two markings that are not parallel in the picture.
 */
export function markingHorizon(seg: ModelView['seg'], cameraSize: { readonly width: number; readonly height: number }): number | undefined {
  return markingGeometry(seg, cameraSize)?.v0;
}

/** markingHorizon's horizon row with the slopes du/dv of the markings that share it. */
function markingGeometry(seg: ModelView['seg'], cameraSize: { readonly width: number; readonly height: number }): { v0: number; slopes: number[] } | undefined {
  const { width: sw, height: sh, data } = seg;
  const sx = cameraSize.width / sw, sy = cameraSize.height / sh;
  // Strokes: each row's runs of lane pixels, chained down the rows while a run touches exactly
  // one run of the next row and that run exactly one of this (markings that meet near the
  // horizon, a fork or a crossing end a stroke there).
  type Run = { x0: number; x1: number; stroke: number };
  const strokes: { v: number[]; u: number[] }[] = [];
  let prev: Run[] = [];
  for (let y = 0; y < sh; y++) {
    const runs: Run[] = [];
    for (let x = 0; x < sw; x++) {
      if (data[y * sw + x] !== 1) continue;
      const x0 = x;
      while (x + 1 < sw && data[y * sw + x + 1] === 1) x++;
      runs.push({ x0, x1: x, stroke: -1 });
    }
    const touches = (a: Run, b: Run) => b.x0 <= a.x1 + 1 && b.x1 >= a.x0 - 1;
    for (const r of runs) {
      const above = prev.filter((p) => touches(p, r));
      const only = above.length === 1 && runs.filter((o) => touches(above[0], o)).length === 1;
      r.stroke = only ? above[0].stroke : strokes.push({ v: [], u: [] }) - 1;
      strokes[r.stroke].v.push((y + 0.5) * sy);
      strokes[r.stroke].u.push(((r.x0 + r.x1) / 2 + 0.5) * sx);
    }
    prev = runs;
  }
  const lines: { m: number; q: number; w: number }[] = [];
  for (const { v: vs, u: us } of strokes) {
    if (vs.length < MIN_MARKING_ROWS) continue;
    const [m, q] = trimmedLine(vs, us);
    if (!Number.isFinite(m) || !Number.isFinite(q) || Math.abs(m) > MAX_MARKING_SLOPE) continue;
    let rss = 0;
    for (let i = 0; i < vs.length; i++) rss += (us[i] - (m * vs[i] + q)) ** 2;
    if (Math.sqrt(rss / vs.length) > MAX_MARKING_RESIDUAL_PX * sx) continue;
    lines.push({ m, q, w: vs.length });
  }
  let keep = lines;
  let v0: number | undefined;
  for (let round = 0; round < 3 && keep.length >= 2; round++) {
    let W = 0, M = 0, MM = 0, Q = 0, QM = 0;
    for (const l of keep) {
      W += l.w;
      M += l.w * l.m;
      MM += l.w * l.m * l.m;
      Q += l.w * l.q;
      QM += l.w * l.q * l.m;
    }
    const det = M * M - MM * W;
    // the markings must fan out: slopes spread, not one direction
    if (!(MM / W - (M / W) ** 2 > MIN_SLOPE_SPREAD)) return undefined;
    v0 = (QM * W - Q * M) / det;
    const u0 = (M * v0 + Q) / W;
    const res = keep.map((l) => Math.abs(l.m * v0! + l.q - u0));
    const cut = TRIM * median(res);
    if (!(cut > 0)) break;
    keep = keep.filter((_, i) => res[i] <= cut);
  }
  return v0 !== undefined && Number.isFinite(v0) ? { v0, slopes: keep.map((l) => l.m) } : undefined;
}

/**
 * The camera height a lane `laneWidthM` wide implies: a ground line X metres to the side is
 * u = u₀ + fx·X·cos θ / (fy·h) · (v − v₀) in the picture, so two neighbouring markings' slopes
 * differ by fx·W·cos θ / (fy·h). Slopes closer than SAME_MARKING_SLOPE are one marking seen
 * twice (a double line, a wide line's two edges); the neighbours are the closest of the rest.
 */
function laneHeight(slopes: readonly number[], k: ModelView['k'], pitch: number, laneWidthM: number): number | undefined {
  const merged: number[] = [];
  for (const m of [...slopes].sort((a, b) => a - b)) if (merged.length === 0 || m - merged[merged.length - 1] >= SAME_MARKING_SLOPE) merged.push(m);
  if (merged.length < 2) return undefined;
  const step = Math.min(...merged.slice(1).map((v, i) => v - merged[i]));
  return (k[0] * laneWidthM * Math.cos(pitch)) / (k[1] * step);
}

/**
 * A camera's mount pitch from the lane markings of its recent frames: each frame's vanishing
 * point is noisy (a dashed line, rain on the lens, a bend), the mount is not (it moves when the
 * camera is knocked, and the window follows within `window` frames). The median of the last
 * `window` frames' pitches, once `min` of them are in.
 */
export class MountPitch {
  readonly #recent = new Map<string, number[]>();
  readonly #heights = new Map<string, number[]>();

  constructor(
    private readonly window = 15,
    private readonly min = 3,
  ) {}

  /** Takes a frame's markings (if they show a horizon) and returns the camera's pitch now, or undefined. */
  observe(camera: string, view: Pick<ModelView, 'seg' | 'cameraSize' | 'k'>): number | undefined {
    const [, fy, , cy] = view.k;
    const g = markingGeometry(view.seg, view.cameraSize);
    const ring = this.#recent.get(camera) ?? [];
    this.#recent.set(camera, ring);
    const heights = this.#heights.get(camera) ?? [];
    this.#heights.set(camera, heights);
    if (g !== undefined) {
      const pitch = Math.atan((cy - g.v0) / fy);
      if (Math.abs(pitch) <= MAX_PITCH) {
        ring.push(pitch);
        if (ring.length > this.window) ring.shift();
        const h = laneHeight(g.slopes, view.k, pitch, LANE_WIDTH_M);
        if (h !== undefined) {
          heights.push(h);
          if (heights.length > this.window) heights.shift();
        }
      }
    }
    return ring.length >= this.min ? median(ring) : undefined;
  }

  /**
   * Whether the camera's ground plane can be trusted with `cameraHeightM`: undefined if so, else
   * why not — its markings' horizons scatter (MAX_PITCH_SPREAD), or its lanes say the camera is
   * at another height (MAX_HEIGHT_RATIO: a camera that moved; its depth would be taught a wrong
   * scale).
   */
  distrust(camera: string, cameraHeightM: number): Extract<GroundPlaneRefusal, 'unsteady horizon' | 'height not confirmed by the lanes' | 'height disagrees with the lanes'> | undefined {
    const spread = this.spread(camera);
    if (spread !== undefined && spread > MAX_PITCH_SPREAD) return 'unsteady horizon';
    const h = this.laneHeight(camera, cameraHeightM);
    if (h === undefined) return 'height not confirmed by the lanes';
    return Math.max(h / cameraHeightM, cameraHeightM / h) > MAX_HEIGHT_RATIO ? 'height disagrees with the lanes' : undefined;
  }

  /**
   * The camera's height above the road that a standard lane (LANE_WIDTH_M) implies, median of
   * its recent frames (with `toldHeightM`, of those within HEIGHT_CHECK_RANGE of it); undefined
   * before `min` are in. Lanes are 3.0–3.8 m wide: a check on the
   * height the robot was told (a camera that moved), not a measurement of it.
   */
  laneHeight(camera: string, toldHeightM?: number): number | undefined {
    // Beside a told height, heights beyond HEIGHT_CHECK_RANGE of it are markings mistaken for neighbours, not evidence.
    const h = (this.#heights.get(camera) ?? []).filter((v) => toldHeightM === undefined || Math.max(v / toldHeightM, toldHeightM / v) < HEIGHT_CHECK_RANGE);
    return h.length >= this.min ? median(h) : undefined;
  }

  /** How much the camera's recent pitches disagree: their median absolute deviation (rad); undefined before `min` are in. */
  spread(camera: string): number | undefined {
    const ring = this.#recent.get(camera) ?? [];
    if (ring.length < this.min) return undefined;
    const m = median(ring);
    return median(ring.map((p) => Math.abs(p - m)));
  }
}

/** A lane's width for the height check (m): the middle of the 3.0–3.8 m roads are built with. */
export const LANE_WIDTH_M = 3.5;
/**
 * Markings' slopes (du/dv) closer than this are one marking: neighbouring markings of a 3.5 m
 * lane differ by 3.5 / h (fx = fy), over 0.25 for any camera below 14 m.
 */
const SAME_MARKING_SLOPE = 0.25;
/** The mount's recent pitches may disagree by this much (median absolute deviation, rad): beyond, the markings do not show one horizon (lens water, worn paint). */
export const MAX_PITCH_SPREAD = 0.015;
/** The height the lanes imply may differ from the height the robot was told by this factor: beyond (within HEIGHT_CHECK_RANGE), the camera has moved. */
export const MAX_HEIGHT_RATIO = 1.25;
/** Lane heights further off than this factor are no evidence (markings mistaken for neighbours); the check ignores them. */
const HEIGHT_CHECK_RANGE = 3;

/** A marking spans at least this many rows of the segmentation grid. */
const MIN_MARKING_ROWS = 5;
/** |du/dv| beyond this: a stop line or a crossing, not a marking along the road. */
const MAX_MARKING_SLOPE = 6;
/** A marking straighter than this (RMS off its line, segmentation cells). */
const MAX_MARKING_RESIDUAL_PX = 1.5;
/** Weighted variance of the markings' slopes below this: they are parallel in the picture. */
const MIN_SLOPE_SPREAD = 0.05;

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
  // The markings' vanishing point where they show one: the model's depth carries its prior about
  // the horizon (its training cameras' typical pitch), which biased the road's depth by ±4–7 %
  // (docs/experiments/2026-12-06-ground-plane.md); the depth fit's zero otherwise.
  const usable = (v: number | undefined): v is number => v !== undefined && Math.abs(Math.atan((cy - v) / fy)) <= MAX_PITCH;
  const fromMount = o.pitch !== undefined && Number.isFinite(o.pitch) ? cy - fy * Math.tan(o.pitch) : undefined;
  const fromMarkings = usable(fromMount) ? undefined : markingHorizon(seg, cameraSize);
  const horizon: GroundPlaneLabel['horizon'] = usable(fromMount) ? 'mount' : usable(fromMarkings) ? 'markings' : 'depth';
  const v0 = horizon === 'mount' ? fromMount! : horizon === 'markings' ? fromMarkings! : -b / a;
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
  return { depth: { width: dw, height: dh, data: out }, pitch, modelScale, roadPixels, horizon };
}
