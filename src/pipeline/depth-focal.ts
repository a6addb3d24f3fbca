import { PerceptionError } from '../core/errors.js';
import type { Manifest } from '../model/index.js';
import type { BatchRunner, InputSize } from '../scheduler/index.js';
import type { FrameOutcome } from './frame-runner.js';

/**
 * Metric depth for the camera at hand. A monocular depth head learns the focal length of the
 * cameras it was trained on: the same car is twice as far on a lens with twice the focal
 * length. The package states the focal it assumes (`depth.focal` in the manifest: fx ÷ image
 * width, and how strongly its depth follows the focal — below 1 where the model partly reads
 * the field of view off the picture), and a camera's `camera_info` gives its own.
 *
 * What the head reads is the *vertical* focal in its own input: a road point's depth is told by
 * its row below the horizon, and every frame is resized to the model's input whatever its
 * aspect. A package that states the shape of the frames its focal was fitted on
 * (`depth.focal.aspect`, width ÷ height, square pixels) has depth multiplied by
 * (camera fy/height ÷ (fx_over_width × aspect)) ^ exponent — for a camera of that shape the same
 * factor as (fx/width ÷ fx_over_width) ^ exponent.
 * On synthetic drives at one lens and height, the default's truth ÷ depth followed fy/height,
 * not fx/width: 1.06 at 640×360 and 1.07 at 1164×874 (fy/height 1.04 for both, fx/width 0.59 and
 * 0.79), 1.77 at 1242×375 (KITTI's shape) (docs/experiments/2026-12-08-depth-aspect.md).
 * Without camera_info such a package assumes its own lens with square pixels (fx = fy =
 * fx_over_width × width): depth × ((width ÷ height) ÷ aspect) ^ exponent, 1 at the fitted
 * shape. A package without `aspect` scales by fx/width only, and not at all without
 * camera_info; one that states no focal is never rescaled.
 * The default model's figures were fitted on synthetic drives across fields of view:
 * docs/experiments/2026-12-06-depth-focal.md.
 */
export interface DepthFocal {
  readonly fx_over_width: number;
  readonly exponent: number;
  /** Width ÷ height of the frames the focal was fitted on (square pixels); absent: scale by fx/width only. */
  readonly aspect?: number;
  /**
   * The camera's height above the road the depth head learned (m), and how strongly its depth
   * follows a camera's own (`height_exponent`): depth × (height ÷ camera_height_m) ^ exponent
   * where a camera's height is known (the robot's TF). Absent: heights change nothing.
   */
  readonly camera_height_m?: number;
  readonly height_exponent?: number;
}

/** The factor for a camera `heightM` above the road (1 where the package states no height or it is unknown). */
export function heightDepthScale(focal: DepthFocal, heightM: number | undefined): number {
  if (focal.camera_height_m === undefined || heightM === undefined) return 1;
  return Math.pow(heightM / focal.camera_height_m, focal.height_exponent ?? 1);
}

/** Heights a camera's TF may give that the depth scale takes (m); others are refused with a warning. */
export const MOUNT_HEIGHT_RANGE_M: readonly [number, number] = [0.05, 20];

/** What depth scaling reads of a sensor_msgs/CameraInfo. */
export interface CameraInfoLike {
  readonly width: number;
  readonly height: number;
  readonly k: ArrayLike<number>;
}

/** The package's focal, or undefined when it states none (depth is then not rescaled). */
export function depthFocalOf(manifest: Pick<Manifest, 'depth'>): DepthFocal | undefined {
  const f = manifest.depth?.focal;
  if (f === undefined) return undefined;
  return {
    fx_over_width: f.fx_over_width,
    exponent: f.exponent ?? 1,
    ...(f.aspect !== undefined ? { aspect: f.aspect } : {}),
    ...(f.camera_height_m !== undefined ? { camera_height_m: f.camera_height_m, height_exponent: f.height_exponent ?? 1 } : {}),
  };
}

/**
 * The factor that makes the model's depth metric for a camera with intrinsics `info`. Throws
 * INVALID_ARGUMENT naming the field for a camera_info that cannot say (zero width, a K without
 * a positive fx: an uncalibrated camera publishes zeros).
 */
