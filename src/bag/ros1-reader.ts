import { open as openFile, type FileHandle } from 'node:fs/promises';
import lz4Decompress from '@foxglove/wasm-lz4';
import { rosbag, type Time } from './rosbag-lib.js';
import { PerceptionError } from '../core/errors.js';
import { nsToTime, timeToNs, toRos2Name } from '../msgs/index.js';
import { loadCodecs } from './compression.js';
import { decodeOne, TopicCounter, type ChannelDecoder } from './decode.js';
import { makeConverter, parseRos1 } from './ros1-convert.js';
import { SerialQueue } from './serial.js';
import type { BagInfo, BagMessage, BagReader, ReadOptions } from './types.js';

type Filelike = ConstructorParameters<typeof rosbag.BagReader>[0];

/**
 * Our file access for rosbag, in place of its Node reader, which reuses one buffer for every
 * read (so message bytes would be overwritten by the next read) and ignores short reads (so a
 * truncated file parses stale bytes). Each read gets a fresh buffer and must be complete.
 */
class CheckedFile implements Filelike {
  /**
   * rosbag parses inside our read callback; when the bytes are corrupt it throws there, and its
   * own promise never settles. The pending operation (see `guarded`) is rejected through this.
   */
  onCallbackError: ((err: unknown) => void) | undefined;

  constructor(
    readonly handle: FileHandle,
    readonly path: string,
    readonly bytes: number,
  ) {}

  size(): number {
    return this.bytes;
  }

  read(offset: number, length: number, callback: (err: Error | null, buf?: Buffer) => void): void {
    const cb = (err: Error | null, buf?: Buffer) => {
      try {
        callback(err, buf);
      } catch (thrown) {
        this.onCallbackError?.(thrown);
      }
    };
    if (offset + length > this.bytes) {
      cb(new PerceptionError('BAG_TRUNCATED', `ROS 1 bag ends at ${this.bytes} bytes, a record needs ${offset + length}`, { file: this.path, offset: this.bytes }));
      return;
    }
    const buf = Buffer.allocUnsafe(length);
    this.handle.read(buf, 0, length, offset).then(
      ({ bytesRead }) =>
        bytesRead === length
          ? cb(null, buf)
          : cb(new PerceptionError('BAG_TRUNCATED', `short read at ${offset}: ${bytesRead} of ${length} bytes`, { file: this.path, offset })),
      (err: Error) => cb(err),
    );
  }
}

/** Runs one rosbag operation so that an error thrown inside its read callback rejects it. */
function guarded<T>(file: CheckedFile, op: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    file.onCallbackError = reject;
    op().then(resolve, reject);
  }).finally(() => {
    file.onCallbackError = undefined;
  });
}

type RosbagBagReader = InstanceType<typeof rosbag.BagReader>;
type ChunkInfo = NonNullable<InstanceType<typeof rosbag.Bag>['chunkInfos']>[number];
type Connection = NonNullable<InstanceType<typeof rosbag.Bag>['connections']>[number];

const FOREVER: Time = { sec: 0xffffffff, nsec: 999_999_999 };
const cmp = (a: Time, b: Time) => a.sec - b.sec || a.nsec - b.nsec;

/**
 * Reads indexed ROS 1 bags (v2.0; chunks uncompressed or lz4) through the `rosbag` package and
 * hands out messages in ROS 2 shape (see ros1-convert.ts for exactly what is normalised).
 * Chunks are read lazily, one group of time-overlapping chunks at a time, through CheckedFile;
 * reads are serialised because rosbag's BagReader caches the last chunk it read.
 */
export class Ros1BagReader implements BagReader {
  readonly format = 'ros1' as const;
  readonly path: string;
  readonly #file: CheckedFile;
  readonly #reader: RosbagBagReader;
  readonly #connections: Map<number, Connection>;
  readonly #chunkInfos: ChunkInfo[];
  readonly #info: BagInfo;
  readonly #reads = new SerialQueue();
  readonly #decoders = new Map<number, ChannelDecoder>();
  #closing: Promise<void> | undefined;

