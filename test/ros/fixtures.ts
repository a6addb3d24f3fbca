import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBag } from '../../src/bag/index.js';
import { writeSimBag } from '../../src/sim/bag-writer.js';
import type { Image } from '../../src/msgs/index.js';

export interface FeedItem {
  topic: string;
  type: string;
  timeNs: bigint;
  msg: unknown;
}

export const IMAGE = 'sensor_msgs/msg/Image';

export interface SimFeed {
  good: FeedItem[];
  bad: FeedItem[];
  /** The good frames again, a second later, in a driver's own optical frame (header frame_id `camera_color_optical_frame`), the last with an empty frame_id. */
  framed: FeedItem[];
}

let cached: Promise<SimFeed> | undefined;

/**
 * Three 160x96 rgb8 frames of the simulated front camera (read from a bag `writeSimBag`
 * writes, then copied out of the reader's buffers), and two bad frames stamped between the
 * first two: one whose data is shorter than step × height, one with a depth encoding; and the
 * good frames again in another frame_id (`framed`).
 */
export function simFeed(): Promise<SimFeed> {
  cached ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ap-node-feed-'));
    try {
      const bag = join(dir, 'sim.mcap');
      await writeSimBag({ out: bag, domain: 'day', frames: 3, seed: 1, cameras: ['front'], width: 160, height: 96, rateHz: 10, compressed: false, jpegQuality: 85, gtScale: 4 });
      const reader = await openBag(bag);
      const good: FeedItem[] = [];
      for await (const m of reader.messages({ topics: ['/front/image_raw'] })) good.push({ topic: m.topic, type: m.type, timeNs: m.logTimeNs, msg: structuredClone(m.msg) });
      await reader.close();
      const first = good[0].msg as Image;
      const stamp = (dNs: number) => ({ sec: first.header.stamp.sec, nanosec: first.header.stamp.nanosec + dNs });
      const short: Image = { ...first, header: { ...first.header, stamp: stamp(10_000_000) }, data: first.data.slice(0, 1000) };
      const depth: Image = { ...first, header: { ...first.header, stamp: stamp(20_000_000) }, encoding: '32FC1', step: 160 * 4, data: new Uint8Array(160 * 4 * 96) };
      const bad = [short, depth].map((msg, i) => ({ topic: '/front/image_raw', type: IMAGE, timeNs: good[0].timeNs + BigInt(i + 1) * 10_000_000n, msg }));
      const framed = good.map((f, i) => {
        const m = f.msg as Image;
        const frame_id = i < good.length - 1 ? 'camera_color_optical_frame' : '';
        return { ...f, timeNs: f.timeNs + 1_000_000_000n, msg: { ...m, header: { stamp: { ...m.header.stamp, sec: m.header.stamp.sec + 1 }, frame_id } } };
      });
      return { good, bad, framed };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return cached;
}

/** Waits until the node has no frame waiting or running (a live transport does not wait for us). */
export async function idle(pending: () => number, timeoutMs = 20_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (pending() > 0) {
    if (performance.now() > end) throw new Error('node did not go idle');
    await new Promise((r) => setTimeout(r, 2));
  }
}
