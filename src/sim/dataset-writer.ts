/**
 * `dataset`: renders labelled frames from the synthetic world into flat binary shards that
 * the offline trainer reads with numpy.fromfile. Format: training/DATASET.md.
 */
import { mkdir, open, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { PerceptionError } from '../core/errors.js';
import { ACTOR_CLASSES, FAR_DEPTH, Rng, Simulation, assertDomain, deriveSeed, type Domain } from './index.js';

export interface DatasetOptions {
  out: string;
  domains: Domain[];
  /** Frames per domain. */
  frames: number;
  seed: number;
  width: number;
  height: number;
  /** Frames kept from each sequence (each sequence is a different world); default 8. */
  sequenceLength?: number;
  /** Rendered frames between kept frames, so kept frames are not near-duplicates; default 5 (6 Hz at 30 Hz). */
  stride?: number;
  /** Frames per shard; default 1000. */
  shardSize?: number;
  /**
   * Domain randomisation of the camera geometry: each sequence draws its own mount height
   * (1.1-2.4 m), horizontal field of view (45-110°) and pitch (-0.03-0.12 rad) from its seed,
   * instead of the domain's camera. Default false (the domain's camera, as before).
   */
  cameraJitter?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export const DATASET_FORMAT_VERSION = 1;

interface Shard {
  dir: string;
  count: number;
  images: FileHandle;
  seg: FileHandle;
  depth: FileHandle;
  boxes: unknown[];
  frames: unknown[];
}

function bad(field: string, message: string): PerceptionError {
  return new PerceptionError('INVALID_ARGUMENT', `${field} ${message}`, { field });
}

/** The camera a jittered sequence gets (see DatasetOptions.cameraJitter). */
export function jitteredCamera(seqSeed: number): { height: number; hfov: number; pitch: number } {
  const rng = new Rng(deriveSeed(seqSeed, 'camera-jitter'));
  return { height: rng.range(1.1, 2.4), hfov: (rng.range(45, 110) * Math.PI) / 180, pitch: rng.range(-0.03, 0.12) };
}

function validate(opts: DatasetOptions): Required<Omit<DatasetOptions, 'onProgress'>> {
  if (typeof opts.out !== 'string' || opts.out.length === 0) throw bad('out', 'must be a non-empty path');
  if (!Array.isArray(opts.domains) || opts.domains.length === 0) throw bad('domains', 'must be a non-empty list');
  opts.domains.forEach((d) => assertDomain(d, 'domains'));
  const int = (field: string, v: number | undefined, fallback: number, min: number, max: number): number => {
    const x = v ?? fallback;
    if (!Number.isSafeInteger(x) || x < min || x > max) throw bad(field, `must be an integer in [${min}, ${max}], got ${String(x)}`);
    return x;
  };
  return {
    out: opts.out,
    domains: [...opts.domains],
    frames: int('frames', opts.frames, 0, 1, 10_000_000),
    seed: int('seed', opts.seed, 0, 0, Number.MAX_SAFE_INTEGER),
    width: int('width', opts.width, 0, 16, 8192),
    height: int('height', opts.height, 0, 16, 8192),
    sequenceLength: int('sequenceLength', opts.sequenceLength, 8, 1, 100_000),
    stride: int('stride', opts.stride, 5, 1, 1000),
    shardSize: int('shardSize', opts.shardSize, 1000, 1, 100_000),
    cameraJitter: opts.cameraJitter === true,
  };
}

/** Little-endian bytes of a float32 array (a view when the host is little-endian). */
function float32LE(a: Float32Array): Uint8Array {
  if (endianness() === 'LE') return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat32(i * 4, a[i], true);
  return out;
}

async function openShard(root: string, index: number): Promise<Shard> {
  const dir = `shard-${String(index).padStart(4, '0')}`;
  await mkdir(join(root, dir), { recursive: true });
  const [images, seg, depth] = await Promise.all(['images.u8', 'seg.u8', 'depth.f32'].map((f) => open(join(root, dir, f), 'w')));
  return { dir, count: 0, images, seg, depth, boxes: [], frames: [] };
}

async function closeShard(root: string, s: Shard): Promise<void> {
  await Promise.all([s.images.close(), s.seg.close(), s.depth.close()]);
  await writeFile(join(root, s.dir, 'boxes.json'), JSON.stringify(s.boxes));
  await writeFile(join(root, s.dir, 'frames.json'), JSON.stringify(s.frames));
}

export async function writeDataset(options: DatasetOptions): Promise<void> {
  const o = validate(options);
  await mkdir(o.out, { recursive: true });
  const total = o.frames * o.domains.length;
  const shards: { dir: string; count: number }[] = [];
  let shard: Shard | null = null;
  let done = 0;
  try {
    for (const domain of o.domains) {
      for (let seq = 0, kept = 0; kept < o.frames; seq++) {
        // each sequence is a different world; offsets vary where in it the sequence starts
        const seqSeed = deriveSeed(o.seed, `sequence:${domain}`, seq);
        const sim = Simulation.create({ seed: seqSeed, domain, width: o.width, height: o.height, ...(o.cameraJitter ? { camera: jitteredCamera(seqSeed) } : {}) });
        const start = seqSeed % 300;
        for (let k = 0; k < o.sequenceLength && kept < o.frames; k++, kept++) {
          const index = start + k * o.stride;
          const cam = sim.frame(index).cameras[0];
          if (shard === null || shard.count >= o.shardSize) {
            if (shard) await closeShard(o.out, shard);
            shard = await openShard(o.out, shards.length);
            shards.push({ dir: shard.dir, count: 0 });
          }
          await shard.images.write(cam.rgb);
          await shard.seg.write(cam.lane);
          await shard.depth.write(float32LE(cam.depth));
          // cls is the index into meta.classes (what training/fake_dataset.py writes); name is for people
          shard.boxes.push(cam.boxes.map((b) => ({ cls: ACTOR_CLASSES.indexOf(b.cls), name: b.cls, x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1, occlusion: Number(b.occlusion.toFixed(4)), truncated: b.truncated })));
          // camera geometry of the frame (focal lengths in pixels, mount height m, pitch rad): what
          // focal-length-normalised depth training needs
          const { fx, fy, cx, cy } = cam.intrinsics;
          shard.frames.push({ domain, seed: seqSeed, index, fx, fy, cx, cy, cameraHeight: cam.mount.height, pitch: cam.mount.pitch, ...(o.cameraJitter ? { cameraJitter: true } : {}) });
          shard.count++;
          shards[shards.length - 1].count = shard.count;
          options.onProgress?.(++done, total);
        }
      }
    }
  } finally {
    if (shard) await closeShard(o.out, shard);
  }
  const meta = {
    version: DATASET_FORMAT_VERSION,
    width: o.width,
    height: o.height,
    count: done,
    classes: ACTOR_CLASSES,
    segClasses: ['background', 'lane_marking', 'drivable'],
    depth: { unit: 'm', dtype: 'float32', endian: 'little', far: FAR_DEPTH },
    boxes: 'cls = index into classes; pixel boxes, x0/y0 inclusive, x1/y1 exclusive; occlusion = 1 - visible/unoccluded pixels',
    generator: 'src/cli/dataset.ts',
    domains: o.domains,
    seed: o.seed,
    sequenceLength: o.sequenceLength,
    stride: o.stride,
    cameraJitter: o.cameraJitter,
    shards,
  };
  // meta.json last and atomically: a directory without it is an interrupted export
  const tmp = join(o.out, 'meta.json.tmp');
  await writeFile(tmp, JSON.stringify(meta, null, 2));
  await rename(tmp, join(o.out, 'meta.json'));
}
