import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { McapIndexedReader, McapWriter, type McapTypes } from '@mcap/core';
import { FileHandleReadable, FileHandleWritable } from '@mcap/nodejs';
import { describe, expect, it } from 'vitest';
import { PerceptionError } from '../core/errors.js';
import { codecFor, definitionFor } from '../msgs/registry.js';
import { sampleRgbImage } from '../msgs/samples.js';
import { McapBagReader } from './mcap-reader.js';
import { McapBagWriter } from './mcap-writer.js';
import { openBag as openBagHere } from './reader.js';
import { ThreadedBagReader } from './threaded-reader.js';
import { Ros1BagWriter } from './ros1-writer.js';
import { collect, fixtureMessages, T0, withTmp, within, writeAll } from '../../test/support/bag.js';
import type { BagMessage, BagReader } from './types.js';

type Opener = (path: string) => Promise<BagReader>;

/** Opens and drains a bag; returns what was read and the error that ended it, if any. */
async function drain(path: string, openBag: Opener): Promise<{ read: BagMessage[]; error?: unknown }> {
  const read: BagMessage[] = [];
  try {
    const reader = await openBag(path);
    try {
      for await (const m of reader.messages()) read.push(m);
    } finally {
      await reader.close();
    }
    return { read };
  } catch (error) {
    return { read, error };
  }
}

/** 12 std_msgs/String messages 'crc-probe-NNNN', about three to a chunk; returns the path. */
async function writeProbes(path: string, compression: 'none' | 'zstd'): Promise<string> {
  const writer = await McapBagWriter.open(path, { compression, chunkSize: 100 });
  await writer.addTopic('/probe', 'std_msgs/msg/String');
  for (let i = 0; i < 12; i++) await writer.write('/probe', T0 + BigInt(i), { data: `crc-probe-${String(i).padStart(4, '0')}` });
  await writer.close();
  return path;
}

// The same contract in the reading thread and behind a reader thread (ThreadedBagReader).
const OPENERS: [string, Opener][] = [
  ['in-thread', openBagHere],
  ['reader thread', (path) => ThreadedBagReader.open(path)],
];

