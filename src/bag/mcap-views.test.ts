import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { McapIndexedReader, McapWriter, type IWritable, type McapTypes } from '@mcap/core';
import { describe, expect, it } from 'vitest';
import { loadCodecs, type Compression } from './compression.js';
import { McapBagReader } from './mcap-reader.js';
import { chunksInOrder, readMessageViews, type ViewQuery } from './mcap-views.js';
import { McapBagWriter } from './mcap-writer.js';
import { collect, T0, withTmp } from '../../test/support/bag.js';

type Message = McapTypes.TypedMcapRecords['Message'];

const codecs = await loadCodecs();

/** In-memory file for McapWriter. */
class Memory implements IWritable {
  chunks: Uint8Array[] = [];
  #size = 0n;
  async write(buffer: Uint8Array): Promise<void> {
    this.chunks.push(buffer.slice());
    this.#size += BigInt(buffer.byteLength);
  }
  position(): bigint {
    return this.#size;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(Buffer.concat(this.chunks));
  }
}

/** Each read a fresh copy, as FreshReadable gives: views into it are never overwritten. */
function freshReadable(bytes: Uint8Array): McapTypes.IReadable {
  return { size: async () => BigInt(bytes.byteLength), read: async (offset, size) => bytes.slice(Number(offset), Number(offset + size)) };
}

/**
 * Three channels; message i of the plan gets `times[i]` and a payload of `sizes[i % sizes.length]`
 * bytes that spells its index. chunkSize decides where chunks end.
 */
async function writeMcap(times: bigint[], opts: { chunkSize: number; compression: Compression; sizes?: number[] }): Promise<Uint8Array> {
  const out = new Memory();
  const compress = opts.compression === 'none' ? undefined : codecs.compress[opts.compression];
  const w = new McapWriter({
    writable: out,
    chunkSize: opts.chunkSize,
    compressChunk: compress && ((data) => ({ compression: opts.compression, compressedData: compress(data) })),
  });
  await w.start({ profile: '', library: 'mcap-views.test' });
  const schema = await w.registerSchema({ name: 'raw', encoding: '', data: new Uint8Array() });
  const channels = [];
  for (const topic of ['/a', '/b', '/c']) channels.push(await w.registerChannel({ topic, schemaId: schema, messageEncoding: '', metadata: new Map() }));
  const sizes = opts.sizes ?? [5, 40, 300];
  for (let i = 0; i < times.length; i++) {
    const data = new Uint8Array(sizes[i % sizes.length]).fill(i & 0xff);
    new DataView(data.buffer).setUint32(0, i, true);
    await w.addMessage({ channelId: channels[i % 3], sequence: i, logTime: times[i], publishTime: times[i] + 7n, data });
  }
  await w.end();
  return out.bytes();
}

const byTime = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
const shape = (m: Message) => [m.channelId, m.sequence, m.logTime, m.publishTime, Buffer.from(m.data).toString('hex')];

async function both(bytes: Uint8Array, query: ViewQuery): Promise<{ views: Message[] | undefined; core: Message[] }> {
  const readable = freshReadable(bytes);
  const indexed = await McapIndexedReader.Initialize({ readable, decompressHandlers: codecs.decompressHandlers });
  const core: Message[] = [];
  for await (const m of indexed.readMessages(query)) core.push(m);
  const chunks = chunksInOrder(indexed, query);
  if (!chunks) return { views: undefined, core };
  const views: Message[] = [];
  for await (const m of readMessageViews(indexed, readable, codecs, chunks, query)) views.push(m);
  return { views, core };
}

const QUERIES: ViewQuery[] = [
  {},
  { topics: ['/b'] },
  { topics: ['/a', '/c'] },
  { topics: [] },
  { topics: ['/nope'] },
  { startTime: 20n },
  { endTime: 20n },
  { startTime: 20n, endTime: 20n },
  { startTime: 13n, endTime: 41n, topics: ['/c', '/b'] },
  { startTime: 1000n },
];