export function depthScale(focal: DepthFocal, info: CameraInfoLike, camera?: string): number {
  const where = camera === undefined ? {} : { camera };
  if (!(Number.isInteger(info?.width) && info.width > 0)) {
    throw new PerceptionError('INVALID_ARGUMENT', `camera_info width must be a positive integer, got ${JSON.stringify(info?.width)}`, { ...where, field: 'camera_info.width' });
  }
  const fx = info.k?.[0];
  if (info.k?.length !== 9 || !(Number.isFinite(fx) && fx > 0)) {
    throw new PerceptionError('INVALID_ARGUMENT', `camera_info k must hold 9 numbers with fx = k[0] > 0 (an uncalibrated camera), got fx ${JSON.stringify(fx)}`, { ...where, field: 'camera_info.k' });
  }
  if (focal.aspect === undefined) return Math.pow(fx / info.width / focal.fx_over_width, focal.exponent);
  if (!(Number.isInteger(info.height) && info.height > 0)) {
    throw new PerceptionError('INVALID_ARGUMENT', `camera_info height must be a positive integer, got ${JSON.stringify(info.height)}`, { ...where, field: 'camera_info.height' });
  }
  // fy = k[4]; a K that leaves it 0 states square pixels' fx only.
  const fy = Number.isFinite(info.k[4]) && info.k[4] > 0 ? info.k[4] : fx;
  return Math.pow(fy / info.height / (focal.fx_over_width * focal.aspect), focal.exponent);
}

/**
 * The factor for a camera without camera_info, frames of `size`: the package's own lens with
 * square pixels, so only the frame's shape differs from the fit's (1 at that shape, and for a
 * package that states none).
 */
export function assumedDepthScale(focal: DepthFocal, size: { readonly width: number; readonly height: number }): number {
  if (focal.aspect === undefined || !(size.width > 0 && size.height > 0)) return 1;
  return Math.pow(size.width / size.height / focal.aspect, focal.exponent);
}

/**
 * Each camera's depth scale, from the camera_info messages seen so far. Cameras without one
 * (or whose camera_info cannot say) get 1: the model's depth as is.
 */
export class CameraFocals {
  readonly #focal: DepthFocal | undefined;
  readonly #scales = new Map<string, number>();
  readonly #refused = new Set<string>();
  readonly #k = new Map<string, { k: [number, number, number, number]; width: number; height: number }>();
  /** Each camera's frame size as last seen (`seen`): a camera without camera_info is scaled by its shape. */
  readonly #sizes = new Map<string, { width: number; height: number }>();
  /** Each camera's height above the road from the robot's TF (`mounted`), where the package states the height its depth learned. */
  readonly #heights = new Map<string, number>();
  readonly #heightRefused = new Set<string>();

  constructor(
    manifest: Pick<Manifest, 'depth'>,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.#focal = depthFocalOf(manifest);
  }

  /** Whether the package states a focal (without, camera_info changes nothing). */
  get enabled(): boolean {
    return this.#focal !== undefined;
  }

  /** Whether the package states the camera height its depth learned (a camera's height from TF then scales depth). */
  get heightAware(): boolean {
    return this.#focal?.camera_height_m !== undefined;
  }

