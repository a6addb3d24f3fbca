/**
 * A minimal ROS 1 bag (format 2.0) writer. The `rosbag` npm package only reads, so this exists
 * for round-trip tests and for users who want ROS 1 output: uncompressed chunks, connection
 * records (topic, type, md5sum, message_definition), per-chunk index data, and the trailing
 * connection + chunk-info index, so `rosbag info`/`rosbag play` and our reader can seek.
 * Messages are given in ROS 2 shape and converted (see ros1-convert.ts).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { rosbag } from './rosbag-lib.js';
import { PerceptionError } from '../core/errors.js';
import { codecFor } from '../msgs/registry.js';
import { makeConverter, parseRos1, ros1DefinitionFor } from './ros1-convert.js';
import { SerialQueue } from './serial.js';
import type { BagWriter } from './types.js';

const OP = { messageData: 0x02, bagHeader: 0x03, indexData: 0x04, chunk: 0x05, chunkInfo: 0x06, connection: 0x07 } as const;
const MAGIC = Buffer.from('#ROSBAG V2.0\n', 'latin1');
const BAG_HEADER_LEN = 4096;

export interface Ros1BagWriterOptions {
  /** Uncompressed chunk size target in bytes (default 768 KiB, rosbag's default). */
  chunkSize?: number;
}

interface Connection {
  id: number;
  topic: string;
  record: Buffer;
  serialize: (msg: unknown) => Buffer;
}

interface OpenChunk {
  parts: Buffer[];
  size: number;
  start: bigint;
  end: bigint;
  connsWritten: Set<number>;
  index: Map<number, { time: bigint; offset: number }[]>;
}

type FieldValue = string | Buffer | number | bigint;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function u64(n: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function time(ns: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(Number(ns / 1_000_000_000n));
  b.writeUInt32LE(Number(ns % 1_000_000_000n), 4);
  return b;
}

/** Header (or connection-data) fields: each `u32 length` + `name=value`. Numbers are u32 unless given as a Buffer. */
function fields(entries: Record<string, FieldValue>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, v] of Object.entries(entries)) {
    const value = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'utf8') : typeof v === 'bigint' ? u64(v) : u32(v);
    const field = Buffer.concat([Buffer.from(`${name}=`, 'latin1'), value]);
    parts.push(u32(field.length), field);
  }
  return Buffer.concat(parts);
}

function record(header: Buffer, data: Buffer): Buffer {
  return Buffer.concat([u32(header.length), header, u32(data.length), data]);
}

export class Ros1BagWriter implements BagWriter {
  readonly path: string;
  readonly #file: FileHandle;
  readonly #chunkSize: number;
  readonly #queue = new SerialQueue();
  readonly #connections = new Map<string, Connection>();
  readonly #chunkInfos: Buffer[] = [];
  #pos = MAGIC.length + BAG_HEADER_LEN;
  #chunk: OpenChunk | undefined;
  #closing: Promise<void> | undefined;

  private constructor(path: string, file: FileHandle, chunkSize: number) {
    this.path = path;
    this.#file = file;
    this.#chunkSize = chunkSize;
  }

