import { nsToTime } from '../msgs/index.js';
import { buildDiagnostics } from './diagnostics.js';
import type { RclNodeLike, RclServiceLike } from './transport/rcl-like.js';
import type { Publisher, Transport } from './transport/types.js';
import { RESULTS_QOS } from './transport/types.js';
import type { ManagedNode, Transition } from './lifecycle.js';
import type { LifecycleState, NodeLog } from './node-types.js';

/**
 * The ROS 2 managed-node protocol (lifecycle_msgs: `~/change_state`, `~/get_state`,
 * `~/get_available_states`, `~/get_available_transitions`, `~/get_transition_graph`,
 * `~/transition_event`) served for a ManagedNode, so `ros2 lifecycle get|set|list|nodes` and
 * lifecycle managers work as with any rclcpp node.
 *
 * Written here rather than taken from rclnodejs's LifecycleNode: its transition callbacks must
 * answer synchronously (lib/lifecycle.js `_executeCallback` uses the return value at once), while
 * configuring loads a model and may wait for the learner's keys. Answering SUCCESS before that
 * work ended made `ros2 lifecycle get` say `active` while the model still loaded, and stay
 * `active` when loading failed. Here a transition is reported as its transition state
 * (`configuring`, `activating`, …) while it runs, the service answers when it has ended, and a
 * failure goes back to the state ROS defines for one (configure → unconfigured, activate →
 * inactive, …; a thrown error is treated as a FAILURE), logged and published on /diagnostics.
 */

/** lifecycle_msgs/msg/State ids. */
export const STATE_ID = {
  unknown: 0,
  unconfigured: 1,
  inactive: 2,
  active: 3,
  finalized: 4,
  configuring: 10,
  cleaningup: 11,
  shuttingdown: 12,
  activating: 13,
  deactivating: 14,
  errorprocessing: 15,
} as const;
type StateLabel = keyof typeof STATE_ID;

/** The transition state each transition passes through. */
const THROUGH: Record<Transition, StateLabel> = { configure: 'configuring', cleanup: 'cleaningup', activate: 'activating', deactivate: 'deactivating', shutdown: 'shuttingdown' };

/** lifecycle_msgs/msg/Transition ids of the transitions a client may ask for, by start state (rcl's default state machine). */
const AVAILABLE: Record<LifecycleState, readonly { id: number; label: Transition; goal: LifecycleState }[]> = {
  unconfigured: [
    { id: 1, label: 'configure', goal: 'inactive' },
    { id: 5, label: 'shutdown', goal: 'finalized' },
  ],
  inactive: [
    { id: 2, label: 'cleanup', goal: 'unconfigured' },
    { id: 3, label: 'activate', goal: 'active' },
    { id: 6, label: 'shutdown', goal: 'finalized' },
  ],
  active: [
    { id: 4, label: 'deactivate', goal: 'inactive' },
    { id: 7, label: 'shutdown', goal: 'finalized' },
  ],
  finalized: [],
};

/** The id of the `on_<transition>_success|failure` transition that ends one (rcl: 10·k, +1 failure). */
const END_ID: Record<Transition, number> = { configure: 10, cleanup: 20, shutdown: 30, activate: 40, deactivate: 50 };

interface StateMsg {
  id: number;
  label: string;
}
interface TransitionDescription {
  transition: StateMsg;
  start_state: StateMsg;
  goal_state: StateMsg;
}

const state = (label: StateLabel): StateMsg => ({ id: STATE_ID[label], label });

export interface LifecycleServerOptions {
  /** The rclnodejs node the services are created on (named like the managed node). */
  readonly node: RclNodeLike;
  /** Publishes `~/transition_event` and failures on /diagnostics. */
  readonly transport: Transport;
  readonly managed: ManagedNode;
  readonly log: NodeLog;
}

export class LifecycleServer {
  readonly #o: LifecycleServerOptions;
  readonly #services: RclServiceLike[] = [];
  readonly #events: Publisher;
  readonly #diagnostics: Publisher;
  #finalized: (() => void)[] = [];

  private constructor(o: LifecycleServerOptions) {
    this.#o = o;
    this.#events = o.transport.advertise('~/transition_event', 'lifecycle_msgs/msg/TransitionEvent', { qos: RESULTS_QOS });
    this.#diagnostics = o.transport.advertise('/diagnostics', 'diagnostic_msgs/msg/DiagnosticArray', { qos: RESULTS_QOS });
  }

