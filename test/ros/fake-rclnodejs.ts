/**
 * An in-memory rclnodejs implementing exactly `RclLike`: nodes on one graph, publishers and
 * subscriptions delivering between them, QoS recorded (and incompatible QoS not delivering, as
 * DDS does), transient-local history for late joiners, services, parameters with descriptors
 * and ranges, timers on a fake clock.
 *
 * Where the project depends on how rclnodejs 2.2 behaves, the fake behaves the same way, and a
 * contract test (test/ros/rclnodejs.contract.ts) runs the same checks against the real library
 * where ROS 2 is sourced:
 * - parameter overrides from `init(argv)`: rcl reads `--params-file` and `-p`, and rclnodejs
 *   applies only the `/**` entries and those keyed by the *bare* node name (a launch file's
 *   `/perception` entries are dropped); `declareParameter(p, d, true)` ignores them;
 * - `setParameters` checks type and range against the descriptor before any on-set callback,
 *   refusing with rclnodejs's own (garbled) text;
 * - importing installs a SIGINT handler that shuts rcl down; `removeSignalHandlers()` removes it;
 * - typed-array views are serialised from the start of their backing buffer.
 *
 * Deliberately hostile where real middleware is allowed to be:
 * - delivery is asynchronous and only to nodes that spin (a transport that forgets spin() hears nothing);
 * - each subscription reuses ONE message object, and after the callback returns its byte arrays are
 *   scribbled over (0xEE), so anything that keeps a reference without copying sees garbage;
 * - publish serialises through CDR and throws on a message that does not fit its type, like rclnodejs;
 * - destroying an entity twice throws (a real double free would crash the process).
 */
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { codecFor } from '../../src/msgs/index.js';
import { flattenParams } from '../../src/ros/params.js';
import { resolveTopic } from '../../src/ros/transport/names.js';
import { conformMessage } from '../../src/ros/transport/conform.js';
import {
  PARAMETER_TYPE,
  RMW,
  type RclEntityOptions,
  type RclLike,
  type RclMessageInfoLike,
  type RclNodeLike,
  type RclParameterDescriptorLike,
  type RclParameterLike,
  type RclPublisherLike,
  type RclQoSLike,
  type RclRangeLike,
  type RclServiceLike,
  type RclSetParametersResult,
  type RclSubscriptionLike,
  type RclTimerLike,
} from '../../src/ros/transport/rcl-like.js';

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
  /** As rclnodejs 2.2: the range is never in the message (it reads an unset field). */
  toMessage(): object {
    return { name: this.name, type: this.type, description: this.description, additional_constraints: '', read_only: this.readOnly };
  }
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
  /** Transient local: the last `depth` messages, for subscriptions that join later. */
  history: Uint8Array[];
}

interface FakeService extends RclServiceLike {
  node: FakeNode;
  type: string;
  callback: (request: unknown) => object | Promise<object>;
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
  readonly services = new Map<string, FakeService>();
  /** What `init(argv)` gave rcl: parameter tables by node key as written (`/**`, `perception`, `/perception`), and `__node` / `__ns` remaps. */
  argv: { tables: Map<string, Record<string, unknown>>; node?: string; ns?: string } = { tables: new Map() };
  /** Types this install lacks (rclnodejs generated no JavaScript for them), e.g. tf2_msgs on the minimal ROS 2. */
  readonly missingTypes = new Set<string>();