  /**
   * The camera's height above the road (m) from the robot's transform tree, or undefined (not in
   * TF, or no longer). Depth follows it where the package states its own; a height outside
   * MOUNT_HEIGHT_RANGE_M is refused with a warning and leaves the camera as it was. Logged on change.
   */
  mounted(camera: string, heightM: number | undefined): void {
    const f = this.#focal;
    if (f?.camera_height_m === undefined) return;
    const before = this.#heights.get(camera);
    if (heightM === undefined) {
      if (before !== undefined) {
        this.#heights.delete(camera);
        this.log(`${camera}: no height in TF any more: depth assumes the model's ${f.camera_height_m} m`);
      }
      return;
    }
    const [lo, hi] = MOUNT_HEIGHT_RANGE_M;
    if (!(Number.isFinite(heightM) && heightM >= lo && heightM <= hi)) {
      if (!this.#heightRefused.has(camera)) this.log(`${camera}: TF height ${heightM} m ignored for depth (outside ${lo}–${hi} m)`);
      this.#heightRefused.add(camera);
      return;
    }
    this.#heightRefused.delete(camera);
    if (before !== undefined && Math.abs(before - heightM) < 1e-3) return;
    this.#heights.set(camera, heightM);
    this.log(`${camera}: ${heightM.toFixed(2)} m above the road in TF (the model's depth assumes ${f.camera_height_m} m): depth × ${heightDepthScale(f, heightM).toFixed(3)} for the height`);
  }

  /** Takes a camera's camera_info; a bad one is reported once per camera and leaves the scale as it was. */
  note(camera: string, info: CameraInfoLike): void {
    const k = info?.k;
    if (k?.length === 9 && [k[0], k[4], k[2], k[5]].every((v) => Number.isFinite(v) && v > 0) && Number.isInteger(info.width) && info.width > 0 && Number.isInteger(info.height) && info.height > 0) {
      this.#k.set(camera, { k: [k[0], k[4], k[2], k[5]], width: info.width, height: info.height });
    }
    if (!this.#focal) return;
    try {
      const s = depthScale(this.#focal, info, camera);
      const before = this.#scales.get(camera);
      this.#scales.set(camera, s);
      this.#refused.delete(camera);
      if (before === undefined || Math.abs(before - s) > 1e-6) {
        const f = this.#focal;
        const lens =
          f.aspect === undefined
            ? `fx/width ${(info.k[0] / info.width).toFixed(3)} (the model assumes ${f.fx_over_width})`
            : `fy/height ${((info.k[4] > 0 ? info.k[4] : info.k[0]) / info.height).toFixed(3)} (the model assumes ${(f.fx_over_width * f.aspect).toFixed(3)})`;
        this.log(`${camera}: camera_info ${lens}: depth × ${s.toFixed(3)}`);
      }
    } catch (err) {
      if (!this.#refused.has(camera)) this.log(`${camera}: camera_info ignored for depth: ${(err as Error).message}`);
      this.#refused.add(camera);
    }
  }

  /** Whether a usable camera_info of this camera has been seen. */
  known(camera: string): boolean {
    return this.#scales.has(camera);
  }

  /** The camera's frames are `size` (camera pixels): without camera_info its scale follows their shape. */
  seen(camera: string, size: { readonly width: number; readonly height: number }): void {
    const last = this.#sizes.get(camera);
    if (last?.width !== size.width || last?.height !== size.height) this.#sizes.set(camera, { width: size.width, height: size.height });
  }

  /**
   * The camera's depth scale now: from its camera_info; without one, the package's own lens on
   * frames of the shape last `seen` (else of `fallback`'s shape: a label's, whose aspect is the
   * camera's); 1 where neither is known or the package states no focal. Times the height factor
   * where the camera's height is known (`mounted`).
   */
  scale(camera: string, fallback?: { readonly width: number; readonly height: number }): number {
    const f = this.#focal;
    if (!f) return 1;
    const height = heightDepthScale(f, this.#heights.get(camera));
    const known = this.#scales.get(camera);
    if (known !== undefined) return known * height;
    const size = this.#sizes.get(camera) ?? fallback;
    return (size ? assumedDepthScale(f, size) : 1) * height;
  }

  /**
   * The camera's intrinsics [fx, fy, cx, cy] for an image of `size` (camera_info's, rescaled if
   * the frames come at another size) with its depth scale; without camera_info, the lens the
   * package's depth assumes (fx = fy = its fx/width × width, centred; the scale of that lens on
   * frames of this shape); undefined when neither says.
   */
  intrinsics(camera: string, size: { readonly width: number; readonly height: number }): { k: [number, number, number, number]; depthScale: number } | undefined {
    const known = this.#k.get(camera);
    if (known) {
      const sx = size.width / known.width, sy = size.height / known.height;
      return { k: [known.k[0] * sx, known.k[1] * sy, known.k[2] * sx, known.k[3] * sy], depthScale: this.scale(camera) };
    }
    if (!this.#focal) return undefined;
    const f = this.#focal.fx_over_width * size.width;
    return { k: [f, f, size.width / 2, size.height / 2], depthScale: this.scale(camera, size) };
  }
}

/**
 * A runner whose results' depth is metric for each camera (multiplied in place by the camera's
 * scale at the time the batch finishes). Scheduling, decoding and the worker are unchanged.
 */
export function withCameraFocals<T extends { readonly camera: string }>(runner: BatchRunner<T, FrameOutcome>, focals: CameraFocals): BatchRunner<T, FrameOutcome> {
  if (!focals.enabled) return runner;
  return {
    async run(frames: readonly T[], size: InputSize, variant?: string) {
      const outcomes = await runner.run(frames, size, variant);
      outcomes.forEach((o, i) => {
        if (!o.ok || frames[i] === undefined) return;
        focals.seen(frames[i].camera, o.image);
        const s = focals.scale(frames[i].camera);
        if (s === 1) return;
        const d = o.result.depth.data;
        for (let j = 0; j < d.length; j++) d[j] *= s;
      });
      return outcomes;
    },
  };
}

/** A metric depth label in the model's own units (what its depth tail learns): divided by the scale. */
export function toModelDepth<D extends { readonly data: Float32Array }>(label: D, scale: number): D {
  if (scale === 1) return label;
  const data = new Float32Array(label.data.length);
  for (let i = 0; i < data.length; i++) data[i] = label.data[i] / scale;
  return { ...label, data };
}