  /** Creates the services on `node`; requests are served until `dispose`. */
  static serve(o: LifecycleServerOptions): LifecycleServer {
    const server = new LifecycleServer(o);
    const add = (name: string, type: string, fn: (req: unknown) => object | Promise<object>) => server.#services.push(o.node.createService(`lifecycle_msgs/srv/${type}`, `~/${name}`, undefined, fn));
    add('get_state', 'GetState', () => ({ current_state: server.current() }));
    add('get_available_states', 'GetAvailableStates', () => ({ available_states: Object.keys(STATE_ID).filter((l) => l !== 'unknown').map((l) => state(l as StateLabel)) }));
    add('get_available_transitions', 'GetAvailableTransitions', () => ({ available_transitions: server.available() }));
    add('get_transition_graph', 'GetAvailableTransitions', () => ({ available_transitions: server.graph() }));
    add('change_state', 'ChangeState', async (req) => ({ success: await server.change(req as { transition?: { id?: number; label?: string } }) }));
    return server;
  }

  /** The state ROS clients see: the transition state while one runs, else the primary state. */
  current(): StateMsg {
    const running = this.#o.managed.transitioning;
    return state(running ? THROUGH[running] : this.#o.managed.state);
  }

  /** Transitions a client may request now (none while one runs). */
  available(): TransitionDescription[] {
    const m = this.#o.managed;
    if (m.transitioning) return [];
    return AVAILABLE[m.state].map((t) => ({ transition: { id: t.id, label: t.label }, start_state: state(m.state), goal_state: state(THROUGH[t.label]) }));
  }

  graph(): TransitionDescription[] {
    return (Object.keys(AVAILABLE) as LifecycleState[]).flatMap((from) => AVAILABLE[from].map((t) => ({ transition: { id: t.id, label: t.label }, start_state: state(from), goal_state: state(THROUGH[t.label]) })));
  }

  /**
   * A `change_state` request (by label, or by id when the label is empty). Resolves once the
   * transition has ended: true when it reached its goal. Refused (false, logged) when the
   * transition is not available from the current state, or while another one runs.
   */
  async change(req: { transition?: { id?: number; label?: string } }): Promise<boolean> {
    const label = req.transition?.label ?? '';
    const id = req.transition?.id ?? 0;
    const m = this.#o.managed;
    const t = m.transitioning ? undefined : AVAILABLE[m.state].find((a) => (label ? a.label === label : a.id === id));
    if (!t) {
      this.#o.log('warn', `lifecycle: transition ${label || `id ${id}`} is not available from ${this.current().label}`);
      return false;
    }
    return this.run(t.label);
  }

  /** Runs a transition as a client's request would (the node uses it to configure and activate itself at start). */
  async run(transition: Transition): Promise<boolean> {
    const m = this.#o.managed;
    const from = m.state;
    const t = AVAILABLE[from].find((a) => a.label === transition);
    if (!t || m.transitioning) return false;
    const run = m[transition]();
    this.#event(t.id, transition, state(from), state(THROUGH[transition]));
    let ok = true;
    try {
      await run;
    } catch (err) {
      ok = false;
      const reason = (err as Error).message;
      this.#o.log('error', `lifecycle: ${transition} failed, back to ${m.state}: ${reason}`);
      this.#failure(transition, reason);
    }
    this.#event(END_ID[transition] + (ok ? 0 : 1), ok ? 'transition_success' : 'transition_failure', state(THROUGH[transition]), state(m.state));
    if (m.state === 'finalized') for (const f of this.#finalized.splice(0)) f();
    return ok;
  }

  /** Resolves once the node reaches `finalized` (a `shutdown` transition, requested or ours). */
  finalized(): Promise<void> {
    if (this.#o.managed.state === 'finalized') return Promise.resolve();
    return new Promise((resolve) => this.#finalized.push(resolve));
  }

  /** Stops publishing (idempotent). The services go with the node, which the caller destroys. */
  dispose(): void {
    this.#services.splice(0);
    this.#events.dispose();
    this.#diagnostics.dispose();
  }

  #event(id: number, label: string, start: StateMsg, goal: StateMsg): void {
    const now = this.#o.transport.clock.now();
    this.#events.publish({ timestamp: now, transition: { id, label }, start_state: start, goal_state: goal });
  }

  #failure(transition: Transition, reason: string): void {
    const m = this.#o.managed;
    const name = this.#o.node.name();
    const msg = buildDiagnostics(nsToTime(this.#o.transport.clock.now()), {}, { nodeName: name });
    msg.status.push({ level: 2, name: `${name}: lifecycle`, message: `${transition} failed: ${reason}`.slice(0, 500), hardware_id: name, values: [{ key: 'state', value: m.state }, { key: 'failed transition', value: transition }] });
    this.#diagnostics.publish(msg);
  }
}