describe.each(OPENERS)('corrupt and unsupported input (%s)', (_name, openBag) => {
  it('truncated MCAP, cut at many points: a clear error naming the file, the readable prefix, no hang', () =>
    withTmp(async (dir) => {
      const full = join(dir, 'full.mcap');
      await writeAll(await McapBagWriter.open(full, { compression: 'none', chunkSize: 400 }), fixtureMessages());
      const bytes = await readFile(full);
      const complete = (await drain(full, openBag)).read;
      expect(complete).toHaveLength(15);
      const cuts = [3, 8, 40, Math.floor(bytes.length / 3), Math.floor(bytes.length / 2), bytes.length - 200, bytes.length - 30, bytes.length - 1];
      for (const cut of cuts) {
        const path = join(dir, `cut-${cut}.mcap`);
        await writeFile(path, bytes.subarray(0, cut));
        const { read, error } = await within(5000, drain(path, openBag));
        expect(error, `cut at ${cut}`).toBeInstanceOf(PerceptionError);
        const e = error as PerceptionError;
        expect(e.code, `cut at ${cut}`).toBe('BAG_TRUNCATED');
        expect(e.context.file).toBe(path);
        expect(e.message).toContain(path);
        expect(read.map((m) => m.logTimeNs)).toEqual(complete.slice(0, read.length).map((m) => m.logTimeNs));
      }
      // The cut near the end still yields everything before the summary.
      const late = join(dir, `cut-${bytes.length - 1}.mcap`);
      expect((await drain(late, openBag)).read).toHaveLength(15);
      const reader = await openBag(late);
      expect(reader.info()).toMatchObject({ truncated: true, messageCount: 15 });
      await reader.close();
    }));

  it('flipped bytes inside a chunk → BAG_CORRUPT, not a crash', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      await writeAll(await McapBagWriter.open(path, { compression: 'zstd' }), fixtureMessages());
      const bytes = await readFile(path);
      for (let i = 200; i < 260; i++) bytes[i] ^= 0x5a;
      await writeFile(path, bytes);
      const { error } = await within(5000, drain(path, openBag));
      expect(error).toBeInstanceOf(PerceptionError);
      expect(['BAG_CORRUPT', 'BAG_TRUNCATED']).toContain((error as PerceptionError).code);
      expect((error as Error).message).toContain(path);
    }));

  it('a byte changed inside an uncompressed chunk → BAG_CORRUPT from the chunk CRC, indexed or streamed', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      const bytes = await readFile(await writeProbes(path, 'none'));
      // The message still decodes after the change: only the CRC can tell.
      const at = bytes.indexOf('crc-probe-0007');
      expect(at).toBeGreaterThan(0);
      bytes[at + 13] ^= 0x40; // 'crc-probe-000w'
      await writeFile(path, bytes);
      const cut = join(dir, 'cut.mcap'); // no summary: read by the streaming scan
      await writeFile(cut, bytes.subarray(0, bytes.length - 100));
      for (const p of [path, cut]) {
        const { read, error } = await within(5000, drain(p, openBag));
        expect(error, p).toMatchObject({ name: 'PerceptionError', code: 'BAG_CORRUPT', context: { file: p } });
        expect((error as Error).message).toMatch(/crc/i);
        const texts = read.map((m) => (m.msg as { data: string }).data);
        expect(texts).toEqual(texts.filter((t) => t < 'crc-probe-0007'));
      }
    }));

  it('a zstd chunk announcing the wrong uncompressed size → BAG_CORRUPT naming both sizes', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      await writeProbes(path, 'zstd');
      const fh = await open(path, 'r');
      const { chunkIndexes } = await McapIndexedReader.Initialize({ readable: new FileHandleReadable(fh) });
      await fh.close();
      const bytes = await readFile(path);
      const sizeAt = Number(chunkIndexes[1].chunkStartOffset) + 9 + 16; // opcode, length, start and end time
      const size = bytes.readBigUInt64LE(sizeAt);
      bytes.writeBigUInt64LE(size + 8n, sizeAt);
      await writeFile(path, bytes);
      const { read, error } = await within(5000, drain(path, openBag));
      expect(error).toMatchObject({ name: 'PerceptionError', code: 'BAG_CORRUPT', context: { file: path } });
      expect((error as Error).message).toContain(`announces ${size + 8n}`);
      expect(read.length).toBeGreaterThan(0); // the first chunk was fine
    }));

  it('truncated ROS 1 bag → BAG_TRUNCATED naming the file', () =>
    withTmp(async (dir) => {
      const full = join(dir, 'full.bag');
      await writeAll(await Ros1BagWriter.open(full), fixtureMessages());
      const bytes = await readFile(full);
      for (const cut of [20, 5000, bytes.length - 10]) {
        const path = join(dir, `cut-${cut}.bag`);
        await writeFile(path, bytes.subarray(0, cut));
        const { error } = await within(5000, drain(path, openBag));
        expect(error, `cut at ${cut}`).toBeInstanceOf(PerceptionError);
        expect(['BAG_TRUNCATED', 'BAG_CORRUPT']).toContain((error as PerceptionError).code);
        expect((error as Error).message).toContain(path);
      }
    }));

  it('random garbage and empty files → BAG_UNSUPPORTED naming the file', () =>
    withTmp(async (dir) => {
      for (const [name, data] of [['garbage.mcap', Uint8Array.from({ length: 5000 }, (_, i) => (i * 97 + 13) & 0xff)], ['empty.bag', new Uint8Array(0)]] as const) {
        const path = join(dir, name);
        await writeFile(path, data);
        const err = await openBag(path).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'BAG_UNSUPPORTED', context: { file: path } });
      }
      const missing = await openBag(join(dir, 'nope.mcap')).catch((e: unknown) => e);
      expect(missing).toMatchObject({ code: 'IO' });
    }));

  it('unknown schema → UNKNOWN_MESSAGE_TYPE, bad bytes → MESSAGE_DECODE, each naming topic and index; onError lets iteration go on', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'weird.mcap');
      const fh = await open(path, 'w');
      const w = new McapWriter({ writable: new FileHandleWritable(fh), chunkSize: 100 });
      await w.start({ profile: 'ros2', library: 'test' });
      const enc = new TextEncoder();
      const bogus = await w.registerSchema({ name: 'foo_msgs/msg/Bar', encoding: 'ros2msg', data: enc.encode('NoSuchType field') });
      const str = await w.registerSchema({ name: 'std_msgs/msg/String', encoding: 'ros2msg', data: enc.encode(definitionFor('std_msgs/msg/String')) });
      const weird = await w.registerChannel({ topic: '/weird', schemaId: bogus, messageEncoding: 'cdr', metadata: new Map() });
      const ok = await w.registerChannel({ topic: '/ok', schemaId: str, messageEncoding: 'cdr', metadata: new Map() });
      const good = codecFor('std_msgs/msg/String').serialize({ data: 'hi' });
      const bad = Uint8Array.of(0, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f);
      const msgs: [number, bigint, Uint8Array][] = [[weird, 1n, good], [ok, 2n, good], [ok, 3n, bad], [weird, 4n, good], [ok, 5n, good]];
      for (const [channelId, t, data] of msgs) await w.addMessage({ channelId, sequence: 0, logTime: t, publishTime: t, data });
      await w.end();
      await fh.close();

      const reader = await openBag(path);
      try {
        expect(reader.info().topics).toContainEqual({ topic: '/weird', type: 'foo_msgs/msg/Bar', count: 2 });
        const thrown = await collect(reader).catch((e: unknown) => e);
        expect(thrown).toMatchObject({ code: 'UNKNOWN_MESSAGE_TYPE', context: { file: path, topic: '/weird', index: 0 } });
        expect((thrown as Error).message).toContain('foo_msgs/msg/Bar');

        const errors: PerceptionError[] = [];
        const read = await collect(reader, { onError: (e) => errors.push(e) });
        expect(read.map((m) => [m.topic, m.index, (m.msg as { data: string }).data])).toEqual([['/ok', 0, 'hi'], ['/ok', 2, 'hi']]);
        expect(errors.map((e) => [e.code, e.context.topic, e.context.index])).toEqual([
          ['UNKNOWN_MESSAGE_TYPE', '/weird', 0],
          ['MESSAGE_DECODE', '/ok', 1],
          ['UNKNOWN_MESSAGE_TYPE', '/weird', 1],
        ]);
      } finally {
        await reader.close();
      }
    }));

  it('an iterator pulled after close() throws IO instead of reading a closed file', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      await writeAll(await McapBagWriter.open(path), fixtureMessages());
      const reader = await openBag(path);
      const it = reader.messages()[Symbol.asyncIterator]();
      expect((await it.next()).done).toBe(false);
      await reader.close();
      await expect(it.next()).rejects.toMatchObject({ code: 'IO' });
    }));
});

