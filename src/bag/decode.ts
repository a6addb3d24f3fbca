import { PerceptionError } from '../core/errors.js';
import type { BagMessage, ReadOptions } from './types.js';

/** Per-channel decoder, or the reason the channel cannot be decoded (reported per message). */
export type ChannelDecoder =
  | { ok: true; topic: string; type: string; decode: (bytes: Uint8Array) => unknown }
  | { ok: false; topic: string; type: string; error: PerceptionError };

/**
 * Turns one raw message into a BagMessage, or reports its failure through `opts.onError` and
 * returns undefined (skip). Without onError the failure is thrown. `index` is the per-topic
 * counter, advanced even for failed messages so later indices stay true to the file.
 */
export function decodeOne(
  file: string,
  decoder: ChannelDecoder,
  index: number,
  logTimeNs: bigint,
  bytes: Uint8Array,
  opts: ReadOptions,
): BagMessage | undefined {
  const { topic, type } = decoder;
  let failure: PerceptionError;
  if (decoder.ok) {
    try {
      return { topic, type, logTimeNs, index, msg: decoder.decode(bytes) };
    } catch (cause) {
      failure = new PerceptionError(
        'MESSAGE_DECODE',
        `message does not decode as ${type}: ${(cause as Error)?.message}`,
        { file, topic, index, type },
        { cause },
      );
    }
  } else {
    const base = decoder.error;
    failure = new PerceptionError(base.code, base.message.replace(/ \[.*\]$/, ''), { ...base.context, file, topic, index }, { cause: base.cause });
  }
  if (opts.onError) {
    opts.onError(failure);
    return undefined;
  }
  throw failure;
}

/** Per-topic counters for one iteration. */
export class TopicCounter {
  readonly #counts = new Map<string, number>();
  next(topic: string): number {
    const n = this.#counts.get(topic) ?? 0;
    this.#counts.set(topic, n + 1);
    return n;
  }
}

export function inRange(t: bigint, opts: ReadOptions): boolean {
  return (opts.startNs === undefined || t >= opts.startNs) && (opts.endNs === undefined || t <= opts.endNs);
}
