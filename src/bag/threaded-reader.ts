import type { Worker } from 'node:worker_threads';
import { PerceptionError } from '../core/errors.js';
import { fromWireError, spawnModuleWorker, type WireError } from '../core/worker-thread.js';
import type { BagFormat, BagInfo, BagMessage, BagReader, ReadOptions } from './types.js';

// ------------------------------------------------------------------ protocol (both sides)

export interface ReaderInit {
  path: string;
}

export type ToReader =
  | { type: 'iterate'; id: number; topics?: readonly string[]; startNs?: bigint; endNs?: bigint; reportErrors: boolean; credit: number }
  | { type: 'credit'; id: number; n: number }
  | { type: 'stop'; id: number }
  | { type: 'close' };

export type ReaderItem = { m: BagMessage } | { e: WireError };

export type FromReader =
  | { type: 'open'; info: BagInfo; format: BagFormat }
  | { type: 'fatal'; error: WireError }
  | { type: 'items'; id: number; items: ReaderItem[] }
  | { type: 'end'; id: number; error?: WireError }
  | { type: 'closed' };

// ------------------------------------------------------------------ main-thread side

export interface ThreadedReaderOptions {
  /**
   * Messages read ahead per iterator (default 8): bounds memory (8 raw 720p frames ≈ 22 MB)
   * while keeping the worker busy while the caller works on the last batch.
   */
  readAhead?: number;
}

interface Cursor {
  queue: ReaderItem[];
  ended: boolean;
  error?: PerceptionError;
  wake?: () => void;
}

/**
 * A BagReader whose reading runs in a worker thread. Decompressing chunks (zstd), checking
 * their CRCs and decoding CDR cost ~7 ms per raw 720p frame here, on whatever thread reads:
 * on the main thread that is time the scheduler, scoring and publishing do not get, and at
 * four 30 Hz cameras it is most of a core (bench). Here the worker owns the file and an
 * ordinary reader (`openBag`), and sends decoded messages with their byte arrays moved, not
 * copied, a few messages ahead of the consumer (credit-based flow control).
 *
 * Same contract as the readers it wraps (types.ts): per-message failures go to `onError` in
 * order with the messages; file failures end the iteration by throwing the same
 * PerceptionError code and context; breaking out of a loop stops the worker's cursor.
 */
export class ThreadedBagReader implements BagReader {
  readonly path: string;
  readonly format: BagFormat;
  readonly #info: BagInfo;
  readonly #worker: Worker;
  readonly #readAhead: number;
  readonly #cursors = new Map<number, Cursor>();
  #nextId = 1;
  #failure: PerceptionError | undefined;
  #closing: Promise<void> | undefined;

