import { PerceptionError } from '../../core/errors.js';
import { McapBagWriter, openBag, type BagReader, type McapBagWriterOptions } from '../../bag/index.js';
import { TransportCore, wallNowNs, type PubEntry, type SubEntry } from './base.js';
import { conformError } from './conform.js';
import type {
  AdvertiseOptions,
  MessageHandler,
  Publisher,
  SubscribeOptions,
  Subscription,
  Transport,
  TransportClock,
  TransportCounts,
  TransportOptions,
} from './types.js';

export interface BagTransportOptions extends TransportOptions {
  /** The bag to play: a path (opened and closed by the transport) or an open reader (left open). */
  readonly input: string | BagReader;
  /** Where publications are recorded (MCAP). Without it they are checked and counted only. */
  readonly output?: string;
  readonly outputOptions?: McapBagWriterOptions;
  /** Name used for `~/` topics (default `perception`). */
  readonly nodeName?: string;
}

export interface PlayOptions {
  /**
   * `1` plays at the recorded rate, `2` twice as fast, `0.5` at half speed; `'fast'` delivers as
   * fast as the handlers take it, awaiting each handler's promise (backpressure). Default `'fast'`.
   */
  readonly rate?: number | 'fast';
  /** Inclusive log-time bounds. */
  readonly startNs?: bigint;
  readonly endNs?: bigint;
}

export interface PlaySummary {
  /** Messages read from the bag for subscribed topics. */
  readonly read: number;
  /** Handler calls made (a message with two subscribers counts twice). */
  readonly delivered: number;
  /** Messages skipped because they did not decode or did not fit their type. */
  readonly skipped: number;
  /** True when `dispose()` stopped playback early. */
  readonly stopped: boolean;
}

/**
 * Plays a bag into subscriptions and records every publication into an output MCAP: the replay
 * and test transport. Playback is pull-based (one message read at a time from the reader).
 * Sim time (`useSimTime`, the default here) is the log time of the message being delivered,
 * as `ros2 bag play --clock` would publish it; publications are logged at that time, so the
 * output bag lines up with the input.
 */
export class BagTransport implements Transport {
  readonly kind = 'bag' as const;
  readonly clock: TransportClock;
  readonly #core: TransportCore;
  readonly #reader: BagReader;
  readonly #ownsReader: boolean;
  readonly #writer: McapBagWriter | undefined;
  #simNowNs = 0n;
  #writes: Promise<unknown> = Promise.resolve();
  #wake: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  private constructor(core: TransportCore, reader: BagReader, ownsReader: boolean, writer: McapBagWriter | undefined, useSimTime: boolean) {
    this.#core = core;
    this.#reader = reader;
    this.#ownsReader = ownsReader;
    this.#writer = writer;
    this.clock = useSimTime ? { source: 'sim', now: () => this.#simNowNs } : { source: 'wall', now: wallNowNs };
  }

  static async open(options: BagTransportOptions): Promise<BagTransport> {
    const core = new TransportCore(options, options.nodeName ?? 'perception');
    const ownsReader = typeof options.input === 'string';
    const reader = typeof options.input === 'string' ? await openBag(options.input) : options.input;
    let writer: McapBagWriter | undefined;
    try {
      if (options.output !== undefined) writer = await McapBagWriter.open(options.output, options.outputOptions);
    } catch (err) {
      if (ownsReader) await reader.close();
      throw err;
    }
    return new BagTransport(core, reader, ownsReader, writer, options.useSimTime ?? true);
  }

  get namespace(): string {
    return this.#core.namespace;
  }

  /** The input bag's topics and counts, for choosing what to subscribe to. */
  get input(): BagReader {
    return this.#reader;
  }

  counts(): TransportCounts {
    return this.#core.counts();
  }

