import type { Command } from 'commander';
import { PerceptionError } from '../errors.js';
import { LEARNER_NICE, lowerLearnerPriority } from '../learner/priority.js';
import { LearnerNode, type LearnerNodeOptions } from '../node/learner-node.js';
import { bindRclLifecycle, type ManagedNode } from '../node/lifecycle.js';
import { RclParameterHost } from '../node/params-host.js';
import { PerceptionNode } from '../node/perception-node.js';
import type { NodeLog, PerceptionNodeOptions } from '../node/types.js';
import { RosTransport, loadRclnodejs, type RclLike, type TransportEvent } from '../transport/index.js';
import { DEFAULT_MODEL_DIR } from './replay.js';

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
 * Runs one node as a ROS 2 managed node until `signal` aborts: rcl init with the ROS arguments,
 * an rclnodejs LifecycleNode (so `ros2 lifecycle` works), the transport over it, and the
 * transport-agnostic node driven by its transitions. It configures and activates itself at
 * start (as launch files expect of these nodes); a lifecycle manager may still walk it later.
 * Everything is disposed on the way out, also when start-up fails.
 */
export async function runRosNode(role: Role, options: RunRosNodeOptions): Promise<void> {
  const log = options.log ?? (() => {});
  const rcl = options.rcl ?? (await loadRclnodejs());
  if (rcl.isShutdown()) await rcl.init(undefined, options.argv ?? []);
  const lc = new rcl.lifecycle.LifecycleNode(role);
  let node: PerceptionNode | LearnerNode | undefined;
  const onEvent = (e: TransportEvent) => (node instanceof PerceptionNode ? node.handleTransportEvent(e) : log('warn', `${e.kind} on ${e.topic}`));
  let transport: RosTransport | undefined;
  try {
    transport = await RosTransport.open({ rcl, node: lc, nodeName: role, onEvent });
    const params = new RclParameterHost(rcl, lc);
    node =
      role === 'perception'
        ? new PerceptionNode({ defaultModelDir: DEFAULT_MODEL_DIR, ...options.perception, transport, params, nodeName: lc.name(), log })
        : new LearnerNode({ defaultModelDir: DEFAULT_MODEL_DIR, ...options.learner, transport, params, nodeName: lc.name(), log });
    const lifecycle = bindRclLifecycle(lc, node, log);
    lc.spin();
    lc.configure();
    lc.activate();
    await lifecycle.settled();
    if (node.state !== 'active') throw new PerceptionError('INVALID_CONFIG', `${role} node did not start (see the lines above)`, { node: role });
    log('info', `${role} active`);
    options.onActive?.(node);
    await new Promise<void>((resolve) => {
      if (options.signal.aborted) return resolve();
      options.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    log('info', `${role} shutting down`);
  } finally {
    await node?.shutdown().catch((err: unknown) => log('error', `shutdown: ${(err as Error).message}`));
    await transport?.dispose();
    lc.destroy();
    if (!rcl.isShutdown()) rcl.shutdown();
  }
}

/** `adaptive-perception ros perception|learner [--ros-args …]` (what the launch files' wrappers run). */
export function registerRosCommand(program: Command): void {
  program
    .command('ros')
    .description('run a ROS 2 node (needs ROS 2 sourced and rclnodejs built): perception or learner; ROS arguments follow --ros-args')
    .argument('<role>', `one of ${ROLES.join(', ')}`)
    .argument('[ros_args...]', 'ROS arguments, e.g. --ros-args -r __ns:=/robot1 --params-file p.yaml')
    .allowUnknownOption()
    .action(async (role: string, rosArgs: string[]) => {
      if (!(ROLES as readonly string[]).includes(role)) throw new PerceptionError('INVALID_ARGUMENT', `role must be one of ${ROLES.join(', ')}, got "${role}"`, { field: 'role' });
      const stderr = process.stderr;
      const log: NodeLog = (level, line) => void stderr.write(`[${role}] ${level}: ${line}\n`);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      // The learner is background work: below perception's priority when they share cores.
      if (role === 'learner') log('info', lowerLearnerPriority({ nice: LEARNER_NICE, sched: 'idle' }));
      try {
        // rcl parses from argv[1] on (argv[0] is the program), the arguments after --ros-args as rclcpp does.
        await runRosNode(role as Role, { argv: [process.argv[1] ?? 'adaptive-perception', ...rosArgs], signal: stop.signal, log });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
