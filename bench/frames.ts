/**
 * The benchmark's frames: raw rgb8 1280x720 bags rendered once by the synthetic world (day
 * domain, fixed seeds) into bench/.cache/, and the frames of a bag held in memory for the
 * floor loop and written back to back into a file for the Python peers.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openBag } from '../src/bag/reader.js';
import { writeSimBag } from '../src/sim/bag-writer.js';
import type { Image } from '../src/msgs/index.js';
import type { CameraName } from '../src/sim/index.js';

export const CACHE = join(import.meta.dirname, '.cache');

export interface BagSpec {
  cameras: CameraName[];
  frames: number;
  seed: number;
  width: number;
  height: number;
  rateHz: number;
}

export const bagPath = (s: BagSpec) => join(CACHE, `day_${s.cameras.length}cam_${s.width}x${s.height}_${s.rateHz}hz_n${s.frames}_s${s.seed}.mcap`);

/** The bag for `spec`, rendered on first use (to a temporary name, renamed when complete). */
export async function ensureBag(spec: BagSpec, log: (l: string) => void): Promise<string> {
  const path = bagPath(spec);
  if (existsSync(path)) return path;
  await mkdir(CACHE, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}.mcap`;
  const t0 = performance.now();
  log(`bench: rendering ${spec.frames} frames x ${spec.cameras.length} camera(s) ${spec.width}x${spec.height} rgb8 -> ${path} (once; cached)`);
  try {
    await writeSimBag({
      out: tmp,
      domain: 'day',
      frames: spec.frames,
      seed: spec.seed,
      cameras: spec.cameras,
      width: spec.width,
      height: spec.height,
      rateHz: spec.rateHz,
      compressed: false,
      jpegQuality: 85,
      gtScale: 4,
    });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  log(`bench: rendered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return path;
}

/** Camera Image messages of a bag, in log order, each with its own copy of the bytes. */
export async function loadImages(bag: string, limit = Infinity): Promise<Image[]> {
  const reader = await openBag(bag);
  try {
    const topics = reader.info().topics.filter((t) => t.type === 'sensor_msgs/msg/Image' && t.topic.endsWith('/image_raw')).map((t) => t.topic);
    const out: Image[] = [];
    for await (const m of reader.messages({ topics })) {
      const img = m.msg as Image;
      out.push({ ...img, data: img.data.slice() }); // views into a shared chunk buffer: copy to keep
      if (out.length >= limit) break;
    }
    return out;
  } finally {
    await reader.close();
  }
}

/** Writes frames back to back as packed rgb8 (for bench/peers.py). */
export async function writeFramesFile(images: readonly Image[], path: string): Promise<void> {
  const { width, height } = images[0];
  const bytes = width * height * 3;
  const buf = Buffer.allocUnsafe(bytes * images.length);
  images.forEach((img, i) => {
    if (img.width !== width || img.height !== height || img.encoding !== 'rgb8' || img.step !== width * 3) {
      throw new Error(`frame ${i}: ${img.width}x${img.height} ${img.encoding} step ${img.step}; peers need packed rgb8 ${width}x${height}`);
    }
    buf.set(img.data.subarray(0, bytes), i * bytes);
  });
  await writeFile(path, buf);
}

/**
 * The same bag with uncompressed chunks (cached beside it): what replay costs when reading is
 * nearly free, as when frames come from a transport rather than a zstd-compressed file.
 */
export async function uncompressedCopy(bag: string, log: (l: string) => void): Promise<string> {
  const out = bag.replace(/\.mcap$/, '_nocomp.mcap');
  if (existsSync(out)) return out;
  const { McapBagWriter } = await import('../src/bag/mcap-writer.js');
  const tmp = `${out}.tmp-${process.pid}.mcap`;
  log(`bench: writing an uncompressed copy -> ${out} (once; cached)`);
  const reader = await openBag(bag);
  try {
    const writer = await McapBagWriter.open(tmp, { compression: 'none' });
    try {
      for (const t of reader.info().topics) await writer.addTopic(t.topic, t.type);
      for await (const m of reader.messages()) await writer.write(m.topic, m.logTimeNs, m.msg);
    } finally {
      await writer.close();
    }
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    await reader.close();
  }
  return out;
}

/** Reading cost alone: ms per camera frame to iterate every topic replay reads (camera + /gt). */
export async function bagReadMsPerFrame(bag: string): Promise<number> {
  const reader = await openBag(bag);
  try {
    const topics = reader.info().topics.filter((t) => !t.topic.endsWith('/camera_info')).map((t) => t.topic);
    let frames = 0;
    const t0 = performance.now();
    for await (const m of reader.messages({ topics })) if (m.topic.endsWith('/image_raw')) frames++;
    return (performance.now() - t0) / Math.max(1, frames);
  } finally {
    await reader.close();
  }
}
