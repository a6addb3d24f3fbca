import { LearnerNode, type LearnerNodeOptions } from './learner-node.js';
import type { ManagedNode } from './lifecycle.js';
import { LifecycleServer } from './lifecycle-server.js';
import { nodeFqn, resolveParamOverrides } from './param-overrides.js';
import { RclParameterHost } from './params-host.js';
import { PerceptionNode } from './perception-node.js';
import type { NodeLog, PerceptionNodeOptions } from './node-types.js';
import { RosTransport, loadRclnodejs, type RclLike, type TransportEvent } from './transport/index.js';
import { DEFAULT_MODEL_DIR } from '../core/paths.js';

export const ROLES = ['perception', 'learner'] as const;
export type Role = (typeof ROLES)[number];

export interface RunRosNodeOptions {
  /** Default: rclnodejs, loaded lazily (a clear PerceptionError('IO') when ROS 2 is not sourced). */
  readonly rcl?: RclLike;
  /** Passed to `rclnodejs.init`: `--ros-args` (node name, namespace, params files, remappings). */
  readonly argv?: string[];
  /** Aborting it shuts the node down (the command wires SIGINT and SIGTERM to it). */
  readonly signal: AbortSignal;
  readonly log?: NodeLog;
  /** Perception only: e.g. a shared engine in tests. */
  readonly perception?: Partial<PerceptionNodeOptions>;
  /** Learner only: e.g. a stand-in core in tests. */
  readonly learner?: Partial<LearnerNodeOptions>;
  /** Called once the node is active (tests). */
  readonly onActive?: (node: ManagedNode) => void;
}

/**
 * Runs one node as a ROS 2 managed node until `signal` aborts or a client shuts it down
 * (`ros2 lifecycle set /perception shutdown`): rcl init with the ROS arguments, an rclnodejs
 * node (name and namespace as rcl remaps them), the transport over it, parameters resolved from
 * the ROS arguments with rclcpp's rules, and the managed-node protocol (LifecycleServer). It
 * configures and activates itself at start, as launch files expect of these nodes; when either
 * fails it stays in the state ROS defines for the failure (reason logged and on /diagnostics)
 * and a lifecycle manager may retry. On the way out it shuts down through the lifecycle (frames
 * in flight finish, publishers and timers stop) before the transport, the node and rcl go, so
 * nothing publishes on a released handle. Everything is disposed also when start-up fails.
 */
export async function runRosNode(role: Role, options: RunRosNodeOptions): Promise<void> {
  const log = options.log ?? (() => {});
  const rcl = options.rcl ?? (await loadRclnodejs());
  rcl.removeSignalHandlers(); // the command's own handlers stop the node gracefully (idempotent: loadRclnodejs did it too)
  const argv = options.argv ?? [];
  if (rcl.isShutdown()) await rcl.init(undefined, argv);
  const rosNode = new rcl.Node(role);
  let node: PerceptionNode | LearnerNode | undefined;
  const onEvent = (e: TransportEvent) => (node instanceof PerceptionNode ? node.handleTransportEvent(e) : log('warn', `${e.kind} on ${e.topic}`));
  let transport: RosTransport | undefined;
  let server: LifecycleServer | undefined;
  try {
    const fqn = nodeFqn(rosNode.namespace(), rosNode.name());
    const overrides = resolveParamOverrides(argv, fqn);
    const sim = overrides.get('use_sim_time');
    transport = await RosTransport.open({ rcl, node: rosNode, nodeName: role, onEvent, ...(typeof sim === 'boolean' ? { useSimTime: sim } : {}) });
    const params = new RclParameterHost(rcl, rosNode, { overrides, log: (l) => log('warn', l) });
    node =
      role === 'perception'
        ? new PerceptionNode({ defaultModelDir: DEFAULT_MODEL_DIR, ...options.perception, transport, params, nodeName: rosNode.name(), log })
        : new LearnerNode({ defaultModelDir: DEFAULT_MODEL_DIR, ...options.learner, transport, params, nodeName: rosNode.name(), log });
    server = LifecycleServer.serve({ node: rosNode, transport, managed: node, log });
    rosNode.spin();
    const started = (await server.run('configure')) && (await server.run('activate'));
    for (const name of params.unused()) log('warn', `parameter ${name} was given for ${fqn} but is not one of its parameters (ignored)`);
    if (started) {
      log('info', `${role} active`);
      options.onActive?.(node);
    } else {
      log('error', `${role} did not start: ${node.lastFailure?.transition} failed: ${node.lastFailure?.reason}. It stays ${node.state}; \`ros2 lifecycle set ${fqn} configure\` retries.`);
    }
    await Promise.race([server.finalized(), aborted(options.signal)]);
    log('info', `${role} shutting down`);
    if (node.state !== 'finalized') await server.run('shutdown');
  } finally {
    // A node that failed before the lifecycle server existed still releases what it opened.
    await node?.shutdown().catch((err: unknown) => log('error', `shutdown: ${(err as Error).message}`));
    server?.dispose();
    await transport?.dispose();
    rosNode.destroy();
    if (!rcl.isShutdown()) rcl.shutdown();
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
