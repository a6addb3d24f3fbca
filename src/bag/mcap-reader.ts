import { open, type FileHandle } from 'node:fs/promises';
import { McapIndexedReader, McapStreamReader, type McapTypes } from '@mcap/core';
import { PerceptionError } from '../core/errors.js';
import { makeRos2Codec, toRos2Name } from '../msgs/index.js';
import { loadCodecs, type Codecs } from './compression.js';
import { decodeOne, inRange, TopicCounter, type ChannelDecoder } from './decode.js';
import { chunksInOrder, FreshReadable, readMessageViews } from './mcap-views.js';
import type { BagInfo, BagMessage, BagReader, ReadOptions } from './types.js';

type Channel = McapTypes.TypedMcapRecords['Channel'];
type Schema = McapTypes.TypedMcapRecords['Schema'];

export interface McapReaderOptions {
  /** The codecs to decompress chunks with (default: loadCodecs(), zstd-napi when it loads). */
  codecs?: Codecs;
  /**
   * true (default): messages of chunks in time order are views into their chunk (mcap-views.ts);
   * false: all through @mcap/core's readMessages, which copies each one (bench/read.ts's "before").
   */
  messageViews?: boolean;
}

/** How much the streaming fallback reads at a time. */
const STREAM_PIECE = 1 << 20;
const decoder = new TextDecoder();

/**
 * Reads MCAP files with ROS 2 (ros2msg + cdr) channels. Indexed files are read through
 * McapIndexedReader, which loads only the chunks a query needs. A file without a usable index
 * (a recorder that crashed, a cut download) is read front to back with McapStreamReader: the
 * readable messages come out in file order, then iteration fails with 'BAG_TRUNCATED'.
 */
export class McapBagReader implements BagReader {
  readonly format = 'mcap' as const;
  readonly path: string;
  readonly #readable: McapTypes.IReadable;
  readonly #handle: FileHandle | undefined;
  readonly #indexed: McapIndexedReader | undefined;
  readonly #info: BagInfo;
  readonly #codecs: Codecs;
  readonly #views: boolean;
  readonly #decoders = new Map<number, ChannelDecoder>();
  #closing: Promise<void> | undefined;

  private constructor(init: {
    path: string;
    readable: McapTypes.IReadable;
    handle?: FileHandle;
    indexed?: McapIndexedReader;
    info: BagInfo;
    codecs: Codecs;
    views: boolean;
  }) {
    this.path = init.path;
    this.#readable = init.readable;
    this.#handle = init.handle;
    this.#indexed = init.indexed;
    this.#info = init.info;
    this.#codecs = init.codecs;
    this.#views = init.views;
  }

