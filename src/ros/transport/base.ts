import { PerceptionError } from '../../core/errors.js';
import { toRos2Name } from '../../msgs/index.js';
import { checkNamespace, checkQos, defaultSubscribeQos, resolveTopic } from './names.js';
import {
  RESULTS_QOS,
  type AdvertiseOptions,
  type MessageHandler,
  type QosProfile,
  type ReceiveInfo,
  type SubscribeOptions,
  type TransportCounts,
  type TransportEvent,
  type TransportOptions,
} from './types.js';

/** One live subscription as the adapters keep it. */
export interface SubEntry {
  readonly topic: string;
  readonly type: string;
  readonly qos: QosProfile;
  readonly handler: MessageHandler<unknown>;
  delivered: number;
  disposed: boolean;
}

export interface PubEntry {
  readonly topic: string;
  readonly type: string;
  readonly qos: QosProfile;
  disposed: boolean;
}

/**
 * The bookkeeping both adapters share: argument checks, live sets for `counts()`, safe event
 * reporting and handler invocation. Adapters add how messages come in and go out.
 */
export class TransportCore {
  readonly namespace: string;
  readonly nodeName: string;
  readonly subs = new Set<SubEntry>();
  readonly pubs = new Set<PubEntry>();
  disposed = false;
  readonly #onEvent: TransportOptions['onEvent'];

  constructor(options: TransportOptions, nodeName: string) {
    this.namespace = checkNamespace(options.namespace ?? '/');
    this.nodeName = nodeName;
    this.#onEvent = options.onEvent;
  }

  counts(): TransportCounts {
    return { subscriptions: this.subs.size, publishers: this.pubs.size };
  }

  checkOpen(topic: string): void {
    if (this.disposed) throw new PerceptionError('INVALID_ARGUMENT', 'transport is disposed', { topic });
  }

  newSub(topic: string, type: string, handler: MessageHandler<unknown>, options: SubscribeOptions = {}): SubEntry {
    this.checkOpen(topic);
    if (typeof handler !== 'function') throw new PerceptionError('INVALID_ARGUMENT', 'handler must be a function', { topic, field: 'handler' });
    const full = toRos2Name(type);
    const entry: SubEntry = {
      topic: resolveTopic(topic, this.namespace, this.nodeName),
      type: full,
      qos: checkQos(options.qos ?? defaultSubscribeQos(full)),
      handler,
      delivered: 0,
      disposed: false,
    };
    this.subs.add(entry);
    return entry;
  }

  newPub(topic: string, type: string, options: AdvertiseOptions = {}): PubEntry {
    this.checkOpen(topic);
    const entry: PubEntry = {
      topic: resolveTopic(topic, this.namespace, this.nodeName),
      type: toRos2Name(type),
      qos: checkQos(options.qos ?? RESULTS_QOS),
      disposed: false,
    };
    this.pubs.add(entry);
    return entry;
  }

  /** Removes an entry; true the first time only (so adapters release native handles once). */
  drop(entry: SubEntry | PubEntry): boolean {
    if (entry.disposed) return false;
    entry.disposed = true;
    this.subs.delete(entry as SubEntry);
    this.pubs.delete(entry as PubEntry);
    return true;
  }

  report(event: TransportEvent): void {
    try {
      this.#onEvent?.(event);
    } catch {
      // A failing listener must not stop delivery; there is nowhere further to report it.
    }
  }

  /**
   * Calls a handler, turning a throw or a rejection into a `handler_error` event. Returns the
   * handler's promise (settled, never rejecting) so a caller that wants backpressure can await it.
   */
  deliver(entry: SubEntry, msg: unknown, receiveTimeNs: bigint, sourceTimeNs?: bigint): Promise<void> | undefined {
    if (entry.disposed || this.disposed) return undefined;
    const info: ReceiveInfo = { topic: entry.topic, receiveTimeNs, sourceTimeNs, index: entry.delivered++ };
    try {
      const out = entry.handler(msg, info);
      if (out && typeof (out as Promise<void>).then === 'function') {
        return (out as Promise<void>).then(undefined, (error: unknown) => this.report({ kind: 'handler_error', topic: entry.topic, error }));
      }
    } catch (error) {
      this.report({ kind: 'handler_error', topic: entry.topic, error });
    }
    return undefined;
  }
}

/** Wall clock in nanoseconds since the epoch, with sub-millisecond resolution. */
export function wallNowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}
