/**
 * The indexed read path for files whose chunks lie in time order (McapBagWriter's, and most
 * recorders'): messages in log-time order, each a view into its chunk's buffer. @mcap/core's
 * readMessages copies every chunk's records out of the file buffer and every message out of
 * the chunk (Reader.u8ArrayCopy), two copies of ~3 MB per raw 1280x720 frame, and the garbage
 * they make; without them a frame reads faster (`npx tsx bench/read.ts`;
 * docs/experiments/2026-11-28-threads-and-bag-reading.md).
 * A view is safe because both sources are fresh buffers: each readable read (FreshReadable,
 * and fromReadable's contract) and each decompressor output. Files whose chunks overlap in
 * time go through readMessages' merge instead (chunksInOrder returns undefined).
 *
 * The checks are @mcap/core's: chunk record type and length, known compression, the chunk's
 * announced uncompressed size (the codecs) and CRC, message index bounds and chunk time range,
 * message offset, record type and log time. Errors are plain Errors, as @mcap/core's are; the
 * reader reports them as BAG_CORRUPT.
 */
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from '@foxglove/crc';
import { Opcode, type McapIndexedReader, type McapTypes } from '@mcap/core';
import type { Codecs } from './compression.js';

type ChunkIndex = McapTypes.TypedMcapRecords['ChunkIndex'];
type Message = McapTypes.TypedMcapRecords['Message'];

export interface ViewQuery {
  topics?: readonly string[];
  startTime?: bigint;
  endTime?: bigint;
  /** Messages not to read (ReadOptions.skip, by channel id); a chunk left with none is not read. */
  skip?: (channelId: number, logTime: bigint) => boolean;
}

/** Opcode and record length. */
const HEADER = 1 + 8;
/** channel id, sequence, log time, publish time */
const MESSAGE_PREFIX = 2 + 4 + 8 + 8;
/** start and end time, uncompressed size and CRC, compression name length, records length */
const CHUNK_PREFIX = 8 + 8 + 8 + 4 + 4 + 8;
const U64_MAX = 0xffff_ffff_ffff_ffffn;
/**
 * A message smaller than this share of its chunk is copied: its view would keep the whole chunk
 * alive as long as it is held. A frame is most of its chunk; ground truth and small topics copy.
 */
const MIN_VIEW_SHARE = 0.5;
const decoder = new TextDecoder();

/** The chunks a query touches, if they are in file order and do not overlap in time; else undefined. */
export function chunksInOrder(indexed: McapIndexedReader, query: ViewQuery): ChunkIndex[] | undefined {
  const start = query.startTime ?? 0n;
  const end = query.endTime ?? U64_MAX;
  const chunks = indexed.chunkIndexes.filter((c) => c.messageStartTime <= end && c.messageEndTime >= start);
  for (let i = 1; i < chunks.length; i++) {
    const a = chunks[i - 1];
    const b = chunks[i];
    if (b.chunkStartOffset <= a.chunkStartOffset || b.messageStartTime < a.messageEndTime) return undefined;
  }
  return chunks;
}

/** Messages of `chunks` (from chunksInOrder) in log-time order, as readMessages would yield them. */
export async function* readMessageViews(
  indexed: McapIndexedReader,
  readable: McapTypes.IReadable,
  codecs: Codecs,
  chunks: readonly ChunkIndex[],
  query: ViewQuery,
): AsyncGenerator<Message> {
  const start = query.startTime ?? 0n;
  const end = query.endTime ?? U64_MAX;
  let channels: Set<number> | undefined;
  if (query.topics) {
    channels = new Set();
    for (const ch of indexed.channelsById.values()) if (query.topics.includes(ch.topic)) channels.add(ch.id);
  }
  for (const c of chunks) {
    if (c.messageIndexLength === 0n && (c.messageStartTime !== 0n || c.messageEndTime !== 0n)) {
      throw new Error(`chunk at offset ${c.chunkStartOffset} has no message indexes but non-zero start and end times`);
    }
  }
  for (const chunk of chunks) {
    let entries = await messageIndex(readable, chunk, channels, start, end);
    const skip = query.skip;
    if (skip) entries = entries.filter(([logTime, , channelId]) => !skip(channelId, logTime));
    if (entries.length === 0) continue;
    const records = await chunkRecords(readable, chunk, codecs);
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    for (const [logTime, offset] of entries) yield messageAt(records, view, chunk, logTime, offset);
  }
}

