/**
 * The public front of the synthetic world: validated options in, frames out. A frame is a
 * pure function of (options, index), so `frame(i)` gives random access and `next()` walks
 * the sequence; both give identical bytes for identical options.
 */
import { PerceptionError } from '../core/errors.js';
import { CAMERA_NAMES, mountedCamera, rigMount, type Camera, type CameraName, type Intrinsics, type Mount } from './camera.js';
import { assertDomain, makeLook, type Domain, type Look } from './domains.js';
import { ViewRenderer, type GtBox } from './render.js';
import { hash32 } from './rng.js';
import { RoadTable } from './road.js';
import { makeNoiseTile } from './texture.js';
import { World } from './world.js';

export interface SimOptions {
  seed: number;
  domain: Domain;
  /** Image width in pixels, 16..8192; default 1280. */
  width?: number;
  /** Image height in pixels, 16..8192; default 720. */
  height?: number;
  /** Cameras of the rig to render; default ['front']. */
  cameras?: CameraName[];
  /** Frame rate (Hz), > 0 and ≤ 1000; default 30. */
  rateHz?: number;
  /** Also return a per-pixel actor-id image (`CameraFrame.instances`); default false. */
  instances?: boolean;
  /**
   * Camera geometry overrides on top of the domain's look (ground truth follows), for
   * domain randomisation in `dataset --camera-jitter`; absent = the domain's own camera.
   */
  camera?: CameraOverride;
}

export interface CameraOverride {
  /** Mount height (m), 0.3..10. */
  height?: number;
  /** Horizontal field of view (rad), (0, pi). */
  hfov?: number;
  /** Pitch (rad, positive looks down), -0.5..0.5. */
  pitch?: number;
}

export interface CameraFrame {
  camera: CameraName;
  width: number;
  height: number;
  /** RGB, 8 bits per channel, row-major HWC. */
  rgb: Uint8Array;
  /** 0 background, 1 lane marking, 2 drivable road surface. */
  lane: Uint8Array;
  /** Metres along the optical axis; sky and anything farther than FAR_DEPTH read FAR_DEPTH. */
  depth: Float32Array;
  boxes: GtBox[];
  intrinsics: Intrinsics;
  mount: Mount;
  /** Stable actor id per pixel (0 none); null unless `instances` was asked for. */
  instances: Int32Array | null;
}

export interface SimFrame {
  index: number;
  stampNs: bigint;
  cameras: CameraFrame[];
}

interface Resolved {
  seed: number;
  domain: Domain;
  width: number;
  height: number;
  cameras: CameraName[];
  rateHz: number;
  instances: boolean;
  camera: CameraOverride | null;
}

function bad(field: string, message: string): PerceptionError {
  return new PerceptionError('INVALID_ARGUMENT', `${field} ${message}`, { field });
}

export function resolveOptions(opts: SimOptions): Resolved {
  if (opts === null || typeof opts !== 'object') throw bad('options', 'must be an object');
  if (!Number.isSafeInteger(opts.seed)) throw bad('seed', `must be a safe integer, got ${String(opts.seed)}`);
  assertDomain(opts.domain);
  const size = (field: 'width' | 'height', fallback: number): number => {
    const v = opts[field] ?? fallback;
    if (!Number.isInteger(v) || v < 16 || v > 8192) throw bad(field, `must be an integer in [16, 8192], got ${String(v)}`);
    return v;
  };
  const rateHz = opts.rateHz ?? 30;
  if (typeof rateHz !== 'number' || !Number.isFinite(rateHz) || rateHz <= 0 || rateHz > 1000) {
    throw bad('rateHz', `must be a number in (0, 1000], got ${String(rateHz)}`);
  }
  const cameras = opts.cameras ?? ['front'];
  if (!Array.isArray(cameras) || cameras.length === 0) throw bad('cameras', 'must be a non-empty array');
  for (const c of cameras) {
    if (!CAMERA_NAMES.includes(c)) throw bad('cameras', `has unknown camera '${String(c)}' (allowed: ${CAMERA_NAMES.join(', ')})`);
  }
  if (new Set(cameras).size !== cameras.length) throw bad('cameras', 'must not repeat a camera');
  let camera: CameraOverride | null = null;
  if (opts.camera !== undefined) {
    const c = opts.camera;
    if (c === null || typeof c !== 'object') throw bad('camera', 'must be an object { height?, hfov?, pitch? }');
    const num = (field: keyof CameraOverride, lo: number, hi: number): number | undefined => {
      const v = c[field];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= lo || v >= hi) throw bad(`camera.${field}`, `must be a number in (${lo}, ${hi}), got ${String(v)}`);
      return v;
    };
    camera = { height: num('height', 0.3, 10), hfov: num('hfov', 0, Math.PI), pitch: num('pitch', -0.5, 0.5) };
  }
  return { seed: opts.seed, domain: opts.domain, width: size('width', 1280), height: size('height', 720), cameras: [...cameras], rateHz, instances: opts.instances === true, camera };
}

export class Simulation {
  readonly options: Readonly<Resolved>;
  readonly world: World;
  readonly look: Look;
  private readonly tex: Float32Array;
  private readonly table = new RoadTable(440);
  private readonly renderers = new Map<CameraName, ViewRenderer>();
  private cursor = 0;

  private constructor(opts: Resolved) {
    this.options = opts;
    this.world = new World(opts.seed >>> 0);
    const look = makeLook(opts.domain, opts.seed >>> 0);
    const c = opts.camera;
    this.look = c ? { ...look, cameraHeight: c.height ?? look.cameraHeight, hfov: c.hfov ?? look.hfov, pitch: c.pitch ?? look.pitch } : look;
    this.tex = makeNoiseTile(hash32(opts.seed >>> 0, 0x7e));
    for (const c of opts.cameras) this.renderers.set(c, new ViewRenderer(opts.width, opts.height));
  }

  static create(opts: SimOptions): Simulation {
    return new Simulation(resolveOptions(opts));
  }

  /** The camera model of `name` at frame `index` (pose follows the ego). */
  camera(name: CameraName, index: number): Camera {
    const { width, height } = this.options;
    const ego = this.world.egoPose(this.timeOf(index));
    return mountedCamera(width, height, this.look.hfov, this.mount(name), ego);
  }

  mount(name: CameraName): Mount {
    return rigMount(name, { height: this.look.cameraHeight, pitch: this.look.pitch });
  }

  timeOf(index: number): number {
    return index / this.options.rateHz;
  }

  /** The next frame of the sequence (starts at index 0). */
  next(): SimFrame {
    return this.frame(this.cursor++);
  }

  /** Frame `index`, independent of what was rendered before. */
  frame(index: number): SimFrame {
    if (!Number.isSafeInteger(index) || index < 0) throw bad('index', `must be a non-negative integer, got ${index}`);
    const t = this.timeOf(index);
    const scene = this.world.sceneAt(t);
    this.table.fill(this.world.road, scene.ego.x);
    const cameras: CameraFrame[] = this.options.cameras.map((name, ci) => {
      const cam = this.camera(name, index);
      const key = hash32(this.options.seed >>> 0, index, ci, 0xf4a3e);
      const lensKey = hash32(this.options.seed >>> 0, ci, 0x1e25);
      const out = this.renderers.get(name)!.render(cam, this.world, scene, this.look, this.table, this.tex, key, this.options.instances, lensKey);
      return { camera: name, width: cam.width, height: cam.height, intrinsics: { ...cam.intrinsics }, mount: this.mount(name), ...out };
    });
    return { index, stampNs: BigInt(Math.round((index * 1e9) / this.options.rateHz)), cameras };
  }
}