  static async open(path: string, options: Ros1BagWriterOptions = {}): Promise<Ros1BagWriter> {
    const chunkSize = options.chunkSize ?? 768 * 1024;
    if (!Number.isInteger(chunkSize) || chunkSize < 1) {
      throw new PerceptionError('INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${chunkSize}`, { field: 'chunkSize' });
    }
    let file: FileHandle;
    try {
      file = await open(path, 'w');
    } catch (cause) {
      throw new PerceptionError('IO', `cannot create bag: ${(cause as Error).message}`, { file: path }, { cause });
    }
    const self = new Ros1BagWriter(path, file, chunkSize);
    await self.#queue.run(() => self.#writeAt(0, Buffer.concat([MAGIC, self.#bagHeader(0n, 0, 0)])));
    return self;
  }

  async addTopic(topic: string, type: string): Promise<void> {
    this.#assertOpen(topic);
    if (this.#connections.has(topic)) return;
    codecFor(type); // throws UNKNOWN_MESSAGE_TYPE for a type we have no definition of
    const def = ros1DefinitionFor(type);
    const parsed = parseRos1(def.text, def.type);
    const writer = new rosbag.MessageWriter(parsed, def.type);
    const toRos1 = makeConverter(parsed, def.type, '2to1');
    const id = this.#connections.size;
    const header = fields({ op: Buffer.of(OP.connection), conn: id, topic });
    const data = fields({ topic, type: def.type, md5sum: def.md5sum, message_definition: def.text });
    this.#connections.set(topic, { id, topic, record: record(header, data), serialize: (m) => writer.writeMessage(toRos1(m)) });
  }

  write(topic: string, logTimeNs: bigint, msg: unknown): Promise<void> {
    try {
      this.#assertOpen(topic);
      const conn = this.#connections.get(topic);
      if (!conn) throw new PerceptionError('INVALID_ARGUMENT', 'write to a topic that was not added', { file: this.path, topic });
      if (typeof logTimeNs !== 'bigint' || logTimeNs < 0n || logTimeNs >= 2n ** 32n * 1_000_000_000n) {
        throw new PerceptionError('INVALID_ARGUMENT', `logTimeNs must fit a ROS 1 time, got ${String(logTimeNs)}`, { file: this.path, topic });
      }
      let data: Buffer;
      try {
        data = conn.serialize(msg);
      } catch (cause) {
        throw new PerceptionError('INVALID_ARGUMENT', `message does not fit its type: ${(cause as Error)?.message}`, { file: this.path, topic }, { cause });
      }
      this.#append(conn, logTimeNs, data);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#chunk && this.#chunk.size >= this.#chunkSize) return this.#queue.run(() => this.#flush());
    return Promise.resolve();
  }

  /** Flushes the last chunk, writes the index and the final bag header. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#queue
      .run(async () => {
        await this.#flush();
        const indexPos = this.#pos;
        const conns = [...this.#connections.values()].map((c) => c.record);
        await this.#writeAt(this.#pos, Buffer.concat([...conns, ...this.#chunkInfos]));
        await this.#writeAt(MAGIC.length, this.#bagHeader(BigInt(indexPos), conns.length, this.#chunkInfos.length));
      })
      .finally(() => this.#file.close());
    return this.#closing;
  }

  #append(conn: Connection, t: bigint, data: Buffer): void {
    const fresh: OpenChunk = { parts: [], size: 0, start: t, end: t, connsWritten: new Set(), index: new Map() };
    const chunk = (this.#chunk ??= fresh);
    const push = (b: Buffer) => {
      chunk.parts.push(b);
      chunk.size += b.length;
    };
    if (!chunk.connsWritten.has(conn.id)) {
      chunk.connsWritten.add(conn.id);
      push(conn.record);
    }
    const entries = chunk.index.get(conn.id) ?? [];
    entries.push({ time: t, offset: chunk.size });
    chunk.index.set(conn.id, entries);
    push(record(fields({ op: Buffer.of(OP.messageData), conn: conn.id, time: time(t) }), data));
    if (t < chunk.start) chunk.start = t;
    if (t > chunk.end) chunk.end = t;
  }

  async #flush(): Promise<void> {
    const chunk = this.#chunk;
    if (!chunk) return;
    this.#chunk = undefined;
    const chunkPos = this.#pos;
    const body = Buffer.concat(chunk.parts);
    const out: Buffer[] = [record(fields({ op: Buffer.of(OP.chunk), compression: 'none', size: body.length }), body)];
    const counts: Buffer[] = [];
    for (const [conn, entries] of chunk.index) {
      // rosbag expects each connection's index entries in time order.
      entries.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
      const data = Buffer.concat(entries.flatMap((e) => [time(e.time), u32(e.offset)]));
      out.push(record(fields({ op: Buffer.of(OP.indexData), ver: 1, conn, count: entries.length }), data));
      counts.push(u32(conn), u32(entries.length));
    }
    await this.#writeAt(chunkPos, Buffer.concat(out));
    const infoHeader = fields({
      op: Buffer.of(OP.chunkInfo),
      ver: 1,
      chunk_pos: BigInt(chunkPos),
      start_time: time(chunk.start),
      end_time: time(chunk.end),
      count: chunk.index.size,
    });
    this.#chunkInfos.push(record(infoHeader, Buffer.concat(counts)));
  }

  #bagHeader(indexPos: bigint, connCount: number, chunkCount: number): Buffer {
    const header = fields({ op: Buffer.of(OP.bagHeader), index_pos: indexPos, conn_count: connCount, chunk_count: chunkCount });
    const pad = BAG_HEADER_LEN - 8 - header.length; // padded so the final header overwrites it in place
    return record(header, Buffer.alloc(pad, 0x20));
  }

  async #writeAt(position: number, buf: Buffer): Promise<void> {
    try {
      await this.#file.write(buf, 0, buf.length, position);
    } catch (cause) {
      throw new PerceptionError('IO', `bag write failed: ${(cause as Error).message}`, { file: this.path, offset: position }, { cause });
    }
    this.#pos = Math.max(this.#pos, position + buf.length);
  }

  #assertOpen(topic: string): void {
    if (this.#closing) throw new PerceptionError('INVALID_ARGUMENT', 'bag writer is closed', { file: this.path, topic });
  }
}