  private constructor(path: string, file: CheckedFile, reader: RosbagBagReader, connections: Connection[], chunkInfos: ChunkInfo[]) {
    this.path = path;
    this.#file = file;
    this.#reader = reader;
    this.#connections = new Map(connections.map((c) => [c.conn, c]));
    this.#chunkInfos = [...chunkInfos].sort((a, b) => cmp(a.startTime, b.startTime));
    this.#info = this.#buildInfo();
  }

  static async open(path: string): Promise<Ros1BagReader> {
    await loadCodecs(); // lz4 chunks
    let file: CheckedFile;
    try {
      const handle = await openFile(path, 'r');
      file = new CheckedFile(handle, path, (await handle.stat()).size);
    } catch (cause) {
      throw new PerceptionError('IO', `cannot open bag: ${(cause as Error).message}`, { file: path }, { cause });
    }
    const size = file.size();
    const reader = new rosbag.BagReader(file);
    const fail = async (code: 'BAG_TRUNCATED' | 'BAG_CORRUPT' | 'BAG_UNSUPPORTED', message: string, cause?: unknown, offset?: number) => {
      await file.handle.close();
      if (cause instanceof PerceptionError) throw cause;
      throw new PerceptionError(code, message, { file: path, offset }, { cause });
    };
    let header;
    try {
      header = await guarded(file, () => reader.readHeaderAsync());
    } catch (cause) {
      return fail(size < 4096 + 13 ? 'BAG_TRUNCATED' : 'BAG_CORRUPT', `cannot read ROS 1 bag header: ${(cause as Error)?.message}`, cause);
    }
    if (header.indexPosition === 0) {
      return fail('BAG_UNSUPPORTED', 'ROS 1 bag has no index (recording was not closed); run `rosbag reindex` first');
    }
    if (header.indexPosition >= size) {
      return fail('BAG_TRUNCATED', `ROS 1 bag index at ${header.indexPosition} lies past the end of the file (${size} bytes)`, undefined, size);
    }
    try {
      const { connections, chunkInfos } = await guarded(file, () =>
        reader.readConnectionsAndChunkInfoAsync(header.indexPosition, header.connectionCount, header.chunkCount),
      );
      return new Ros1BagReader(path, file, reader, connections, chunkInfos);
    } catch (cause) {
      return fail('BAG_CORRUPT', `cannot read ROS 1 bag index: ${(cause as Error)?.message}`, cause, header.indexPosition);
    }
  }