  subscribe<T = unknown>(topic: string, type: string, handler: MessageHandler<T>, options?: SubscribeOptions): Subscription {
    const entry = this.#core.newSub(topic, type, handler as MessageHandler<unknown>, options);
    return { topic: entry.topic, type: entry.type, qos: entry.qos, dispose: () => void this.#core.drop(entry) };
  }

  advertise<T = unknown>(topic: string, type: string, options?: AdvertiseOptions): Publisher<T> {
    const entry = this.#core.newPub(topic, type, options);
    if (this.#writer) this.#track(this.#writer.addTopic(entry.topic, entry.type), entry.topic);
    return {
      topic: entry.topic,
      type: entry.type,
      qos: entry.qos,
      publish: (msg: T) => this.#publish(entry, msg),
      dispose: () => void this.#core.drop(entry),
    };
  }

  /**
   * Plays the bag once into the current subscriptions (topics subscribed later are not read).
   * Resolves when the bag ends or `dispose()` stops it; never rejects for a bad message (those
   * become events), only for a bag that cannot be read at all.
   */
  async play(options: PlayOptions = {}): Promise<PlaySummary> {
    const rate = options.rate ?? 'fast';
    if (rate !== 'fast' && !(typeof rate === 'number' && Number.isFinite(rate) && rate > 0)) {
      throw new PerceptionError('INVALID_ARGUMENT', `rate must be a positive number or "fast", got ${String(rate)}`, { field: 'rate' });
    }
    const core = this.#core;
    const topics = [...new Set([...core.subs].map((s) => s.topic))];
    const bagTypes = new Map(this.#reader.info().topics.map((t) => [t.topic, t.type]));
    let read = 0;
    let delivered = 0;
    let skipped = 0;
    const mismatched = new Set<string>();
    let startLog: bigint | undefined;
    let startWall = 0;
    try {
      const iter = this.#reader.messages({
        topics,
        startNs: options.startNs,
        endNs: options.endNs,
        onError: (error) => {
          skipped++;
          core.report({ kind: 'decode_error', topic: error.context.topic ?? '', error });
        },
      });
      for await (const m of iter) {
        if (core.disposed) break;
        read++;
        if (rate !== 'fast') {
          startLog ??= m.logTimeNs;
          if (startWall === 0) startWall = performance.now();
          const dueMs = startWall + Number(m.logTimeNs - startLog) / 1e6 / rate;
          // setTimeout may fire up to a millisecond early: sleep again until the frame is due.
          while (!core.disposed && performance.now() < dueMs) await this.#sleepUntil(dueMs);
          if (core.disposed) break;
        }
        this.#simNowNs = m.logTimeNs;
        const ctx = { file: this.#reader.path, topic: m.topic, index: m.index };
        const wanted = [...core.subs].filter((s) => s.topic === m.topic);
        const fits = wanted.filter((s) => s.type === m.type);
        if (fits.length < wanted.length && !mismatched.has(m.topic)) {
          mismatched.add(m.topic);
          const want = wanted.find((s) => s.type !== m.type)?.type;
          core.report({ kind: 'decode_error', topic: m.topic, error: new PerceptionError('MESSAGE_DECODE', `topic has type ${bagTypes.get(m.topic) ?? m.type} in the bag but was subscribed as ${want}`, ctx) });
        }
        if (fits.length === 0) continue;
        const shapeError = conformError(m.type, m.msg, ctx);
        if (shapeError) {
          skipped++;
          core.report({ kind: 'decode_error', topic: m.topic, error: shapeError });
          continue;
        }
        for (const sub of fits) {
          const pending = core.deliver(sub, m.msg, this.clock.now(), m.logTimeNs);
          delivered++;
          // Backpressure only when pacing by the handlers; a timed replay, like a camera, does not wait.
          if (pending && rate === 'fast') await pending;
        }
      }
    } catch (err) {
      if (!core.disposed) throw err;
    }
    return { read, delivered, skipped, stopped: core.disposed };
  }

  dispose(): Promise<void> {
    this.#closing ??= (async () => {
      const core = this.#core;
      core.disposed = true;
      for (const s of [...core.subs]) core.drop(s as SubEntry);
      for (const p of [...core.pubs]) core.drop(p as PubEntry);
      this.#wake?.();
      await this.#writes;
      try {
        await this.#writer?.close();
      } finally {
        if (this.#ownsReader) await this.#reader.close();
      }
    })();
    return this.#closing;
  }

  #publish(entry: PubEntry, msg: unknown): void {
    const core = this.#core;
    if (entry.disposed || core.disposed) {
      core.report({ kind: 'publish_error', topic: entry.topic, error: new PerceptionError('INVALID_ARGUMENT', 'publish on a disposed publisher', { topic: entry.topic }) });
      return;
    }
    // The CDR writer fills in missing fields silently; a malformed result must not reach the bag.
    const error = conformError(entry.type, msg, { topic: entry.topic });
    if (error) return core.report({ kind: 'publish_error', topic: entry.topic, error });
    if (!this.#writer) return;
    // The writer serialises synchronously inside write(), so the caller may reuse msg at once.
    this.#track(this.#writer.write(entry.topic, this.clock.now(), msg), entry.topic);
  }

  #track(p: Promise<void>, topic: string): void {
    const settled = p.catch((error: unknown) => {
      const err = error instanceof PerceptionError ? error : new PerceptionError('IO', String(error), { topic }, { cause: error });
      this.#core.report({ kind: 'publish_error', topic, error: err });
    });
    this.#writes = Promise.all([this.#writes, settled]);
  }

  #sleepUntil(dueMs: number): Promise<void> {
    const wait = dueMs - performance.now();
    if (wait <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.ceil(wait));
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    }).finally(() => (this.#wake = undefined));
  }
}