  private constructor(worker: Worker, open: Extract<FromReader, { type: 'open' }>, path: string, options: ThreadedReaderOptions) {
    this.#worker = worker;
    this.path = path;
    this.format = open.format;
    this.#info = open.info;
    this.#readAhead = options.readAhead ?? 8;
    worker.on('message', (m: FromReader) => this.#onMessage(m));
    worker.on('error', (err) => this.#fail(new PerceptionError('IO', `bag reader thread crashed: ${err.message}`, { file: path }, { cause: err })));
    worker.on('exit', (code) => this.#fail(new PerceptionError('IO', `bag reader thread exited (code ${code})`, { file: path })));
    worker.unref();
  }

  /** Opens `path` in a new worker thread; rejects with the reader's own error (BAG_UNSUPPORTED, IO, ...). */
  static async open(path: string, options: ThreadedReaderOptions = {}): Promise<ThreadedBagReader> {
    const readAhead = options.readAhead ?? 8;
    if (!(Number.isInteger(readAhead) && readAhead >= 1 && readAhead <= 1024)) {
      throw new PerceptionError('INVALID_ARGUMENT', `readAhead must be an integer in 1..1024, got ${readAhead}`, { field: 'readAhead' });
    }
    const init: ReaderInit = { path };
    const worker = spawnModuleWorker(new URL('./threaded-reader-entry.ts', import.meta.url), init);
    // Only our own listeners are removed: Worker keeps its message port going through
    // 'newListener'/'removeListener' handlers of its own, which removeAllListeners would break.
    const listeners: { message?: (m: FromReader) => void; error?: (e: Error) => void; exit?: (code: number) => void } = {};
    const first = await new Promise<FromReader>((resolve, reject) => {
      listeners.message = resolve;
      listeners.error = reject;
      listeners.exit = (code) => reject(new PerceptionError('IO', `bag reader thread exited (code ${code}) before opening the bag`, { file: path }));
      worker.on('message', listeners.message);
      worker.on('error', listeners.error);
      worker.on('exit', listeners.exit);
    })
      .catch(async (err: unknown) => {
        await worker.terminate();
        throw err instanceof PerceptionError ? err : new PerceptionError('IO', `bag reader thread failed to start: ${(err as Error).message}`, { file: path }, { cause: err });
      })
      .finally(() => {
        worker.off('message', listeners.message!);
        worker.off('error', listeners.error!);
        worker.off('exit', listeners.exit!);
      });
    if (first.type !== 'open') {
      await worker.terminate();
      throw first.type === 'fatal' ? fromWireError(first.error, 'IO', 'bag reader thread') : new PerceptionError('IO', `bag reader thread sent ${first.type} before opening`, { file: path });
    }
    return new ThreadedBagReader(worker, first, path, { readAhead });
  }

  info(): BagInfo {
    return { ...this.#info, topics: this.#info.topics.map((t) => ({ ...t })) };
  }

  messages(opts: ReadOptions = {}): AsyncIterable<BagMessage> {
    return { [Symbol.asyncIterator]: () => this.#iterate(opts) };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        this.#worker.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
      this.#worker.postMessage({ type: 'close' } satisfies ToReader);
      await closed;
      await this.#worker.terminate();
      this.#fail(new PerceptionError('IO', 'bag reader is closed', { file: this.path }));
    })();
    return this.#closing;
  }

  async *#iterate(opts: ReadOptions): AsyncGenerator<BagMessage> {
    if (this.#closing) throw new PerceptionError('IO', 'bag reader is closed', { file: this.path });
    if (this.#failure) throw this.#failure;
    const id = this.#nextId++;
    const cursor: Cursor = { queue: [], ended: false };
    this.#cursors.set(id, cursor);
    this.#worker.ref(); // an iteration in progress keeps the process alive, as a file read would
    this.#worker.postMessage({ type: 'iterate', id, topics: opts.topics, startNs: opts.startNs, endNs: opts.endNs, reportErrors: opts.onError !== undefined, credit: this.#readAhead } satisfies ToReader);
    let finished = false;
    try {
      while (true) {
        while (cursor.queue.length === 0 && !cursor.ended) await new Promise<void>((r) => (cursor.wake = r));
        const item = cursor.queue.shift();
        if (!item) {
          finished = true;
          if (cursor.error) throw cursor.error;
          return;
        }
        if (!cursor.ended) this.#worker.postMessage({ type: 'credit', id, n: 1 } satisfies ToReader);
        if ('e' in item) opts.onError?.(fromWireError(item.e, 'MESSAGE_DECODE', 'bag reader thread'));
        // A function cannot cross to the reader thread: `skip` is asked here, after the read.
        else if (!opts.skip?.(item.m.topic, item.m.logTimeNs)) yield item.m;
      }
    } finally {
      this.#cursors.delete(id);
      if (!finished && !this.#closing && !this.#failure) this.#worker.postMessage({ type: 'stop', id } satisfies ToReader);
      if (this.#cursors.size === 0) this.#worker.unref();
    }
  }

  #onMessage(m: FromReader): void {
    if (m.type === 'items' || m.type === 'end') {
      const c = this.#cursors.get(m.id);
      if (!c) return; // stopped by the consumer; late messages are dropped
      if (m.type === 'items') c.queue.push(...m.items);
      else {
        c.ended = true;
        if (m.error) c.error = fromWireError(m.error, 'IO', 'bag reader thread');
      }
      c.wake?.();
    } else if (m.type === 'fatal') this.#fail(fromWireError(m.error, 'IO', 'bag reader thread'));
  }

  #fail(err: PerceptionError): void {
    this.#failure ??= err;
    for (const c of this.#cursors.values()) {
      c.queue.length = 0; // closed or crashed: nothing read ahead is handed out after that
      if (c.ended && c.error) continue;
      c.ended = true;
      c.error = this.#failure;
      c.wake?.();
    }
  }
}
