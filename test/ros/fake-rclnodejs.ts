/**
 * An in-memory rclnodejs implementing exactly `RclLike`: nodes on one graph, publishers and
 * subscriptions delivering between them, QoS recorded (and incompatible QoS not delivering, as
 * DDS does), parameters with descriptors and ranges, lifecycle states, timers on a fake clock.
 *
 * Deliberately hostile where real middleware is allowed to be:
 * - delivery is asynchronous and only to nodes that spin (a transport that forgets spin() hears nothing);
 * - each subscription reuses ONE message object, and after the callback returns its byte arrays are
 *   scribbled over (0xEE), so anything that keeps a reference without copying sees garbage;
 * - publish serialises through CDR and throws on a message that does not fit its type, like rclnodejs;
 * - destroying an entity twice throws (a real double free would crash the process).
 */
import { codecFor } from '../../src/msgs/index.js';
import { resolveTopic } from '../../src/transport/names.js';
import { conformMessage } from '../../src/transport/conform.js';
import {
  CALLBACK_RETURN,
  PARAMETER_TYPE,
  RMW,
  type RclEntityOptions,
  type RclLifecycleNodeLike,
  type RclLike,
  type RclMessageInfoLike,
  type RclNodeLike,
  type RclParameterDescriptorLike,
  type RclParameterLike,
  type RclPublisherLike,
  type RclQoSLike,
  type RclRangeLike,
  type RclSetParametersResult,
  type RclStateLike,
  type RclSubscriptionLike,
  type RclTimerLike,
  type RclTransitionCallback,
} from '../../src/transport/rcl-like.js';

export class FakeQoS implements RclQoSLike {
  constructor(
    readonly history = 0,
    readonly depth = 0,
    readonly reliabilityValue = 0,
    readonly durability = 0,
  ) {}
}

function qosOf(options?: RclEntityOptions): FakeQoS {
  const q = options?.qos;
  if (q === undefined || q === 'qos_profile_default') return new FakeQoS(RMW.HISTORY_KEEP_LAST, 10, RMW.RELIABILITY_RELIABLE, RMW.DURABILITY_VOLATILE);
  if (q === 'qos_profile_sensor_data') return new FakeQoS(RMW.HISTORY_KEEP_LAST, 5, RMW.RELIABILITY_BEST_EFFORT, RMW.DURABILITY_VOLATILE);
  if (!(q instanceof FakeQoS)) throw new TypeError(`fake rclnodejs: unsupported qos ${String(q)}`);
  return q;
}

export class FakeParameter implements RclParameterLike {
  value: unknown;
  constructor(
    readonly name: string,
    readonly type: number,
    value?: unknown,
  ) {
    // rclnodejs converts integers to bigint.
    this.value = type === PARAMETER_TYPE.INTEGER && typeof value === 'number' ? BigInt(value) : value;
  }
}

export class FakeRange implements RclRangeLike {
  constructor(
    readonly fromValue: number,
    readonly toValue: number,
    readonly step: number,
    readonly integer: boolean,
  ) {}
  inRange(value: number): boolean {
    return Number(value) >= Number(this.fromValue) && Number(value) <= Number(this.toValue);
  }
  isValidType(t: number): boolean {
    return this.integer ? t === PARAMETER_TYPE.INTEGER || t === PARAMETER_TYPE.INTEGER_ARRAY : t === PARAMETER_TYPE.DOUBLE || t === PARAMETER_TYPE.DOUBLE_ARRAY;
  }
}

export class FakeDescriptor implements RclParameterDescriptorLike {
  constructor(
    readonly name: string,
    readonly type: number,
    readonly description = '',
    readonly readOnly = false,
    readonly range?: RclRangeLike,
  ) {}
}

