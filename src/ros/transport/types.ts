import type { PerceptionError } from '../../core/errors.js';

/**
 * What a perception or learner node needs from the outside world, and nothing about where it
 * comes from. Two adapters implement it: `BagTransport` (plays a bag, records publications into
 * an MCAP) and `RosTransport` (rclnodejs). One behaviour suite (test/transport) runs against both.
 *
 * Concurrency and ownership rules, the same for every adapter:
 * - Handlers of one subscription are called in arrival order. The transport does not wait for
 *   a handler's promise, except `BagTransport` in `fast` mode (that wait is the backpressure
 *   that paces a replay). A live camera cannot be paused: a handler still busy gets the next
 *   message anyway, which is why the core keeps frames in keep-latest mailboxes.
 * - A message handed to a handler, and its byte arrays, are valid until the handler returns
 *   (its synchronous part). The transport may reuse them afterwards: copy what you keep,
 *   including across an `await`.
 * - A handler that throws or rejects, and a message that does not decode or does not have the
 *   shape of its type, become a `TransportEvent` on `onEvent`; nothing is thrown out of the
 *   transport, and the next message is delivered as usual.
 * - `publish` serialises (or hands over) the message before it returns, so the caller may reuse
 *   its buffers at once.
 * - `dispose()` on a subscription, publisher or the transport is idempotent. After the transport
 *   is disposed, `counts()` is zero and no handler is called again.
 */

/** QoS in the transport's own words; adapters map it to DDS policies. */
export interface QosProfile {
  readonly reliability: 'reliable' | 'best_effort';
  /** History is always keep-last; this is its depth (≥ 1). */
  readonly depth: number;
  readonly durability: 'volatile' | 'transient_local';
}

/** rclcpp's `SensorDataQoS`: best effort, keep last 5, volatile. For camera subscriptions. */
export const SENSOR_DATA_QOS: QosProfile = Object.freeze({ reliability: 'best_effort', depth: 5, durability: 'volatile' });
/** Results, overlays, markers, diagnostics: reliable, keep last 10 (rclcpp's default depth). */
export const RESULTS_QOS: QosProfile = Object.freeze({ reliability: 'reliable', depth: 10, durability: 'volatile' });
/** Status a late joiner (rviz2 opened later) should still see: the last one is kept. */
export const LATCHED_QOS: QosProfile = Object.freeze({ reliability: 'reliable', depth: 1, durability: 'transient_local' });
/** tf2_ros's static listener QoS: /tf_static latched (every broadcaster's last message), depth 100. */
export const TF_STATIC_QOS: QosProfile = Object.freeze({ reliability: 'reliable', depth: 100, durability: 'transient_local' });

export interface ReceiveInfo {
  /** Fully resolved topic name. */
  readonly topic: string;
  /** The transport clock's time when the message was handed over (sim time under `use_sim_time`). */
  readonly receiveTimeNs: bigint;
  /** When the sender published it, if the middleware or bag says so (bag: log time). */
  readonly sourceTimeNs?: bigint;
  /** 0-based count of messages delivered on this subscription. */
  readonly index: number;
}

export type MessageHandler<T> = (msg: T, info: ReceiveInfo) => void | Promise<void>;

export interface SubscribeOptions {
  /** Default: `SENSOR_DATA_QOS` for image types, `RESULTS_QOS` otherwise. */
  readonly qos?: QosProfile;
}

export interface AdvertiseOptions {
  /** Default: `RESULTS_QOS`. */
  readonly qos?: QosProfile;
}

export interface Subscription {
  readonly topic: string;
  /** ROS 2 form `pkg/msg/Type`. */
  readonly type: string;
  readonly qos: QosProfile;
  dispose(): void;
}

export interface Publisher<T = unknown> {
  readonly topic: string;
  readonly type: string;
  readonly qos: QosProfile;
  /** Never throws: a message that cannot be sent becomes a `publish_error` event. */
  publish(msg: T): void;
  dispose(): void;
}

export interface TransportClock {
  /** `sim` when `use_sim_time` is on (ROS `/clock`, or the bag's log time); `wall` otherwise. */
  readonly source: 'sim' | 'wall';
  /** Nanoseconds since the epoch (sim: the bag's or `/clock`'s time; 0n before the first tick). */
  now(): bigint;
}

/** Everything that goes wrong without being the caller's fault. Reported, counted, skipped. */
export type TransportEvent =
  | { readonly kind: 'decode_error'; readonly topic: string; readonly error: PerceptionError }
  | { readonly kind: 'handler_error'; readonly topic: string; readonly error: unknown }
  | { readonly kind: 'publish_error'; readonly topic: string; readonly error: PerceptionError };

export type TransportEventListener = (event: TransportEvent) => void;

export interface TransportCounts {
  readonly subscriptions: number;
  readonly publishers: number;
}

export interface Transport {
  readonly kind: 'bag' | 'ros';
  readonly clock: TransportClock;
  /** Fully qualified namespace (`/` or `/robot1`); relative topic names resolve under it. */
  readonly namespace: string;
  subscribe<T = unknown>(topic: string, type: string, handler: MessageHandler<T>, options?: SubscribeOptions): Subscription;
  advertise<T = unknown>(topic: string, type: string, options?: AdvertiseOptions): Publisher<T>;
  /** Live subscriptions and publishers; back to zero after `dispose()`. */
  counts(): TransportCounts;
  /** Releases everything (flushes and closes an output bag). Idempotent. */
  dispose(): Promise<void>;
}

export interface TransportOptions {
  /** Decode, handler and publish failures. A listener that throws is ignored (it must not stop delivery). */
  readonly onEvent?: TransportEventListener;
  /** Node namespace (default `/`). */
  readonly namespace?: string;
  /** Use the recorded / `/clock` time instead of the wall clock. */
  readonly useSimTime?: boolean;
}
