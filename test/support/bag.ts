import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleCameraInfo, sampleCompressedImage, sampleDepthImage, sampleDetections, sampleHeader, sampleRgbImage } from '../../src/msgs/samples.js';
import type { BagMessage, BagReader, BagWriter, ReadOptions } from '../../src/bag/types.js';

/** A fresh folder under the OS temp dir, removed after `fn`. */
export async function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ap-bag-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const SEC = 1_000_000_000n;
export const T0 = 1_700_000_000n * SEC;

/** One camera's worth of every message we construct, 3 frames 100 ms apart. */
export function fixtureMessages(): { topic: string; type: string; t: bigint; msg: unknown }[] {
  const out: { topic: string; type: string; t: bigint; msg: unknown }[] = [];
  for (let i = 0; i < 3; i++) {
    const t = T0 + BigInt(i) * 100_000_000n;
    const h = sampleHeader(1_700_000_000, i * 100_000_000, 'cam');
    out.push(
      { topic: '/cam/image_raw', type: 'sensor_msgs/msg/Image', t, msg: sampleRgbImage(4, 3, i, h) },
      { topic: '/cam/image_raw/compressed', type: 'sensor_msgs/msg/CompressedImage', t, msg: sampleCompressedImage(h) },
      { topic: '/cam/camera_info', type: 'sensor_msgs/msg/CameraInfo', t, msg: sampleCameraInfo(h) },
      { topic: '/gt/cam/depth', type: 'sensor_msgs/msg/Image', t: t + 1n, msg: sampleDepthImage(4, 2, h) },
      { topic: '/gt/cam/detections', type: 'vision_msgs/msg/Detection2DArray', t: t + 2n, msg: sampleDetections(h) },
    );
  }
  return out;
}

export async function writeAll(writer: BagWriter, msgs: ReturnType<typeof fixtureMessages>): Promise<void> {
  for (const m of msgs) await writer.addTopic(m.topic, m.type);
  for (const m of msgs) await writer.write(m.topic, m.t, m.msg);
  await writer.close();
}

export async function collect(reader: BagReader, opts?: ReadOptions): Promise<BagMessage[]> {
  const out: BagMessage[] = [];
  for await (const m of reader.messages(opts)) out.push(m);
  return out;
}

/** Rejects if `p` takes longer than `ms`: corrupt-input tests must never hang. */
export function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