describe('readMessageViews: what @mcap/core readMessages yields, without its copies', () => {
  // Times rise with ties (three messages share each time), so chunk edges fall inside runs of equal times.
  const rising = Array.from({ length: 90 }, (_, i) => BigInt(10 + Math.floor(i / 3)));

  it.each(['none', 'zstd', 'lz4'] as const)('many small chunks in time order (%s): same messages, same order, every query', async (compression) => {
    const bytes = await writeMcap(rising, { chunkSize: 500, compression });
    for (const query of QUERIES) {
      const { views, core } = await both(bytes, query);
      expect(views, JSON.stringify(query, (_, v) => (typeof v === 'bigint' ? `${v}` : v))).toBeDefined();
      expect(views!.map(shape)).toEqual(core.map(shape));
    }
    const indexed = await McapIndexedReader.Initialize({ readable: freshReadable(bytes), decompressHandlers: codecs.decompressHandlers });
    expect(indexed.chunkIndexes.length).toBeGreaterThan(5);
  });

  it('one chunk written out of time order: sorted by log time, then by offset', async () => {
    const shuffled = Array.from({ length: 60 }, (_, i) => BigInt(10 + ((i * 37) % 23)));
    const bytes = await writeMcap(shuffled, { chunkSize: 1 << 20, compression: 'zstd' });
    for (const query of QUERIES) {
      const { views, core } = await both(bytes, query);
      expect(views!.map(shape)).toEqual(core.map(shape));
    }
  });

  it('chunks that overlap in time are left to readMessages; McapBagReader reads them in log-time order all the same', async () => {
    const sawtooth = Array.from({ length: 60 }, (_, i) => BigInt(10 + (i % 20)));
    const { views, core } = await both(await writeMcap(sawtooth, { chunkSize: 300, compression: 'none' }), {});
    expect(views).toBeUndefined();
    expect(core.map((m) => m.logTime)).toEqual([...sawtooth].sort(byTime));

    await withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      const writer = await McapBagWriter.open(path, { compression: 'none', chunkSize: 200 });
      await writer.addTopic('/s', 'std_msgs/msg/String');
      for (let i = 0; i < sawtooth.length; i++) await writer.write('/s', T0 + sawtooth[i], { data: `m${i}` });
      await writer.close();
      const reader = await McapBagReader.open(path);
      try {
        const read = await collect(reader);
        expect(read.map((m) => m.logTimeNs - T0)).toEqual([...sawtooth].sort(byTime));
        expect(new Set(read.map((m) => (m.msg as { data: string }).data)).size).toBe(sawtooth.length);
      } finally {
        await reader.close();
      }
    });
  });

  it('a frame-sized message is a view into its chunk; small ones are copies that do not keep the chunk alive', async () => {
    const bytes = await writeMcap(rising.slice(0, 30), { chunkSize: 20_000, compression: 'zstd', sizes: [16, 64, 50_000] });
    const { views } = await both(bytes, {});
    const big = views!.filter((m) => m.data.byteLength === 50_000);
    const small = views!.filter((m) => m.data.byteLength < 100);
    expect(big.length).toBe(10);
    for (const m of big) expect(m.data.buffer.byteLength).toBeGreaterThan(m.data.byteLength);
    for (const m of small) expect(m.data.buffer.byteLength).toBe(m.data.byteLength);
  });

  it('held views keep their bytes while later chunks and other iterations are read', async () => {
    const bytes = await writeMcap(rising, { chunkSize: 700, compression: 'none', sizes: [400, 500, 600] });
    const { views, core } = await both(bytes, {});
    const expected = core.map(shape);
    await both(bytes, {}); // everything read again, by another iteration
    expect(views!.map(shape)).toEqual(expected);
    expect(views!.some((m) => m.data.buffer.byteLength > m.data.byteLength)).toBe(true);
  });

  it('a committed bag (bags/*.mcap, written by McapBagWriter) reads the same both ways', async () => {
    const bags = join(import.meta.dirname, '..', '..', 'bags');
    const name = (await readdir(bags)).find((f) => f.endsWith('.mcap'));
    expect(name).toBeDefined();
    const bytes = new Uint8Array(await readFile(join(bags, name!)));
    const { views, core } = await both(bytes, {});
    expect(views).toBeDefined();
    expect(views!.length).toBeGreaterThan(0);
    expect(views!.map(shape)).toEqual(core.map(shape));
  });
});

describe('ReadOptions.skip (a live-paced consumer that fell behind)', () => {
  it('never yields a skipped message, keeps every topic index, and does not decompress a chunk it skips whole', async () => {
    await withTmp(async (dir) => {
      const file = join(dir, 'skip.mcap');
      // One chunk per step: a small /gt message then a big /cam one (the big one closes the chunk).
      const w = await McapBagWriter.open(file, { compression: 'zstd', chunkSize: 1000 });
      await w.addTopic('/gt', 'std_msgs/msg/String');
      await w.addTopic('/cam', 'std_msgs/msg/String');
      for (let i = 0; i < 6; i++) {
        await w.write('/gt', T0 + BigInt(i), { data: `gt${i}` });
        await w.write('/cam', T0 + BigInt(i), { data: `cam${i}`.padEnd(2000, '.') });
      }
      await w.close();
      let decompressed = 0;
      const spy = { ...codecs, decompressHandlers: { ...codecs.decompressHandlers, zstd: (b: Uint8Array, n: bigint) => (decompressed++, codecs.decompressHandlers.zstd(b, n)) } };
      const stale = new Set([1n, 2n, 4n].map((k) => T0 + k)); // steps 1, 2 and 4 fell behind
      for (const messageViews of [true, false]) {
        decompressed = 0;
        const r = await McapBagReader.open(file, { codecs: spy, messageViews });
        try {
          const asked: string[] = [];
          const got = await collect(r, { skip: (topic, t) => (asked.push(`${topic}@${t - T0}`), stale.has(t)) });
          expect(got.map((m) => `${m.topic}#${m.index}@${m.logTimeNs - T0}`)).toEqual(['/gt#0@0', '/cam#0@0', '/gt#3@3', '/cam#3@3', '/gt#5@5', '/cam#5@5']);
          expect(asked.slice(0, 4)).toEqual(['/gt@0', '/cam@0', '/gt@1', '/cam@1']); // in log-time order
          if (messageViews) expect(decompressed).toBe(3); // only the chunks of steps 0, 3, 5
        } finally {
          await r.close();
        }
      }
    });
  });
});