  info(): BagInfo {
    return { ...this.#info, topics: this.#info.topics.map((t) => ({ ...t })) };
  }

  messages(opts: ReadOptions = {}): AsyncIterable<BagMessage> {
    return { [Symbol.asyncIterator]: () => this.#iterate(opts) };
  }

  close(): Promise<void> {
    this.#closing ??= this.#reads.run(() => this.#file.handle.close());
    return this.#closing;
  }

  async *#iterate(opts: ReadOptions): AsyncGenerator<BagMessage> {
    this.#assertOpen();
    const wanted = opts.topics ? new Set(opts.topics) : undefined;
    const conns = [...this.#connections.values()].filter((c) => !wanted || wanted.has(c.topic)).map((c) => c.conn);
    if (conns.length === 0) return;
    const start = opts.startNs !== undefined ? nsToTime(opts.startNs) : undefined;
    const startT: Time = start ? { sec: start.sec, nsec: start.nanosec } : { sec: 0, nsec: 0 };
    const end = opts.endNs !== undefined ? nsToTime(opts.endNs) : undefined;
    const endT: Time = end ? { sec: end.sec, nsec: end.nanosec } : FOREVER;
    const relevant = this.#chunkInfos.filter(
      (c) => cmp(c.endTime, startT) >= 0 && cmp(c.startTime, endT) <= 0 && c.connections.some((x) => conns.includes(x.conn)),
    );
    const counter = new TopicCounter();
    // Chunks whose time ranges overlap are merged together; otherwise one chunk at a time.
    for (let i = 0; i < relevant.length; ) {
      let groupEnd = relevant[i].endTime;
      let j = i + 1;
      while (j < relevant.length && cmp(relevant[j].startTime, groupEnd) <= 0) {
        if (cmp(relevant[j].endTime, groupEnd) > 0) groupEnd = relevant[j].endTime;
        j++;
      }
      const batch: { conn: number; time: Time; data: Uint8Array }[] = [];
      for (const chunk of relevant.slice(i, j)) batch.push(...(await this.#readChunk(chunk, conns, startT, endT)));
      i = j;
      batch.sort((a, b) => cmp(a.time, b.time)); // stable: keeps per-connection order
      for (const m of batch) {
        this.#assertOpen();
        const dec = this.#decoder(m.conn);
        const logTimeNs = timeToNs(m.time);
        if (opts.skip?.(dec.topic, logTimeNs)) {
          counter.next(dec.topic); // a skipped message keeps its place in the topic's index
          continue;
        }
        const out = decodeOne(this.path, dec, counter.next(dec.topic), logTimeNs, m.data, opts);
        if (out) yield out;
      }
    }
  }

  #readChunk(chunk: ChunkInfo, conns: number[], start: Time, end: Time) {
    return this.#reads.run(async () => {
      this.#assertOpen();
      let records;
      try {
        records = await guarded(this.#file, () =>
          this.#reader.readChunkMessagesAsync(chunk, conns, start, end, {
            lz4: (buf: Buffer, size: number) => Buffer.from(lz4Decompress(buf, size)),
          }),
        );
      } catch (cause) {
        if (cause instanceof PerceptionError) throw cause;
        const msg = (cause as Error)?.message ?? String(cause);
        const code = /compression/i.test(msg) ? 'BAG_UNSUPPORTED' : 'BAG_CORRUPT';
        throw new PerceptionError(code, `cannot read ROS 1 chunk: ${msg}`, { file: this.path, offset: chunk.chunkPosition }, { cause });
      }
      // Views into this chunk's own buffer (CheckedFile never reuses one): safe to keep.
      return records.map((r) => ({ conn: r.conn, time: r.time, data: r.data as Uint8Array }));
    });
  }

  #decoder(conn: number): ChannelDecoder {
    let dec = this.#decoders.get(conn);
    if (dec) return dec;
    const c = this.#connections.get(conn)!;
    const type = toRos2Name(c.type);
    try {
      const defs = parseRos1(c.messageDefinition, c.type);
      const reader = new rosbag.MessageReader(defs, c.type);
      const toRos2 = makeConverter(defs, c.type, '1to2');
      dec = { ok: true, topic: c.topic, type, decode: (bytes) => toRos2(reader.readMessage(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) };
    } catch (cause) {
      const error = new PerceptionError('UNKNOWN_MESSAGE_TYPE', `cannot decode type ${type}: ${(cause as Error)?.message}`, { topic: c.topic, type }, { cause });
      dec = { ok: false, topic: c.topic, type, error };
    }
    this.#decoders.set(conn, dec);
    return dec;
  }

  #buildInfo(): BagInfo {
    const counts = new Map<number, number>();
    for (const ci of this.#chunkInfos) for (const { conn, count } of ci.connections) counts.set(conn, (counts.get(conn) ?? 0) + count);
    const byTopic = new Map<string, { topic: string; type: string; count: number }>();
    for (const c of this.#connections.values()) {
      const e = byTopic.get(c.topic) ?? { topic: c.topic, type: toRos2Name(c.type), count: 0 };
      e.count += counts.get(c.conn) ?? 0;
      byTopic.set(c.topic, e);
    }
    const messageCount = [...counts.values()].reduce((a, b) => a + b, 0);
    let startNs = 0n;
    let endNs = 0n;
    if (messageCount > 0 && this.#chunkInfos.length > 0) {
      startNs = this.#chunkInfos.map((c) => timeToNs(c.startTime)).reduce((a, b) => (b < a ? b : a));
      endNs = this.#chunkInfos.map((c) => timeToNs(c.endTime)).reduce((a, b) => (b > a ? b : a));
    }
    const topics = [...byTopic.values()].sort((a, b) => a.topic.localeCompare(b.topic));
    return { path: this.path, format: 'ros1', startNs, endNs, durationNs: endNs - startNs, messageCount, topics };
  }

  #assertOpen(): void {
    if (this.#closing) throw new PerceptionError('IO', 'bag reader is closed', { file: this.path });
  }
}