interface FakeSub extends RclSubscriptionLike {
  node: FakeNode;
  type: string;
  qos: FakeQoS;
  callback: (m: unknown, info?: RclMessageInfoLike) => void;
  /** The one object this subscription hands out, again and again. */
  reused: Record<string, unknown> | undefined;
  destroyed: boolean;
}

interface FakePub extends RclPublisherLike {
  node: FakeNode;
  type: string;
  qos: FakeQoS;
  destroyed: boolean;
}

export interface SentMessage {
  topic: string;
  type: string;
  qos: FakeQoS;
  msg: unknown;
}

/** The shared graph: topics, a fake clock, pending deliveries. */
export class FakeGraph {
  readonly subs = new Set<FakeSub>();
  readonly pubs = new Set<FakePub>();
  readonly nodes = new Set<FakeNode>();
  readonly sent: SentMessage[] = [];
  wallNs = 1_700_000_000_000_000_000n;
  /** `/clock` time, used by nodes with use_sim_time. */
  simNs = 0n;
  #pending: Promise<void>[] = [];
  timers = new Set<{ periodNs: bigint; nextNs: bigint; callback: () => void; canceled: boolean }>();

  /** Resolves once every delivery queued so far has been made. */
  async settle(): Promise<void> {
    while (this.#pending.length > 0) await Promise.all(this.#pending.splice(0));
  }

  /** Advances the wall clock, firing due timers in order. */
  advance(ns: bigint): void {
    const end = this.wallNs + ns;
    for (;;) {
      const due = [...this.timers].filter((t) => !t.canceled && t.nextNs <= end).sort((a, b) => Number(a.nextNs - b.nextNs))[0];
      if (!due) break;
      this.wallNs = due.nextNs;
      due.nextNs += due.periodNs;
      due.callback();
    }
    this.wallNs = end;
  }

  /** Publishes from outside any node (a camera driver, `ros2 topic pub`). */
  inject(topic: string, type: string, msg: unknown, qos = new FakeQoS(RMW.HISTORY_KEEP_LAST, 5, RMW.RELIABILITY_BEST_EFFORT, RMW.DURABILITY_VOLATILE)): void {
    this.#send(topic, type, qos, codecFor(type).serialize(msg));
  }

  /** Hands subscribers an object as-is, as a middleware with mismatched type support might. */
  injectRaw(topic: string, raw: unknown): void {
    for (const sub of this.subs) if (sub.topic === topic) this.#queue(sub, () => sub.callback(raw, { sourceTimestamp: this.wallNs }));
  }

  send(pub: FakePub, msg: unknown): void {
    if (pub.destroyed) throw new Error('fake rclnodejs: publish on a destroyed publisher');
    conformMessage(pub.type, msg); // rclnodejs throws on a message that does not fit its type
    const bytes = codecFor(pub.type).serialize(asRclnodejsReadsViews(msg));
    this.sent.push({ topic: pub.topic, type: pub.type, qos: pub.qos, msg: codecFor(pub.type).deserialize(bytes.slice()) });
    this.#send(pub.topic, pub.type, pub.qos, bytes);
  }

  #send(topic: string, type: string, qos: FakeQoS, bytes: Uint8Array): void {
    for (const sub of this.subs) {
      if (sub.topic !== topic || sub.type !== type) continue;
      // DDS: a reliable reader does not match a best-effort writer.
      if (sub.qos.reliabilityValue === RMW.RELIABILITY_RELIABLE && qos.reliabilityValue === RMW.RELIABILITY_BEST_EFFORT) continue;
      const stamp = this.wallNs;
      this.#queue(sub, () => {
        const fresh = codecFor(type).deserialize(bytes.slice()) as Record<string, unknown>;
        sub.reused = Object.assign(sub.reused ?? {}, fresh);
        sub.callback(sub.reused, { sourceTimestamp: stamp });
        scribble(sub.reused);
      });
    }
  }

  #queue(sub: FakeSub, deliver: () => void): void {
    this.#pending.push(
      new Promise<void>((resolve) => {
        setImmediate(() => {
          try {
            if (!sub.destroyed && sub.node.spinning && !sub.node.destroyed) deliver();
          } finally {
            resolve();
          }
        });
      }),
    );
  }
}

