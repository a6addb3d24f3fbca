import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { McapIndexedReader } from '@mcap/core';
import { FileHandleReadable } from '@mcap/nodejs';
import { loadCodecs } from './compression.js';
import { describe, expect, it } from 'vitest';
import { plain } from '../msgs/samples.js';
import { McapBagWriter } from './mcap-writer.js';
import { openBag } from './reader.js';
import { ros1DefinitionFor } from './ros1-convert.js';
import { Ros1BagWriter } from './ros1-writer.js';
import { collect, fixtureMessages, T0, withTmp, writeAll } from '../../test/support/bag.js';
import type { BagWriter } from './types.js';

const formats: { name: string; ext: string; format: 'mcap' | 'ros1'; compression?: string; open: (p: string) => Promise<BagWriter> }[] = [
  { name: 'MCAP zstd', ext: 'mcap', format: 'mcap', compression: 'zstd', open: (p) => McapBagWriter.open(p) },
  { name: 'MCAP lz4', ext: 'mcap', format: 'mcap', compression: 'lz4', open: (p) => McapBagWriter.open(p, { compression: 'lz4', chunkSize: 300 }) },
  { name: 'MCAP none', ext: 'mcap', format: 'mcap', compression: 'none', open: (p) => McapBagWriter.open(p, { compression: 'none' }) },
  { name: 'ROS 1', ext: 'bag', format: 'ros1', open: (p) => Ros1BagWriter.open(p, { chunkSize: 500 }) },
];

describe.each(formats)('$name write → read', ({ ext, format, compression, open }) => {
  it('deep-equals every message, in log-time order, with per-topic indices', () =>
    withTmp(async (dir) => {
      const path = join(dir, `x.${ext}`);
      const written = fixtureMessages();
      await writeAll(await open(path), written);
      const reader = await openBag(path);
      try {
        expect(reader.format).toBe(format);
        const read = await collect(reader);
        const expected = [...written].sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
        expect(read.map((m) => [m.topic, m.type, m.logTimeNs])).toEqual(expected.map((m) => [m.topic, m.type, m.t]));
        for (let i = 0; i < read.length; i++) expect(plain(read[i].msg), read[i].topic).toEqual(plain(expected[i].msg));
        expect(read.filter((m) => m.topic === '/cam/image_raw').map((m) => m.index)).toEqual([0, 1, 2]);
      } finally {
        await reader.close();
        await reader.close(); // idempotent
      }
    }));

  it('reports info: counts, types, duration, compression', () =>
    withTmp(async (dir) => {
      const path = join(dir, `x.${ext}`);
      await writeAll(await open(path), fixtureMessages());
      const reader = await openBag(path);
      const info = reader.info();
      await reader.close();
      expect(info).toMatchObject({ path, format, messageCount: 15, startNs: T0, endNs: T0 + 200_000_002n, durationNs: 200_000_002n });
      expect(info.topics).toEqual([
        { topic: '/cam/camera_info', type: 'sensor_msgs/msg/CameraInfo', count: 3 },
        { topic: '/cam/image_raw', type: 'sensor_msgs/msg/Image', count: 3 },
        { topic: '/cam/image_raw/compressed', type: 'sensor_msgs/msg/CompressedImage', count: 3 },
        { topic: '/gt/cam/depth', type: 'sensor_msgs/msg/Image', count: 3 },
        { topic: '/gt/cam/detections', type: 'vision_msgs/msg/Detection2DArray', count: 3 },
      ]);
      if (compression) expect(info.compression).toBe(compression);
    }));

  it('filters by topic and by inclusive time range', () =>
    withTmp(async (dir) => {
      const path = join(dir, `x.${ext}`);
      await writeAll(await open(path), fixtureMessages());
      const reader = await openBag(path);
      try {
        const depth = await collect(reader, { topics: ['/gt/cam/depth', '/nope'] });
        expect(depth.map((m) => m.logTimeNs)).toEqual([T0 + 1n, T0 + 100_000_001n, T0 + 200_000_001n]);
        const mid = await collect(reader, { startNs: T0 + 100_000_000n, endNs: T0 + 100_000_001n });
        expect(mid.map((m) => m.topic).sort()).toEqual(['/cam/camera_info', '/cam/image_raw', '/cam/image_raw/compressed', '/gt/cam/depth']);
        expect(mid.find((m) => m.topic === '/cam/image_raw')?.index).toBe(0); // counted within this iteration
        expect(await collect(reader, { topics: ['/nope'] })).toEqual([]);
      } finally {
        await reader.close();
      }
    }));
});

describe('ROS 1 definitions', () => {
  it('match the real ROS 1 md5sums for types whose layout ROS 2 kept', () => {
    expect(ros1DefinitionFor('std_msgs/msg/Header').md5sum).toBe('2176decaecbce78abc3b96ef049fabed');
    expect(ros1DefinitionFor('sensor_msgs/msg/Image').md5sum).toBe('060021388200f6f0f447d0fcd9c64743');
    expect(ros1DefinitionFor('sensor_msgs/msg/CompressedImage').md5sum).toBe('8f7a12909da2c9d3332d540a0977563f');
    expect(ros1DefinitionFor('sensor_msgs/msg/CameraInfo').md5sum).toBe('c9a58c1b0b154e0e6da7578cb991d214');
    expect(ros1DefinitionFor('sensor_msgs/msg/CameraInfo').text).toContain('float64[9] K\n');
  });
});

describe('MCAP layout', () => {
  it('uses the ros2 profile, ros2msg schemas, cdr messages, and writes chunk indexes and statistics', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      await writeAll(await McapBagWriter.open(path, { chunkSize: 500 }), fixtureMessages());
      const fh = await openFile(path, 'r');
      try {
        const r = await McapIndexedReader.Initialize({ readable: new FileHandleReadable(fh), decompressHandlers: (await loadCodecs()).decompressHandlers });
        expect(r.header.profile).toBe('ros2');
        expect([...r.schemasById.values()].every((s) => s.encoding === 'ros2msg' && s.name.includes('/msg/'))).toBe(true);
        expect([...r.channelsById.values()].every((c) => c.messageEncoding === 'cdr')).toBe(true);
        expect(r.chunkIndexes.length).toBeGreaterThan(1);
        expect(r.chunkIndexes.every((c) => c.compression === 'zstd')).toBe(true);
        expect(r.statistics?.messageCount).toBe(15n);
      } finally {
        await fh.close();
      }
    }));

  it('rejects bad writer calls with named errors', () =>
    withTmp(async (dir) => {
      await expect(McapBagWriter.open(join(dir, 'a.mcap'), { compression: 'gzip' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      const w = await McapBagWriter.open(join(dir, 'b.mcap'));
      await expect(w.addTopic('/x', 'foo_msgs/msg/Bar')).rejects.toMatchObject({ code: 'UNKNOWN_MESSAGE_TYPE' });
      await expect(w.write('/nope', 1n, {})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', context: { topic: '/nope' } });
      await w.addTopic('/s', 'std_msgs/msg/String');
      await w.close();
      await w.close();
      await expect(w.write('/s', 2n, { data: 'late' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }));
});
