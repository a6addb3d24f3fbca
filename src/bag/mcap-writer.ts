import { open, type FileHandle } from 'node:fs/promises';
import { McapWriter } from '@mcap/core';
import { FileHandleWritable } from '@mcap/nodejs';
import { PerceptionError } from '../core/errors.js';
import { codecFor, definitionFor, toRos2Name, type Ros2Codec } from '../msgs/index.js';
import { loadCodecs, type Compression } from './compression.js';
import type { BagWriter } from './types.js';

export interface McapBagWriterOptions {
  /** Chunk compression; zstd by default (depth and mask ground truth compress well). */
  compression?: Compression;
  /** Uncompressed chunk size target in bytes (default 1 MiB). */
  chunkSize?: number;
}

interface Channel {
  id: number;
  codec: Ros2Codec;
  sequence: number;
}

const encoder = new TextEncoder();

/**
 * Writes a ROS 2 MCAP file (profile `ros2`, schemas `ros2msg`, messages `cdr`), chunked,
 * compressed and fully indexed so readers can seek. Calls are queued internally, so callers may
 * fire writes without awaiting each one (McapWriter itself corrupts the file if calls overlap).
 */
export class McapBagWriter implements BagWriter {
  readonly path: string;
  readonly #file: FileHandle;
  readonly #writer: McapWriter;
  readonly #schemas = new Map<string, number>();
  readonly #channels = new Map<string, Channel>();
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  private constructor(path: string, file: FileHandle, writer: McapWriter) {
    this.path = path;
    this.#file = file;
    this.#writer = writer;
  }

  static async open(path: string, options: McapBagWriterOptions = {}): Promise<McapBagWriter> {
    const compression = options.compression ?? 'zstd';
    if (!['zstd', 'lz4', 'none'].includes(compression)) {
      throw new PerceptionError('INVALID_ARGUMENT', `compression must be zstd, lz4 or none, got "${compression}"`, { field: 'compression' });
    }
    const chunkSize = options.chunkSize ?? 1 << 20;
    if (!Number.isInteger(chunkSize) || chunkSize < 1) {
      throw new PerceptionError('INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${chunkSize}`, { field: 'chunkSize' });
    }
    const codecs = await loadCodecs();
    let file: FileHandle;
    try {
      file = await open(path, 'w');
    } catch (cause) {
      throw new PerceptionError('IO', `cannot create bag: ${(cause as Error).message}`, { file: path }, { cause });
    }
    const compress = compression === 'none' ? undefined : codecs.compress[compression];
    const writer = new McapWriter({
      writable: new FileHandleWritable(file),
      useChunks: true,
      chunkSize,
      useStatistics: true,
      useChunkIndex: true,
      useMessageIndex: true,
      useSummaryOffsets: true,
      repeatSchemas: true,
      repeatChannels: true,
      compressChunk: compress && ((data) => ({ compression, compressedData: compress(data) })),
    });
    const self = new McapBagWriter(path, file, writer);
    await self.#run(() => writer.start({ profile: 'ros2', library: 'adaptive_perception' }));
    return self;
  }

  /** Declares a topic; its type must be one of ours (see msgs/definitions.ts). Re-adding the same pair is a no-op. */
  addTopic(topic: string, type: string): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError(topic));
    const fullType = toRos2Name(type);
    const existing = this.#channels.get(topic);
    if (existing) {
      if (existing.codec.type === fullType) return Promise.resolve();
      return Promise.reject(
        new PerceptionError('INVALID_ARGUMENT', `topic already added with type ${existing.codec.type}`, { file: this.path, topic, type: fullType }),
      );
    }
    let codec: Ros2Codec;
    try {
      codec = codecFor(fullType);
    } catch (err) {
      return Promise.reject(err);
    }
    const channel: Channel = { id: -1, codec, sequence: 0 };
    this.#channels.set(topic, channel);
    return this.#run(async () => {
      let schemaId = this.#schemas.get(fullType);
      if (schemaId === undefined) {
        schemaId = await this.#writer.registerSchema({ name: fullType, encoding: 'ros2msg', data: encoder.encode(definitionFor(fullType)) });
        this.#schemas.set(fullType, schemaId);
      }
      channel.id = await this.#writer.registerChannel({ topic, schemaId, messageEncoding: 'cdr', metadata: new Map() });
    });
  }

  /** Serialises `msg` to CDR and appends it; publish time = log time. */
  write(topic: string, logTimeNs: bigint, msg: unknown): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError(topic));
    const channel = this.#channels.get(topic);
    if (!channel) {
      return Promise.reject(new PerceptionError('INVALID_ARGUMENT', 'write to a topic that was not added', { file: this.path, topic }));
    }
    if (typeof logTimeNs !== 'bigint' || logTimeNs < 0n) {
      return Promise.reject(new PerceptionError('INVALID_ARGUMENT', `logTimeNs must be a bigint ≥ 0, got ${String(logTimeNs)}`, { file: this.path, topic }));
    }
    let data: Uint8Array;
    const sequence = channel.sequence++;
    try {
      // Serialise now, not when queued: the caller may reuse its buffers after this returns.
      data = channel.codec.serialize(msg);
    } catch (cause) {
      return Promise.reject(
        new PerceptionError('INVALID_ARGUMENT', `message does not fit ${channel.codec.type}: ${(cause as Error).message}`, { file: this.path, topic, index: sequence }, { cause }),
      );
    }
    return this.#run(() => this.#writer.addMessage({ channelId: channel.id, sequence, logTime: logTimeNs, publishTime: logTimeNs, data }));
  }

  /** Writes the summary and index and closes the file. Idempotent; safe after a failed write. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#run(() => this.#writer.end());
      } finally {
        await this.#file.close();
      }
    })();
    return this.#closing;
  }

  #closedError(topic: string): PerceptionError {
    return new PerceptionError('INVALID_ARGUMENT', 'bag writer is closed', { file: this.path, topic });
  }

  #run(op: () => Promise<unknown>): Promise<void> {
    const next = this.#queue.then(op, op);
    this.#queue = next.catch(() => undefined);
    return next.then(
      () => undefined,
      (cause: unknown) => {
        if (cause instanceof PerceptionError) throw cause;
        throw new PerceptionError('IO', `MCAP write failed: ${(cause as Error)?.message}`, { file: this.path }, { cause });
      },
    );
  }
}
