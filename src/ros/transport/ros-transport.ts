import { PerceptionError } from '../../core/errors.js';
import { TransportCore, type PubEntry, type SubEntry } from './base.js';
import { conformError } from './conform.js';
import { withWholeBuffers } from './whole-buffers.js';
import { PARAMETER_TYPE, RMW, type RclLike, type RclNodeLike, type RclPublisherLike, type RclSubscriptionLike } from './rcl-like.js';
import type {
  AdvertiseOptions,
  MessageHandler,
  Publisher,
  QosProfile,
  SubscribeOptions,
  Subscription,
  Transport,
  TransportClock,
  TransportCounts,
  TransportOptions,
} from './types.js';

const HOW_TO =
  'Source ROS 2 first (e.g. `source /opt/ros/jazzy/setup.bash`, or humble), then build rclnodejs against it ' +
  'in this package: `npm rebuild rclnodejs` (or `npm ci` with ROS 2 sourced). Without ROS 2, run the CLI on a bag instead.';

/**
 * Loads rclnodejs on first use. It is an optional dependency whose native addon only builds
 * where ROS 2 is sourced, so a static import would break every non-ROS use of this package.
 * Throws PerceptionError('IO') saying how to fix it.
 */
export async function loadRclnodejs(env: NodeJS.ProcessEnv = process.env): Promise<RclLike> {
  if (!env.ROS_DISTRO) {
    throw new PerceptionError('IO', `ROS 2 is not sourced (ROS_DISTRO is unset). ${HOW_TO}`, { field: 'ROS_DISTRO' });
  }
  let rcl: RclLike;
  try {
    // A specifier TypeScript does not resolve: `npm run build` must work where rclnodejs is absent (its optional build failed).
    const name = 'rclnodejs';
    const mod = (await import(name)) as { default?: unknown };
    rcl = (mod.default ?? mod) as RclLike;
  } catch (cause) {
    throw new PerceptionError('IO', `rclnodejs cannot be loaded for ROS ${env.ROS_DISTRO}: ${(cause as Error).message}. ${HOW_TO}`, { field: 'rclnodejs' }, { cause });
  }
  // Its SIGINT handler shuts rcl down before our graceful stop runs (see RclLike.removeSignalHandlers).
  rcl.removeSignalHandlers();
  return rcl;
}

export interface RosTransportOptions extends TransportOptions {
  /** Node name (used when the transport creates the node). */
  readonly nodeName: string;
  /** The rclnodejs module; tests pass the in-memory fake. Default: `loadRclnodejs()`. */
  readonly rcl?: RclLike;
  /** An existing node (e.g. the lifecycle node of the composition): not spun, destroyed or shut down by the transport. */
  readonly node?: RclNodeLike;
  /** Passed to `rclnodejs.init` (ROS arguments: remappings, `--params-file`). Default `process.argv`. */
  readonly argv?: string[];
}

const wallNowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

// Per rclnodejs module: how many transports own a node on it. The first inits rcl, the last shuts it down.
const owners = new WeakMap<object, number>();

/**
 * The Transport on rclnodejs. Topic names are handed to rcl as given, so relative names (the
 * result topics) land under the node's namespace and launch-file remappings apply; the names
 * the transport reports are resolved with the same rule (see names.ts).
 */
export class RosTransport implements Transport {
  readonly kind = 'ros' as const;
  readonly clock: TransportClock;
  readonly node: RclNodeLike;
  readonly #rcl: RclLike;
  readonly #core: TransportCore;
  readonly #ownsNode: boolean;
  readonly #subs = new Map<SubEntry, RclSubscriptionLike>();
  readonly #pubs = new Map<PubEntry, RclPublisherLike>();
  #closing: Promise<void> | undefined;

  private constructor(rcl: RclLike, node: RclNodeLike, core: TransportCore, ownsNode: boolean) {
    this.#rcl = rcl;
    this.node = node;
    this.#core = core;
    this.#ownsNode = ownsNode;
    const sim = node.hasParameter('use_sim_time') && node.getParameter('use_sim_time').value === true;
    // After rcl has shut down (a signal, the end of a test) the node's clock is gone; a timer that
    // fires late must not crash the process on it: fall back to the wall clock.
    this.clock = { source: sim ? 'sim' : 'wall', now: () => (rcl.isShutdown() ? wallNowNs() : node.now().nanoseconds) };
  }

  static async open(options: RosTransportOptions): Promise<RosTransport> {
    const rcl = options.rcl ?? (await loadRclnodejs());
    let node = options.node;
    const core = new TransportCore({ ...options, namespace: node ? node.namespace() : options.namespace }, node ? node.name() : options.nodeName);
    if (!node) {
      const n = owners.get(rcl) ?? 0;
      if (n === 0 || rcl.isShutdown()) await rcl.init(undefined, options.argv ?? process.argv);
      owners.set(rcl, n + 1);
      node = new rcl.Node(options.nodeName, core.namespace);
    }
    if (options.useSimTime !== undefined) {
      const result = node.setParameter(new rcl.Parameter('use_sim_time', PARAMETER_TYPE.BOOL, options.useSimTime));
      if (!result.successful) throw new PerceptionError('INVALID_CONFIG', `use_sim_time refused: ${result.reason}`, { field: 'use_sim_time' });
    }
    const transport = new RosTransport(rcl, node, core, !options.node);
    if (!options.node) node.spin();
    return transport;
  }