  static async open(path: string, options: McapReaderOptions = {}): Promise<McapBagReader> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (cause) {
      throw new PerceptionError('IO', `cannot open bag: ${(cause as Error).message}`, { file: path }, { cause });
    }
    try {
      return await McapBagReader.fromReadable(path, new FreshReadable(handle), { ...options, handle });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /**
   * For tests and non-file sources: `path` is only used in messages. The readable must return a
   * buffer it will not reuse: uncompressed chunks are not copied, so messages are views into it.
   */
  static async fromReadable(path: string, readable: McapTypes.IReadable, options: McapReaderOptions & { handle?: FileHandle } = {}): Promise<McapBagReader> {
    const { handle } = options;
    const views = options.messageViews ?? true;
    const codecs = options.codecs ?? (await loadCodecs());
    const { decompressHandlers } = codecs;
    let indexed: McapIndexedReader | undefined;
    try {
      indexed = await McapIndexedReader.Initialize({ readable, decompressHandlers });
    } catch {
      indexed = undefined; // no footer or summary: fall back to a streaming scan below
    }
    if (indexed && (indexed.chunkIndexes.length > 0 || indexed.statistics?.messageCount === 0n) && indexed.statistics) {
      return new McapBagReader({ path, readable, handle, indexed, info: indexedInfo(path, indexed), codecs, views });
    }
    // The scan's error (truncation) is met again, after the readable messages, by messages().
    const { info } = await scanInfo(path, readable, codecs);
    // An index without statistics is still usable for seeking; only the counts needed the scan.
    const usable = indexed && indexed.chunkIndexes.length > 0 ? indexed : undefined;
    return new McapBagReader({ path, readable, handle, indexed: usable, info, codecs, views });
  }

  info(): BagInfo {
    return { ...this.#info, topics: this.#info.topics.map((t) => ({ ...t })) };
  }

  messages(opts: ReadOptions = {}): AsyncIterable<BagMessage> {
    return { [Symbol.asyncIterator]: () => this.#iterate(opts) };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#handle?.close();
    })();
    return this.#closing;
  }

  async *#iterate(opts: ReadOptions): AsyncGenerator<BagMessage> {
    this.#assertOpen();
    const counter = new TopicCounter();
    const wanted = opts.topics ? new Set(opts.topics) : undefined;
    if (this.#indexed) {
      const indexed = this.#indexed;
      const skip = opts.skip;
      const topicOf = (id: number) => indexed.channelsById.get(id)?.topic ?? '';
      const query = { topics: opts.topics, startTime: opts.startNs, endTime: opts.endNs };
      // Chunks in time order (ours, most recorders'): views, no copies; overlapping ones: @mcap/core's merge.
      const chunks = this.#views ? chunksInOrder(indexed, query) : undefined;
      // A skipped message still takes its place in its topic's index (BagMessage.index). The
      // view path asks `skip` for a whole chunk before yielding any of it, so every message's
      // index is taken then, in order, and a kept one's handed out when it is yielded.
      const kept = new Map<string, number[]>();
      const viewSkip = (id: number, t: bigint) => {
        const topic = topicOf(id);
        const i = counter.next(topic);
        if (skip!(topic, t)) return true;
        (kept.get(topic) ?? kept.set(topic, []).get(topic)!).push(i);
        return false;
      };
      const iter = chunks ? readMessageViews(indexed, this.#readable, this.#codecs, chunks, skip ? { ...query, skip: viewSkip } : query) : indexed.readMessages(query);
      const indexOf = (topic: string) => (skip && chunks ? (kept.get(topic)?.shift() ?? counter.next(topic)) : counter.next(topic));
      while (true) {
        const r = await this.#pull(iter);
        if (r.done) return;
        const m = r.value;
        // The view path asked `skip` before reading the chunk; @mcap/core's merge did not.
        if (skip && !chunks && skip(topicOf(m.channelId), m.logTime)) {
          counter.next(topicOf(m.channelId));
          continue;
        }
        const dec = this.#decoder(indexed.channelsById.get(m.channelId), (id) => indexed.schemasById.get(id));
        const out = decodeOne(this.path, dec, indexOf(dec.topic), m.logTime, m.data, opts);
        if (out) yield out;
        this.#assertOpen();
      }
    }
    const channels = new Map<number, Channel>();
    const schemas = new Map<number, Schema>();
    for await (const rec of streamRecords(this.path, this.#readable, { codecs: this.#codecs })) {
      this.#assertOpen();
      if (rec.type === 'Schema') schemas.set(rec.id, rec);
      else if (rec.type === 'Channel') channels.set(rec.id, rec);
      else if (rec.type === 'Message') {
        const channel = channels.get(rec.channelId);
        if (!channel || (wanted && !wanted.has(channel.topic)) || !inRange(rec.logTime, opts)) continue;
        if (opts.skip?.(channel.topic, rec.logTime)) {
          counter.next(channel.topic);
          continue;
        }
        const dec = this.#decoder(channel, (id) => schemas.get(id));
        const out = decodeOne(this.path, dec, counter.next(dec.topic), rec.logTime, rec.data, opts);
        if (out) yield out;
      }
    }
  }

  async #pull<T>(iter: AsyncGenerator<T, void, void>): Promise<IteratorResult<T, void>> {
    try {
      return await iter.next();
    } catch (cause) {
      this.#assertOpen();
      throw new PerceptionError('BAG_CORRUPT', `cannot read MCAP data: ${(cause as Error)?.message}`, { file: this.path }, { cause });
    }
  }

  #assertOpen(): void {
    if (this.#closing) throw new PerceptionError('IO', 'bag reader is closed', { file: this.path });
  }

  #decoder(channel: Channel | undefined, schemaOf: (id: number) => Schema | undefined): ChannelDecoder {
    if (!channel) {
      const error = new PerceptionError('BAG_CORRUPT', 'message refers to an unknown channel', { file: this.path });
      return { ok: false, topic: '?', type: '?', error };
    }
    let dec = this.#decoders.get(channel.id);
    if (!dec) {
      dec = makeDecoder(channel, schemaOf(channel.schemaId));
      this.#decoders.set(channel.id, dec);
    }
    return dec;
  }
}

function makeDecoder(channel: Channel, schema: Schema | undefined): ChannelDecoder {
  const topic = channel.topic;
  const type = schema ? toRos2Name(schema.name) : '(no schema)';
  const fail = (why: string, cause?: unknown): ChannelDecoder => ({
    ok: false,
    topic,
    type,
    error: new PerceptionError('UNKNOWN_MESSAGE_TYPE', `cannot decode type ${type}: ${why}`, { topic, type }, { cause }),
  });
  if (!schema) return fail('the channel has no schema');
  if (schema.encoding !== 'ros2msg') return fail(`schema encoding "${schema.encoding}" is not ros2msg`);
  if (channel.messageEncoding !== 'cdr') return fail(`message encoding "${channel.messageEncoding}" is not cdr`);
  try {
    const codec = makeRos2Codec(type, decoder.decode(schema.data));
    return { ok: true, topic, type, decode: codec.deserialize };
  } catch (cause) {
    return fail(`its ros2msg schema does not parse: ${(cause as Error)?.message}`, cause);
  }
}