/** The [log time, offset, channel id] entries of the wanted channels within [start, end], sorted as ChunkCursor sorts them. */
async function messageIndex(
  readable: McapTypes.IReadable,
  chunk: ChunkIndex,
  channels: Set<number> | undefined,
  start: bigint,
  end: bigint,
): Promise<[bigint, bigint, number][]> {
  if (chunk.messageIndexLength === 0n) return [];
  let first: bigint | undefined;
  let relevant: bigint | undefined;
  for (const [id, offset] of chunk.messageIndexOffsets) {
    if (first === undefined || offset < first) first = offset;
    if ((!channels || channels.has(id)) && (relevant === undefined || offset < relevant)) relevant = offset;
  }
  if (first === undefined || relevant === undefined) return [];
  const bytes = await readable.read(relevant, first + chunk.messageIndexLength - relevant);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: [bigint, bigint, number][] = [];
  let at = 0;
  while (view.byteLength - at >= HEADER) {
    const opcode = view.getUint8(at);
    const length = view.getBigUint64(at + 1, true);
    if (length > BigInt(view.byteLength - at - HEADER)) break;
    const body = at + HEADER;
    at = body + Number(length);
    if (opcode !== Opcode.MESSAGE_INDEX) continue;
    const channelId = view.getUint16(body, true);
    if (channels && !channels.has(channelId)) continue;
    const n = view.getUint32(body + 2, true);
    if (body + 6 + n > at || n % 16 !== 0) {
      throw new Error(`message index of channel ${channelId} for chunk at offset ${chunk.chunkStartOffset}: ${n} bytes of entries do not fit its record`);
    }
    for (let p = body + 6; p < body + 6 + n; p += 16) entries.push([view.getBigUint64(p, true), view.getBigUint64(p + 8, true), channelId]);
  }
  if (at !== view.byteLength) throw new Error(`${view.byteLength - at} bytes remaining in message index section of chunk at offset ${chunk.chunkStartOffset}`);
  if (entries.length === 0) return entries;
  entries.sort(([ta, oa], [tb, ob]) => (ta < tb ? -1 : ta > tb ? 1 : oa < ob ? -1 : oa > ob ? 1 : 0));
  const firstTime = entries[0][0];
  const lastTime = entries[entries.length - 1][0];
  if (firstTime < chunk.messageStartTime || lastTime > chunk.messageEndTime) {
    throw new Error(
      `chunk at offset ${chunk.chunkStartOffset} indexes messages at ${firstTime}..${lastTime}, outside its time range ${chunk.messageStartTime}..${chunk.messageEndTime}`,
    );
  }
  const from = entries.findIndex(([t]) => t >= start);
  if (from < 0) return [];
  let to = entries.length;
  while (to > from && entries[to - 1][0] > end) to--;
  return entries.slice(from, to);
}

/** The chunk's records, decompressed and CRC-checked: a fresh buffer the messages may view. */
async function chunkRecords(readable: McapTypes.IReadable, chunk: ChunkIndex, codecs: Codecs): Promise<Uint8Array> {
  const where = `chunk at offset ${chunk.chunkStartOffset}`;
  const bytes = await readable.read(chunk.chunkStartOffset, chunk.chunkLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.byteLength < HEADER || view.getUint8(0) !== Opcode.CHUNK) throw new Error(`chunk index points to no chunk record at offset ${chunk.chunkStartOffset}`);
  const length = view.getBigUint64(1, true);
  if (length > BigInt(view.byteLength - HEADER) || length < BigInt(CHUNK_PREFIX)) {
    throw new Error(`${where}: record length ${length} does not fit the ${view.byteLength - HEADER} bytes its index gives it`);
  }
  const end = HEADER + Number(length);
  let at = HEADER + 16;
  const uncompressedSize = view.getBigUint64(at, true);
  const uncompressedCrc = view.getUint32(at + 8, true);
  const nameLength = view.getUint32(at + 12, true);
  at += 16;
  if (at + nameLength + 8 > end) throw new Error(`${where}: compression name length ${nameLength} exceeds the record`);
  const compression = decoder.decode(bytes.subarray(at, at + nameLength));
  at += nameLength;
  const recordsLength = view.getBigUint64(at, true);
  at += 8;
  if (recordsLength > BigInt(end - at)) throw new Error(`${where}: records length ${recordsLength} exceeds the record`);
  let records = bytes.subarray(at, at + Number(recordsLength));
  if (compression !== '' && records.byteLength > 0) {
    const decompress = codecs.decompressHandlers[compression];
    if (!decompress) throw new Error(`${where}: unsupported compression ${compression}`);
    records = decompress(records, uncompressedSize);
  }
  if (uncompressedCrc !== 0) {
    const crc = crc32(records);
    if (crc !== uncompressedCrc) throw new Error(`${where}: incorrect chunk CRC ${crc} (expected ${uncompressedCrc})`);
  }
  return records;
}

