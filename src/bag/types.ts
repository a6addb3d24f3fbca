import type { PerceptionError } from '../core/errors.js';

/**
 * The bag-reading contract shared by the MCAP and ROS 1 readers. Implementations live in
 * `mcap-reader.ts` and `ros1-reader.ts`; `openBag` in `reader.ts` picks one by magic bytes.
 *
 * Concurrency: several `messages()` iterators may run at once on one reader; each keeps its own
 * cursor and per-topic counters, and the file is read with positional reads only. `close()` is
 * idempotent; an iterator pulled after `close()` throws PerceptionError('IO').
 */
export type BagFormat = 'mcap' | 'ros1';

export interface TopicInfo {
  topic: string;
  /** ROS 2 form `pkg/msg/Type`, whatever the bag stored. */
  type: string;
  count: number;
}

export interface BagInfo {
  path: string;
  format: BagFormat;
  /** Log time of the first and last message (0n for an empty bag). */
  startNs: bigint;
  endNs: bigint;
  durationNs: bigint;
  messageCount: number;
  topics: TopicInfo[];
  /** Chunk compression(s), e.g. `zstd`, `lz4`, `none`; comma-joined when mixed. */
  compression?: string;
  /** Set when the file has no usable index and ends early: counts cover the readable part. */
  truncated?: boolean;
}

export interface BagMessage {
  topic: string;
  type: string;
  logTimeNs: bigint;
  /** 0-based position of this message among its topic's messages in this iteration. */
  index: number;
  /** Decoded, with ROS 2 field names. Byte arrays may be views into a shared buffer: copy to keep. */
  msg: unknown;
}

export interface ReadOptions {
  /** Only these topics (all when absent). */
  topics?: readonly string[];
  /** Inclusive log-time bounds. */
  startNs?: bigint;
  endNs?: bigint;
  /**
   * Called with a per-message failure ('MESSAGE_DECODE' or 'UNKNOWN_MESSAGE_TYPE', naming file,
   * topic and index); the message is then skipped and iteration goes on, so replay can count it.
   * Without it such a failure ends the iteration by throwing. Failures of the file itself
   * ('BAG_TRUNCATED', 'BAG_CORRUPT', 'IO') always throw: nothing after them can be trusted.
   */
  onError?: (err: PerceptionError) => void;
  /**
   * Messages the caller no longer wants, decided by topic and log time in log-time order just
   * before they are read (a live-paced consumer that fell behind: replay skips camera frames
   * whose deadline passed before they were read). A skipped message is never yielded. The
   * indexed MCAP reader does not read or decompress a chunk whose every wanted message is
   * skipped; the other readers skip the message's decoding.
   */
  skip?: (topic: string, logTimeNs: bigint) => boolean;
}

export interface BagReader {
  readonly path: string;
  readonly format: BagFormat;
  info(): BagInfo;
  /** Pull-based, in log-time order (streaming fallback for unindexed MCAP: file order). */
  messages(opts?: ReadOptions): AsyncIterable<BagMessage>;
  close(): Promise<void>;
}

/** Writers share this shape so producers (sim, replay) need not care about the format. */
export interface BagWriter {
  addTopic(topic: string, type: string): Promise<void>;
  write(topic: string, logTimeNs: bigint, msg: unknown): Promise<void>;
  close(): Promise<void>;
}