function indexedInfo(path: string, r: McapIndexedReader): BagInfo {
  const stats = r.statistics!;
  const counts = stats.channelMessageCounts;
  const byTopic = new Map<string, { topic: string; type: string; count: number }>();
  for (const ch of r.channelsById.values()) {
    const schema = r.schemasById.get(ch.schemaId);
    const entry = byTopic.get(ch.topic) ?? { topic: ch.topic, type: schema ? toRos2Name(schema.name) : '(no schema)', count: 0 };
    entry.count += Number(counts.get(ch.id) ?? 0n);
    byTopic.set(ch.topic, entry);
  }
  const compression = [...new Set(r.chunkIndexes.map((c) => c.compression || 'none'))].join(',') || undefined;
  return finishInfo(path, [...byTopic.values()], stats.messageStartTime, stats.messageEndTime, Number(stats.messageCount), compression);
}

function finishInfo(
  path: string,
  topics: BagInfo['topics'],
  startNs: bigint,
  endNs: bigint,
  messageCount: number,
  compression: string | undefined,
  truncated?: boolean,
): BagInfo {
  if (messageCount === 0) startNs = endNs = 0n;
  topics.sort((a, b) => a.topic.localeCompare(b.topic));
  const info: BagInfo = { path, format: 'mcap', startNs, endNs, durationNs: endNs - startNs, messageCount, topics };
  if (compression !== undefined) info.compression = compression;
  if (truncated) info.truncated = true;
  return info;
}

/** Counts what a streaming pass can read; used when there is no usable index or statistics. */
async function scanInfo(path: string, readable: McapTypes.IReadable, codecs: Codecs): Promise<{ info: BagInfo; error?: PerceptionError }> {
  const channels = new Map<number, Channel>();
  const schemas = new Map<number, Schema>();
  const counts = new Map<number, number>();
  const compressions = new Set<string>();
  let start = -1n;
  let end = 0n;
  let total = 0;
  let error: PerceptionError | undefined;
  try {
    for await (const rec of streamRecords(path, readable, { includeChunks: true, codecs })) {
      if (rec.type === 'Schema') schemas.set(rec.id, rec);
      else if (rec.type === 'Channel') channels.set(rec.id, rec);
      else if (rec.type === 'Chunk') compressions.add(rec.compression || 'none');
      else if (rec.type === 'Message') {
        counts.set(rec.channelId, (counts.get(rec.channelId) ?? 0) + 1);
        total++;
        if (start < 0n || rec.logTime < start) start = rec.logTime;
        if (rec.logTime > end) end = rec.logTime;
      }
    }
  } catch (err) {
    if (!(err instanceof PerceptionError)) throw err;
    error = err;
  }
  const byTopic = new Map<string, { topic: string; type: string; count: number }>();
  for (const ch of channels.values()) {
    const schema = schemas.get(ch.schemaId);
    const entry = byTopic.get(ch.topic) ?? { topic: ch.topic, type: schema ? toRos2Name(schema.name) : '(no schema)', count: 0 };
    entry.count += counts.get(ch.id) ?? 0;
    byTopic.set(ch.topic, entry);
  }
  const compression = compressions.size > 0 ? [...compressions].join(',') : undefined;
  return { info: finishInfo(path, [...byTopic.values()], start < 0n ? 0n : start, end, total, compression, error?.code === 'BAG_TRUNCATED'), error };
}

/**
 * Yields every record front to back. Ends with PerceptionError('BAG_TRUNCATED') when the data
 * stops before the footer, 'BAG_CORRUPT' when a record does not parse. Always terminates: each
 * pass reads a strictly advancing range of a file whose size is fixed at the start.
 */
export async function* streamRecords(
  path: string,
  readable: McapTypes.IReadable,
  options: { includeChunks?: boolean; codecs?: Codecs } = {},
): AsyncGenerator<McapTypes.TypedMcapRecord> {
  const includeChunks = options.includeChunks ?? false;
  const { decompressHandlers } = options.codecs ?? (await loadCodecs());
  const reader = new McapStreamReader({ decompressHandlers, includeChunks });
  const size = await readable.size();
  let offset = 0n;
  while (true) {
    let rec: McapTypes.TypedMcapRecord | undefined;
    try {
      rec = reader.nextRecord();
    } catch (cause) {
      const at = Number(offset) - reader.bytesRemaining();
      throw new PerceptionError('BAG_CORRUPT', `MCAP record does not parse: ${(cause as Error)?.message}`, { file: path, offset: at }, { cause });
    }
    if (rec) {
      yield rec;
      continue;
    }
    if (reader.done()) return;
    if (offset >= size) {
      const at = Number(offset) - reader.bytesRemaining();
      throw new PerceptionError('BAG_TRUNCATED', `MCAP file ends early (after ${at} of ${size} bytes there is no complete record or footer)`, { file: path, offset: at });
    }
    const n = size - offset < BigInt(STREAM_PIECE) ? size - offset : BigInt(STREAM_PIECE);
    // Copy: a readable may reuse its buffer, and the stream reader keeps what it has not parsed.
    reader.append(new Uint8Array(await readable.read(offset, n)));
    offset += n;
  }
}