/**
 * rclnodejs 2.2 serialises a typed array from the start of its backing ArrayBuffer for the
 * array's length, ignoring the view's offset (src/transport/whole-buffers.ts): the fake does
 * the same, so a view that reaches `publish` sends the wrong bytes here too.
 */
function asRclnodejsReadsViews(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > 32) return value;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const v = value as unknown as { buffer: ArrayBufferLike; length: number; constructor: new (b: ArrayBufferLike, o: number, n: number) => unknown };
    const Ctor = (Buffer.isBuffer(value) ? Uint8Array : v.constructor) as new (b: ArrayBufferLike, o: number, n: number) => unknown;
    return new Ctor(v.buffer, 0, v.length);
  }
  if (Array.isArray(value)) return value.map((x) => asRclnodejsReadsViews(x, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, asRclnodejsReadsViews(x, depth + 1)]));
}

function scribble(obj: unknown, depth = 0): void {
  if (depth > 4 || typeof obj !== 'object' || obj === null) return;
  if (obj instanceof Uint8Array) return void obj.fill(0xee);
  for (const v of Object.values(obj)) scribble(v, depth + 1);
}

export class FakeNode implements RclNodeLike {
  spinning = false;
  destroyed = false;
  readonly params = new Map<string, { param: RclParameterLike; descriptor: RclParameterDescriptorLike }>();
  readonly onSet: ((p: RclParameterLike[]) => RclSetParametersResult)[] = [];
  readonly #ns: string;

  constructor(
    readonly graph: FakeGraph,
    readonly nodeName: string,
    namespace = '',
  ) {
    this.#ns = namespace === '' ? '/' : namespace;
    graph.nodes.add(this);
    // rclnodejs's TimeSource declares use_sim_time on every node.
    this.declareParameter(new FakeParameter('use_sim_time', PARAMETER_TYPE.BOOL, false));
  }

  name(): string {
    return this.nodeName;
  }
  namespace(): string {
    return this.#ns;
  }
  now(): { nanoseconds: bigint } {
    const sim = this.params.get('use_sim_time')?.param.value === true;
    return { nanoseconds: sim ? this.graph.simNs : this.graph.wallNs };
  }
  spin(): void {
    if (this.spinning) throw new Error('fake rclnodejs: node is already spinning');
    this.spinning = true;
  }