describe("@mcap/core's own read path (messageViews: false)", () => {
  it('reports the same chunk CRC failure as the view path', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      const bytes = await readFile(await writeProbes(path, 'none'));
      bytes[bytes.indexOf('crc-probe-0007') + 13] ^= 0x40;
      await writeFile(path, bytes);
      for (const messageViews of [true, false]) {
        const { error } = await within(5000, drain(path, (p) => McapBagReader.open(p, { messageViews })));
        expect(error, `messageViews ${messageViews}`).toMatchObject({ code: 'BAG_CORRUPT' });
        expect((error as Error).message).toMatch(/incorrect chunk crc/i);
      }
    }));
});

describe('pull-based reading', () => {
  it('two iterators pulled at once do not corrupt each other (each read gets its own buffer)', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'raw.mcap');
      const msgs = fixtureMessages();
      await writeAll(await McapBagWriter.open(path, { compression: 'none', chunkSize: 400 }), msgs);
      const reader = await openBagHere(path);
      try {
        const a = reader.messages()[Symbol.asyncIterator]();
        const b = reader.messages()[Symbol.asyncIterator]();
        const got: [bigint, bigint][] = [];
        for (let i = 0; i < msgs.length; i++) {
          const [x, y] = await Promise.all([a.next(), b.next()]);
          got.push([x.value!.logTimeNs, y.value!.logTimeNs]);
        }
        expect(got).toEqual(msgs.map((m) => [m.t, m.t]).sort((p, q) => (p[0] < q[0] ? -1 : p[0] > q[0] ? 1 : 0)));
      } finally {
        await reader.close();
      }
    }));

  it('reading the first message of a large MCAP reads a small part of the file', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'big.mcap');
      const writer = await McapBagWriter.open(path, { compression: 'none', chunkSize: 32 * 1024 });
      await writer.addTopic('/cam/image_raw', 'sensor_msgs/msg/Image');
      for (let i = 0; i < 80; i++) await writer.write('/cam/image_raw', T0 + BigInt(i), sampleRgbImage(64, 64, i));
      await writer.close();

      const fh = await open(path, 'r');
      const inner = new FileHandleReadable(fh);
      let bytesRead = 0;
      const spy: McapTypes.IReadable = {
        size: () => inner.size(),
        read: async (offset, size) => {
          bytesRead += Number(size);
          return inner.read(offset, size);
        },
      };
      const reader = await McapBagReader.fromReadable(path, spy);
      const it = reader.messages()[Symbol.asyncIterator]();
      const first = await it.next();
      const fileSize = Number(await inner.size());
      await it.return?.(undefined);
      await fh.close();
      expect(first.value?.index).toBe(0);
      expect(fileSize).toBeGreaterThan(900_000);
      expect(bytesRead).toBeLessThan(fileSize / 10);
    }));
});