  get namespace(): string {
    return this.#core.namespace;
  }

  counts(): TransportCounts {
    return this.#core.counts();
  }

  subscribe<T = unknown>(topic: string, type: string, handler: MessageHandler<T>, options?: SubscribeOptions): Subscription {
    const core = this.#core;
    const entry = core.newSub(topic, type, handler as MessageHandler<unknown>, options);
    let received = 0;
    const onMessage = (msg: unknown, info?: { sourceTimestamp: bigint }) => {
      const index = received++;
      const error = conformError(entry.type, msg, { topic: entry.topic, index });
      if (error) return core.report({ kind: 'decode_error', topic: entry.topic, error });
      // Delivered synchronously, inside rclnodejs's callback: rclnodejs may reuse the object after we return.
      core.deliver(entry, msg, this.clock.now(), info?.sourceTimestamp);
    };
    try {
      const sub = this.node.createSubscription(entry.type, topic, { qos: this.#qos(entry.qos), enableTypedArray: true }, onMessage);
      this.#subs.set(entry, sub);
    } catch (cause) {
      core.drop(entry);
      throw new PerceptionError('IO', `cannot subscribe: ${(cause as Error).message}`, { topic: entry.topic, type: entry.type }, { cause });
    }
    return { topic: entry.topic, type: entry.type, qos: entry.qos, dispose: () => this.#dropSub(entry) };
  }

  advertise<T = unknown>(topic: string, type: string, options?: AdvertiseOptions): Publisher<T> {
    const core = this.#core;
    const entry = core.newPub(topic, type, options);
    let pub: RclPublisherLike;
    try {
      pub = this.node.createPublisher(entry.type, topic, { qos: this.#qos(entry.qos), enableTypedArray: true });
    } catch (cause) {
      core.drop(entry);
      throw new PerceptionError('IO', `cannot advertise: ${(cause as Error).message}`, { topic: entry.topic, type: entry.type }, { cause });
    }
    this.#pubs.set(entry, pub);
    return {
      topic: entry.topic,
      type: entry.type,
      qos: entry.qos,
      publish: (msg: T) => {
        if (entry.disposed || core.disposed) {
          return core.report({ kind: 'publish_error', topic: entry.topic, error: new PerceptionError('INVALID_ARGUMENT', 'publish on a disposed publisher', { topic: entry.topic }) });
        }
        // rclnodejs checks too, but only as deep as its generated code: check the shape the same way as the bag transport.
        const error = conformError(entry.type, msg, { topic: entry.topic });
        if (error) return core.report({ kind: 'publish_error', topic: entry.topic, error });
        try {
          pub.publish(withWholeBuffers(msg) as object);
        } catch (cause) {
          core.report({ kind: 'publish_error', topic: entry.topic, error: new PerceptionError('INVALID_ARGUMENT', `message does not fit ${entry.type}: ${(cause as Error).message}`, { topic: entry.topic }, { cause }) });
        }
      },
      dispose: () => this.#dropPub(entry),
    };
  }

  dispose(): Promise<void> {
    this.#closing ??= (async () => {
      for (const entry of [...this.#subs.keys()]) this.#dropSub(entry);
      for (const entry of [...this.#pubs.keys()]) this.#dropPub(entry);
      this.#core.disposed = true;
      if (this.#ownsNode) {
        this.node.destroy();
        const left = (owners.get(this.#rcl) ?? 1) - 1;
        owners.set(this.#rcl, left);
        // Shut rcl down only when no other transport of ours still uses it.
        if (left === 0 && !this.#rcl.isShutdown()) this.#rcl.shutdown();
      }
    })();
    return this.#closing;
  }

  #qos(q: QosProfile) {
    const reliability = q.reliability === 'reliable' ? RMW.RELIABILITY_RELIABLE : RMW.RELIABILITY_BEST_EFFORT;
    const durability = q.durability === 'transient_local' ? RMW.DURABILITY_TRANSIENT_LOCAL : RMW.DURABILITY_VOLATILE;
    return new this.#rcl.QoS(RMW.HISTORY_KEEP_LAST, q.depth, reliability, durability);
  }

  #dropSub(entry: SubEntry): void {
    if (!this.#core.drop(entry)) return;
    const sub = this.#subs.get(entry);
    this.#subs.delete(entry);
    // Destroying twice would hand rcl a freed handle; drop() above makes this run once.
    if (sub) this.node.destroySubscription(sub);
  }

  #dropPub(entry: PubEntry): void {
    if (!this.#core.drop(entry)) return;
    const pub = this.#pubs.get(entry);
    this.#pubs.delete(entry);
    if (pub) this.node.destroyPublisher(pub);
  }
}
