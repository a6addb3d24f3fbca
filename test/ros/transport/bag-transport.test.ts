import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { McapWriter } from '@mcap/core';
import { FileHandleWritable } from '@mcap/nodejs';
import { describe, expect, it } from 'vitest';
import { openBag } from '../../../src/bag/index.js';
import { withTmp } from '../../support/bag.js';
import { codecFor, definitionFor, type Image } from '../../../src/msgs/index.js';
import { sampleHeader, sampleRgbImage } from '../../../src/msgs/samples.js';
import { BagTransport } from '../../../src/ros/transport/index.js';
import { runTransportContract, type FeedItem, type Harness } from './transport.contract.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

/** Writes the feed as an MCAP; a corrupt item becomes bytes that do not decode as its type. */
async function writeFeed(path: string, feed: FeedItem[]): Promise<void> {
  const fh = await open(path, 'w');
  const w = new McapWriter({ writable: new FileHandleWritable(fh), useChunks: true, chunkSize: 1024 });
  await w.start({ profile: 'ros2', library: 'test' });
  const channels = new Map<string, number>();
  for (const f of feed) {
    if (channels.has(f.topic)) continue;
    const schemaId = await w.registerSchema({ name: f.type, encoding: 'ros2msg', data: new TextEncoder().encode(definitionFor(f.type)) });
    channels.set(f.topic, await w.registerChannel({ topic: f.topic, schemaId, messageEncoding: 'cdr', metadata: new Map() }));
  }
  let seq = 0;
  for (const f of feed) {
    const data = f.corrupt ? Uint8Array.of(0, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f) : codecFor(f.type).serialize(f.msg);
    await w.addMessage({ channelId: channels.get(f.topic)!, sequence: seq++, logTime: f.timeNs, publishTime: f.timeNs, data });
  }
  await w.end();
  await fh.close();
}

const harness: Harness = {
  name: 'BagTransport',
  async create(feed, onEvent) {
    const dir = await mkdtemp(join(tmpdir(), 'ap-transport-'));
    const input = join(dir, 'in.mcap');
    const output = join(dir, 'out.mcap');
    await writeFeed(input, feed);
    const transport = await BagTransport.open({ input, output, onEvent });
    return {
      transport,
      drive: async () => void (await transport.play({ rate: 'fast' })),
      async published() {
        const reader = await openBag(output);
        const out: { topic: string; type: string; msg: unknown }[] = [];
        for await (const m of reader.messages()) out.push({ topic: m.topic, type: m.type, msg: structuredClone(m.msg) });
        await reader.close();
        return out;
      },
      nativeQos: () => undefined,
      nativeCounts: () => ({ subscriptions: 0, publishers: 0 }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

runTransportContract(harness);

describe('BagTransport specifics', () => {
  const feed = (n: number, gapNs: bigint) =>
    Array.from({ length: n }, (_, i) => ({
      topic: '/cam/image_raw',
      type: 'sensor_msgs/msg/Image',
      timeNs: 1_700_000_000_000_000_000n + BigInt(i) * gapNs,
      msg: sampleRgbImage(4, 3, i + 1, sampleHeader(1_700_000_000, i, 'cam')),
    }));

  it('fast mode waits for each handler promise (backpressure); sim clock is the log time; publications are logged at it', () =>
    withTmp(async (dir) => {
      const f = feed(3, 1_000_000n);
      await writeFeed(join(dir, 'in.mcap'), f);
      const t = await BagTransport.open({ input: join(dir, 'in.mcap'), output: join(dir, 'out.mcap') });
      expect(t.clock.source).toBe('sim');
      const pub = t.advertise('cam/perception/overlay', 'sensor_msgs/msg/Image');
      let busy = false;
      const receive: bigint[] = [];
      t.subscribe<Image>('/cam/image_raw', 'sensor_msgs/msg/Image', async (img, info) => {
        expect(busy).toBe(false);
        busy = true;
        receive.push(info.receiveTimeNs);
        expect(t.clock.now()).toBe(info.sourceTimeNs);
        pub.publish(img);
        await new Promise((r) => setTimeout(r, 5));
        busy = false;
      });
      const summary = await t.play();
      expect(summary).toEqual({ read: 3, delivered: 3, skipped: 0, stopped: false });
      expect(receive).toEqual(f.map((x) => x.timeNs));
      await t.dispose();
      const reader = await openBag(join(dir, 'out.mcap'));
      const times: bigint[] = [];
      for await (const m of reader.messages()) times.push(m.logTimeNs);
      await reader.close();
      expect(times).toEqual(f.map((x) => x.timeNs));
    }));

  it('rate paces delivery by log time (×rate) without waiting for handlers', () =>
    withTmp(async (dir) => {
      await writeFeed(join(dir, 'in.mcap'), feed(3, 40_000_000n));
      const t = await BagTransport.open({ input: join(dir, 'in.mcap') });
      const at: number[] = [];
      t.subscribe('/cam/image_raw', 'sensor_msgs/msg/Image', () => void at.push(performance.now()));
      const t0 = performance.now();
      await t.play({ rate: 2 });
      await t.dispose();
      // 40 ms gaps at ×2: message i is never delivered before t0 + i × 20 ms. Consecutive gaps may
      // be shorter (a late delivery is followed by a catch-up), so the bound is from the start;
      // 1 ms of slack for timer granularity. Lower bound only: behaviour, not a benchmark.
      expect(at).toHaveLength(3);
      expect(at[1] - t0).toBeGreaterThanOrEqual(19);
      expect(at[2] - t0).toBeGreaterThanOrEqual(39);
    }));

  it('dispose() during a timed replay stops it early; a bad rate is refused', () =>
    withTmp(async (dir) => {
      await writeFeed(join(dir, 'in.mcap'), feed(3, 10_000_000_000n));
      const t = await BagTransport.open({ input: join(dir, 'in.mcap') });
      await expect(t.play({ rate: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', context: { field: 'rate' } });
      let calls = 0;
      t.subscribe('/cam/image_raw', 'sensor_msgs/msg/Image', () => void calls++);
      const playing = t.play({ rate: 1 });
      await new Promise((r) => setTimeout(r, 20));
      await t.dispose();
      await expect(playing).resolves.toMatchObject({ stopped: true });
      expect(calls).toBe(1);
    }));

  it('a topic subscribed with the wrong type is reported once and not delivered', () =>
    withTmp(async (dir) => {
      await writeFeed(join(dir, 'in.mcap'), feed(2, 1n));
      const events: string[] = [];
      const t = await BagTransport.open({ input: join(dir, 'in.mcap'), onEvent: (e) => events.push(`${e.kind} ${e.topic}`) });
      let calls = 0;
      t.subscribe('/cam/image_raw', 'sensor_msgs/msg/CompressedImage', () => void calls++);
      await t.play();
      await t.dispose();
      expect(calls).toBe(0);
      expect(events).toEqual(['decode_error /cam/image_raw']);
    }));
});