  /** Calls a service as `ros2 service call` / `ros2 lifecycle set` would; rejects when nobody serves it. */
  async callService(name: string, request: unknown): Promise<Record<string, unknown>> {
    await new Promise((r) => setImmediate(r));
    const svc = this.services.get(name);
    if (!svc || !svc.node.spinning || svc.node.destroyed) throw new Error(`fake rclnodejs: no service ${name}`);
    return (await svc.callback(request)) as Record<string, unknown>;
  }

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
    if (pub.qos.durability === RMW.DURABILITY_TRANSIENT_LOCAL) {
      pub.history.push(bytes);
      if (pub.history.length > Math.max(1, pub.qos.depth)) pub.history.shift();
    }
    this.#send(pub.topic, pub.type, pub.qos, bytes);
  }

  /** DDS: a transient-local reader that joins late gets the history of the transient-local writers it matches. */
  lateJoin(sub: FakeSub): void {
    if (sub.qos.durability !== RMW.DURABILITY_TRANSIENT_LOCAL) return;
    for (const pub of this.pubs) {
      if (pub.topic !== sub.topic || pub.type !== sub.type || pub.qos.durability !== RMW.DURABILITY_TRANSIENT_LOCAL) continue;
      for (const bytes of pub.history) this.#deliver(sub, pub.type, bytes);
    }
  }

  #send(topic: string, type: string, qos: FakeQoS, bytes: Uint8Array): void {
    for (const sub of this.subs) {
      if (sub.topic !== topic || sub.type !== type) continue;
      // DDS: a reliable reader does not match a best-effort writer.
      if (sub.qos.reliabilityValue === RMW.RELIABILITY_RELIABLE && qos.reliabilityValue === RMW.RELIABILITY_BEST_EFFORT) continue;
      this.#deliver(sub, type, bytes);
    }
  }

  #deliver(sub: FakeSub, type: string, bytes: Uint8Array): void {
    const stamp = this.wallNs;
    this.#queue(sub, () => {
      const fresh = codecFor(type).deserialize(bytes.slice()) as Record<string, unknown>;
      sub.reused = Object.assign(sub.reused ?? {}, fresh);
      sub.callback(sub.reused, { sourceTimestamp: stamp });
      scribble(sub.reused);
    });
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
  /** What rclnodejs takes from the ROS arguments: the `/**` entries, then the bare node name's (never `/name`). */
  readonly overrides = new Map<string, RclParameterLike>();
  readonly nodeName: string;
  readonly #ns: string;

  constructor(
    readonly graph: FakeGraph,
    nodeName: string,
    namespace = '',
  ) {
    // rcl applies the global __node / __ns remaps of the ROS arguments.
    this.nodeName = graph.argv.node ?? nodeName;
    const ns = graph.argv.ns ?? namespace;
    this.#ns = ns === '' ? '/' : ns;
    graph.nodes.add(this);
    for (const key of ['/**', this.nodeName]) {
      for (const [name, value] of Object.entries(graph.argv.tables.get(key) ?? {})) this.overrides.set(name, parameterOf(name, value));
    }
    // rclnodejs's TimeSource declares use_sim_time on every node (an override applies).
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

  /** An unknown or missing type throws, in rclnodejs's words, as it does for a type it has not generated. */
  #known(type: string): void {
    if (this.graph.missingTypes.has(type)) {
      const [pkg, kind, name] = type.split('/');
      throw new Error(`The message required does not exist: ${pkg}, ${kind}, ${name} at node_modules/rclnodejs/generated/`);
    }
    codecFor(type);
  }

  createPublisher(typeClass: string, topic: string, options?: RclEntityOptions): RclPublisherLike {
    this.#alive();
    this.#known(typeClass);
    const pub: FakePub = { node: this, type: typeClass, topic: resolveTopic(topic, this.#ns, this.nodeName), qos: qosOf(options), destroyed: false, history: [], publish: (m) => this.graph.send(pub, m) };
    this.graph.pubs.add(pub);
    return pub;
  }

  createSubscription(typeClass: string, topic: string, options: RclEntityOptions, callback: (m: unknown, info?: RclMessageInfoLike) => void): RclSubscriptionLike {
    this.#alive();
    this.#known(typeClass);
    if (options.enableTypedArray === false) throw new Error('fake rclnodejs: only typed arrays are modelled');
    const sub: FakeSub = { node: this, type: typeClass, topic: resolveTopic(topic, this.#ns, this.nodeName), qos: qosOf(options), callback, reused: undefined, destroyed: false };
    this.graph.subs.add(sub);
    this.graph.lateJoin(sub);
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

  declareParameter(parameter: RclParameterLike, descriptor?: RclParameterDescriptorLike, ignoreOverrides = false): RclParameterLike {
    const p = !ignoreOverrides && this.overrides.has(parameter.name) ? this.overrides.get(parameter.name)! : parameter;
    if (this.params.has(p.name)) throw new Error(`Parameter(${p.name}) already declared.`);
    const d = descriptor ?? new FakeDescriptor(p.name, p.type);
    // rclnodejs: the descriptor check (type, range) comes first, with its wording, then the on-set callbacks.
    const problem = descriptorProblem(p, d) ?? this.#vetoed([p]);
    if (problem) throw new Error(problem);
    this.params.set(p.name, { param: p, descriptor: d });
    return p;
  }
  hasParameter(name: string): boolean {
    return this.params.has(name);
  }
  getParameter(name: string): RclParameterLike {
    return this.params.get(name)?.param ?? new FakeParameter(name, PARAMETER_TYPE.NOT_SET);
  }
  setParameter(parameter: RclParameterLike): RclSetParametersResult {
    // rclnodejs: setParameter → this.setParameters([p])[0] (so a wrapper on setParameters sees it).
    return this.setParameters([parameter])[0];
  }
  setParameters(parameters: RclParameterLike[]): RclSetParametersResult[] {
    return parameters.map((p) => this.setParametersAtomically([p]));
  }
  setParametersAtomically(parameters: RclParameterLike[]): RclSetParametersResult {
    for (const p of parameters) {
      const entry = this.params.get(p.name);
      if (!entry) return { successful: false, reason: `Parameter ${p.name} has not been declared` };
      if (entry.descriptor.readOnly) return { successful: false, reason: `Parameter ${p.name} is readonly` };
      if (descriptorProblem(p, entry.descriptor)) return { successful: false, reason: `Parameter ${p.name} does not  readonly` };
    }
    const veto = this.#vetoed(parameters);
    if (veto) return { successful: false, reason: veto };
    for (const p of parameters) this.params.get(p.name)!.param = p;
    return { successful: true, reason: '' };
  }
  addOnSetParametersCallback(callback: (p: RclParameterLike[]) => RclSetParametersResult): void {
    this.onSet.unshift(callback);
  }

  countSubscribers(topic: string): number {
    const name = resolveTopic(topic, this.#ns, this.nodeName);
    return [...this.graph.subs].filter((s) => s.topic === name && !s.destroyed).length;
  }

  createService(typeClass: string, serviceName: string, _options: RclEntityOptions | undefined, callback: (request: unknown) => object | Promise<object>): RclServiceLike {
    this.#alive();
    const name = resolveTopic(serviceName, this.#ns, this.nodeName);
    if (this.graph.services.has(name)) throw new Error(`fake rclnodejs: service ${name} already exists`);
    const svc: FakeService = { node: this, type: typeClass, serviceName: name, callback };
    this.graph.services.set(name, svc);
    return svc;
  }

  destroy(): void {
    this.destroyed = true;
    this.spinning = false;
    for (const s of [...this.graph.subs]) if (s.node === this) this.destroySubscription(s);
    for (const p of [...this.graph.pubs]) if (p.node === this) this.destroyPublisher(p);
    for (const [name, svc] of [...this.graph.services]) if (svc.node === this) this.graph.services.delete(name);
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

/** rclnodejs's ParameterDescriptor.validateParameter: type, then range. */
function descriptorProblem(p: RclParameterLike, d: RclParameterDescriptorLike): string | undefined {
  if (d.type !== p.type) return `Parameter ${p.name} has type ${p.type}, its descriptor ${d.type}`;
  const range = (d as FakeDescriptor).range;
  if (!range) return undefined;
  const values = Array.isArray(p.value) ? p.value : [p.value];
  for (const v of values) if (!range.inRange(Number(v))) return `${p.name}=${String(v)} is outside ${range.fromValue}..${range.toValue}`;
  return undefined;
}

/** rcl's typing of a YAML value: bool, integer, double, string, or an array of one of them. */
function parameterOf(name: string, value: unknown): FakeParameter {
  const scalar = (v: unknown) => (typeof v === 'boolean' ? 'BOOL' : typeof v === 'number' ? (Number.isInteger(v) ? 'INTEGER' : 'DOUBLE') : 'STRING');
  if (Array.isArray(value)) {
    const kind = scalar(value[0]);
    return new FakeParameter(name, PARAMETER_TYPE[`${kind}_ARRAY` as 'STRING_ARRAY'], kind === 'INTEGER' ? value.map((v) => BigInt(v as number)) : value);
  }
  return new FakeParameter(name, PARAMETER_TYPE[scalar(value)], value);
}

/** rcl's reading of the ROS arguments: parameter tables keyed as written, in order, and the __node / __ns remaps. */
function readArgv(argv: readonly string[]): FakeGraph['argv'] {
  const out: FakeGraph['argv'] = { tables: new Map() };
  const put = (key: string, values: Record<string, unknown>) => out.tables.set(key, { ...out.tables.get(key), ...values });
  let ros = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--ros-args') ros = true;
    else if (a === '--') ros = false;
    else if (!ros) continue;
    else if (a === '--params-file') {
      const walk = (node: Record<string, unknown>, path: string[]) => {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'ros__parameters') put(path.join('/'), flattenParams(v));
          else walk(v as Record<string, unknown>, [...path, k]);
        }
      };
      walk((parseYaml(readFileSync(argv[++i], 'utf8')) ?? {}) as Record<string, unknown>, []);
    } else if (a === '-p' || a === '--param') {
      const rule = argv[++i];
      const [lhs, value] = [rule.slice(0, rule.indexOf(':=')), rule.slice(rule.indexOf(':=') + 2)];
      const colon = lhs.lastIndexOf(':');
      put(colon >= 0 ? lhs.slice(0, colon) : '/**', { [lhs.slice(colon + 1)]: parseYaml(value) });
    } else if (a === '-r' || a === '--remap') {
      const m = /^__(node|ns):=(.*)$/.exec(argv[++i]);
      if (m) out[m[1] as 'node' | 'ns'] = m[2];
    }
  }
  return out;
}

export interface FakeRcl extends RclLike {
  readonly graph: FakeGraph;
  initCalls: number;
  shutdownCalls: number;
  /** Whether Ctrl-C still shuts this module's rcl down (its handler was not removed). */
  sigintHandled(): boolean;
}

// rclnodejs installs one SIGINT listener on import (`_sigHandler`, index.js). Each fake module
// registers with this one process listener, so tests that build many fakes do not pile up
// listeners; what a module's own handler would do is the same.
const sigintHandlers = new Set<() => void>();
process.on('SIGINT', function _sigHandler() {
  for (const h of [...sigintHandlers]) h();
});

/** A fresh fake rclnodejs module with its own graph. */
export function createFakeRcl(): FakeRcl {
  const graph = new FakeGraph();
  let shut = true;
  // rclnodejs's handler: shut every context down on Ctrl-C.
  const sigintHandler = () => {
    if (!shut) rcl.shutdown();
  };
  sigintHandlers.add(sigintHandler);
  const rcl: FakeRcl = {
    graph,
    initCalls: 0,
    shutdownCalls: 0,
    sigintHandled: () => sigintHandlers.has(sigintHandler),
    async init(_context?: undefined, argv: string[] = []) {
      if (!shut) throw new Error('fake rclnodejs: already initialised');
      graph.argv = readArgv(argv);
      shut = false;
      rcl.initCalls++;
    },
    removeSignalHandlers() {
      sigintHandlers.delete(sigintHandler);
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
