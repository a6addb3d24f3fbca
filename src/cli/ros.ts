import type { Command } from 'commander';
import { PerceptionError } from '../core/errors.js';
import { LEARNER_NICE, lowerLearnerPriority } from '../adaptation/learner/priority.js';
import type { NodeLog } from '../ros/node-types.js';
import { ROLES, runRosNode, type Role } from '../ros/run.js';

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