function messageAt(records: Uint8Array, view: DataView, chunk: ChunkIndex, logTime: bigint, offset: bigint): Message {
  const where = `offset ${offset} in chunk at offset ${chunk.chunkStartOffset}`;
  if (offset >= BigInt(records.byteLength)) throw new Error(`message offset beyond chunk bounds (log time ${logTime}, ${where}, chunk data length ${records.byteLength})`);
  const at = Number(offset);
  if (records.byteLength - at < HEADER) throw new Error(`unable to parse record at ${where}`);
  const opcode = view.getUint8(at);
  const length = view.getBigUint64(at + 1, true);
  if (length > BigInt(records.byteLength - at - HEADER)) throw new Error(`unable to parse record at ${where}: length ${length} exceeds the chunk`);
  if (opcode !== Opcode.MESSAGE) throw new Error(`unexpected record (opcode 0x${opcode.toString(16)}) in message index (log time ${logTime}, ${where})`);
  if (length < BigInt(MESSAGE_PREFIX)) throw new Error(`message record at ${where} is ${length} bytes, shorter than its fields`);
  const body = at + HEADER;
  const recordLogTime = view.getBigUint64(body + 6, true);
  if (recordLogTime !== logTime) throw new Error(`message log time ${recordLogTime} does not match its index entry (${logTime} at ${where})`);
  const dataStart = body + MESSAGE_PREFIX;
  const dataLength = body + Number(length) - dataStart;
  // A plain Uint8Array view (records may be a Buffer, whose slice() would not copy).
  const data = new Uint8Array(records.buffer, records.byteOffset + dataStart, dataLength);
  return {
    type: 'Message',
    channelId: view.getUint16(body, true),
    sequence: view.getUint32(body + 2, true),
    logTime,
    publishTime: view.getBigUint64(body + 14, true),
    data: dataLength < records.byteLength * MIN_VIEW_SHARE ? new Uint8Array(data) : data,
  };
}

/**
 * IReadable over a file handle that returns a new buffer for every read. @mcap/nodejs's
 * FileHandleReadable reuses one buffer for all reads: messages of an uncompressed chunk are
 * views into it, so the next read overwrote messages still held (a frame waiting in a mailbox),
 * and two iterators reading at once corrupted each other's chunks. A fresh allocation per
 * read (one per chunk or index, not per message) costs less than the copy it replaces.
 */
export class FreshReadable implements McapTypes.IReadable {
  constructor(private readonly handle: FileHandle) {}

  async size(): Promise<bigint> {
    return BigInt((await this.handle.stat()).size);
  }

  async read(offset: bigint, length: bigint): Promise<Uint8Array> {
    if (offset > BigInt(Number.MAX_SAFE_INTEGER) || length > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`read too large: offset ${offset}, length ${length}`);
    // Unzeroed (0.17 ms less per 3 MB chunk): it escapes only when the read filled every byte.
    const buffer = Buffer.allocUnsafe(Number(length));
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, Number(offset));
    if (bytesRead !== buffer.length) throw new Error(`read only ${bytesRead} bytes from offset ${offset}, expected ${length}`);
    // A plain Uint8Array: a Buffer's slice() is a view, and callers copy with slice().
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
}