  createPublisher(typeClass: string, topic: string, options?: RclEntityOptions): RclPublisherLike {
    this.#alive();
    codecFor(typeClass); // unknown type throws, as rclnodejs does for a type it has not generated
    const pub: FakePub = { node: this, type: typeClass, topic: resolveTopic(topic, this.#ns, this.nodeName), qos: qosOf(options), destroyed: false, publish: (m) => this.graph.send(pub, m) };
    this.graph.pubs.add(pub);
    return pub;
  }

  createSubscription(typeClass: string, topic: string, options: RclEntityOptions, callback: (m: unknown, info?: RclMessageInfoLike) => void): RclSubscriptionLike {
    this.#alive();
    codecFor(typeClass);
    if (options.enableTypedArray === false) throw new Error('fake rclnodejs: only typed arrays are modelled');
    const sub: FakeSub = { node: this, type: typeClass, topic: resolveTopic(topic, this.#ns, this.nodeName), qos: qosOf(options), callback, reused: undefined, destroyed: false };
    this.graph.subs.add(sub);
    return sub;
  }

  destroyPublisher(p: RclPublisherLike): void {
    const pub = p as FakePub;
    if (pub.destroyed) throw new Error('fake rclnodejs: publisher destroyed twice');
    pub.destroyed = true;
    this.graph.pubs.delete(pub);
  }

  destroySubscription(s: RclSubscriptionLike): void {
    const sub = s as FakeSub;
    if (sub.destroyed) throw new Error('fake rclnodejs: subscription destroyed twice');
    sub.destroyed = true;
    this.graph.subs.delete(sub);
  }

  createTimer(period: bigint, callback: () => void): RclTimerLike {
    const t = { periodNs: period, nextNs: this.graph.wallNs + period, callback, canceled: false };
    this.graph.timers.add(t);
    return { cancel: () => void (t.canceled = true), isCanceled: () => t.canceled, ...{ _t: t } } as RclTimerLike;
  }

  destroyTimer(timer: RclTimerLike): void {
    timer.cancel();
    this.graph.timers.delete((timer as unknown as { _t: never })._t);
  }

  declareParameter(parameter: RclParameterLike, descriptor?: RclParameterDescriptorLike): RclParameterLike {
    if (this.params.has(parameter.name)) throw new Error(`fake rclnodejs: parameter ${parameter.name} already declared`);
    const d = descriptor ?? new FakeDescriptor(parameter.name, parameter.type);
    if (d.type !== parameter.type) throw new TypeError(`fake rclnodejs: descriptor type ${d.type} ≠ parameter type ${parameter.type} for ${parameter.name}`);
    const problem = checkRange(parameter, d) ?? this.#vetoed([parameter]);
    if (problem) throw new RangeError(`fake rclnodejs: ${problem}`);
    this.params.set(parameter.name, { param: parameter, descriptor: d });
    return parameter;
  }
  hasParameter(name: string): boolean {
    return this.params.has(name);
  }
  getParameter(name: string): RclParameterLike {
    return this.params.get(name)?.param ?? new FakeParameter(name, PARAMETER_TYPE.NOT_SET);
  }
  setParameter(parameter: RclParameterLike): RclSetParametersResult {
    const entry = this.params.get(parameter.name);
    if (!entry) return { successful: false, reason: `parameter ${parameter.name} is not declared` };
    if (entry.descriptor.readOnly) return { successful: false, reason: `parameter ${parameter.name} is read-only` };
    if (parameter.type !== entry.param.type) return { successful: false, reason: `parameter ${parameter.name} has type ${entry.param.type}, got ${parameter.type}` };
    const problem = checkRange(parameter, entry.descriptor) ?? this.#vetoed([parameter]);
    if (problem) return { successful: false, reason: problem };
    entry.param = parameter;
    return { successful: true, reason: '' };
  }
  addOnSetParametersCallback(callback: (p: RclParameterLike[]) => RclSetParametersResult): void {
    this.onSet.unshift(callback);
  }

  destroy(): void {
    this.destroyed = true;
    this.spinning = false;
    for (const s of [...this.graph.subs]) if (s.node === this) this.destroySubscription(s);
    for (const p of [...this.graph.pubs]) if (p.node === this) this.destroyPublisher(p);
    this.graph.nodes.delete(this);
  }

  #vetoed(params: RclParameterLike[]): string | undefined {
    for (const cb of this.onSet) {
      const r = cb(params);
      if (!r.successful) return r.reason;
    }
    return undefined;
  }

  #alive(): void {
    if (this.destroyed) throw new Error('fake rclnodejs: node is destroyed');
  }
}

function checkRange(p: RclParameterLike, d: RclParameterDescriptorLike): string | undefined {
  const range = (d as FakeDescriptor).range;
  if (!range) return undefined;
  const values = Array.isArray(p.value) ? p.value : [p.value];
  for (const v of values) if (!range.inRange(Number(v))) return `${p.name}=${String(v)} is outside ${range.fromValue}..${range.toValue}`;
  return undefined;
}

const STATES = { unconfigured: 1, inactive: 2, active: 3, finalized: 4 } as const;
type StateLabel = keyof typeof STATES;
type TransitionName = 'configure' | 'activate' | 'deactivate' | 'cleanup' | 'shutdown';

class FakeState implements RclStateLike {
  constructor(readonly label: StateLabel) {}
  asMessage(): { id: number; label: string } {
    return { id: STATES[this.label], label: this.label };
  }
}

export class FakeLifecycleNode extends FakeNode implements RclLifecycleNodeLike {
  #state = new FakeState('unconfigured');
  readonly #cbs: Partial<Record<TransitionName, RclTransitionCallback>> = {};

  get currentState(): RclStateLike {
    return this.#state;
  }
  registerOnConfigure(cb: RclTransitionCallback): void {
    this.#cbs.configure = cb;
  }
  registerOnActivate(cb: RclTransitionCallback): void {
    this.#cbs.activate = cb;
  }
  registerOnDeactivate(cb: RclTransitionCallback): void {
    this.#cbs.deactivate = cb;
  }
  registerOnCleanup(cb: RclTransitionCallback): void {
    this.#cbs.cleanup = cb;
  }
  registerOnShutdown(cb: RclTransitionCallback): void {
    this.#cbs.shutdown = cb;
  }
  configure(): RclStateLike {
    return this.#transition('configure', ['unconfigured'], 'inactive', 'unconfigured');
  }
  activate(): RclStateLike {
    return this.#transition('activate', ['inactive'], 'active', 'inactive');
  }
  deactivate(): RclStateLike {
    return this.#transition('deactivate', ['active'], 'inactive', 'active');
  }
  cleanup(): RclStateLike {
    return this.#transition('cleanup', ['inactive'], 'unconfigured', 'inactive');
  }
  shutdown(): RclStateLike {
    return this.#transition('shutdown', ['unconfigured', 'inactive', 'active'], 'finalized', this.#state.label);
  }

  #transition(name: TransitionName, from: StateLabel[], to: StateLabel, onFailure: StateLabel): RclStateLike {
    if (!from.includes(this.#state.label)) throw new Error(`fake rclnodejs: cannot ${name} from ${this.#state.label}`);
    const prev = this.#state;
    const code = this.#cbs[name]?.(prev) ?? CALLBACK_RETURN.SUCCESS;
    this.#state = new FakeState(code === CALLBACK_RETURN.SUCCESS ? to : onFailure);
    return this.#state;
  }
}

export interface FakeRcl extends RclLike {
  readonly graph: FakeGraph;
  initCalls: number;
  shutdownCalls: number;
}

/** A fresh fake rclnodejs module with its own graph. */
export function createFakeRcl(): FakeRcl {
  const graph = new FakeGraph();
  let shut = true;
  const rcl: FakeRcl = {
    graph,
    initCalls: 0,
    shutdownCalls: 0,
    async init() {
      if (!shut) throw new Error('fake rclnodejs: already initialised');
      shut = false;
      rcl.initCalls++;
    },
    shutdown() {
      if (shut) throw new Error('fake rclnodejs: already shut down');
      for (const n of [...graph.nodes]) n.destroy();
      shut = true;
      rcl.shutdownCalls++;
    },
    isShutdown: () => shut,
    Node: class extends FakeNode {
      constructor(name: string, namespace?: string) {
        super(graph, name, namespace);
      }
    },
    lifecycle: {
      LifecycleNode: class extends FakeLifecycleNode {
        constructor(name: string, namespace?: string) {
          super(graph, name, namespace);
        }
      },
    },
    QoS: FakeQoS,
    Parameter: FakeParameter,
    ParameterDescriptor: FakeDescriptor,
    IntegerRange: class extends FakeRange {
      constructor(from: bigint, to: bigint, step: bigint = 0n) {
        super(Number(from), Number(to), Number(step), true);
      }
    },
    FloatingPointRange: class extends FakeRange {
      constructor(from: number, to: number, step = 0) {
        super(from, to, step, false);
      }
    },
  };
  return rcl;
}
