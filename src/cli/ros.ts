import type { Command } from 'commander';
import { PerceptionError } from '../core/errors.js';
import { LEARNER_NICE, lowerLearnerPriority } from '../adaptation/learner/priority.js';
import type { NodeLog } from '../ros/node-types.js';
import { playBag } from '../ros/player.js';
import { ROLES, runRosNode, type Role } from '../ros/run.js';

const PLAYER = 'player';

/**
 * `adaptive-perception ros perception|learner [--ros-args …]` and
 * `adaptive-perception ros player --bag BAG [--rate R] [--clock] [--ros-args …]` (what the launch
 * files' wrappers run).
 */
export function registerRosCommand(program: Command): void {
  program
    .command('ros')
    .description('run a ROS 2 node (needs ROS 2 sourced and rclnodejs built): perception, learner, or player (plays a bag onto the graph: --bag BAG [--rate R] [--clock] [--wait-for-cameras S]); ROS arguments follow --ros-args')
    .argument('<role>', `one of ${[...ROLES, PLAYER].join(', ')}`)
    .argument('[ros_args...]', 'ROS arguments, e.g. --ros-args -r __ns:=/robot1 --params-file p.yaml')
    .allowUnknownOption()
    .action(async (role: string, rosArgs: string[]) => {
      if (role !== PLAYER && !(ROLES as readonly string[]).includes(role)) throw new PerceptionError('INVALID_ARGUMENT', `role must be one of ${[...ROLES, PLAYER].join(', ')}, got "${role}"`, { field: 'role' });
      const stderr = process.stderr;
      const log: NodeLog = (level, line) => void stderr.write(`[${role}] ${level}: ${line}\n`);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      // The learner is background work: below perception's priority when they share cores.
      if (role === 'learner') log('info', lowerLearnerPriority({ nice: LEARNER_NICE, sched: 'idle' }));
      try {
        if (role === PLAYER) {
          const i = rosArgs.indexOf('--ros-args');
          const own = i < 0 ? rosArgs : rosArgs.slice(0, i);
          await playBag({ ...parsePlayerArgs(own), argv: [process.argv[1] ?? 'adaptive-perception', ...(i < 0 ? [] : rosArgs.slice(i))], signal: stop.signal, log });
          return;
        }
        // rcl parses from argv[1] on (argv[0] is the program), the arguments after --ros-args as rclcpp does.
        await runRosNode(role as Role, { argv: [process.argv[1] ?? 'adaptive-perception', ...rosArgs], signal: stop.signal, log });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

/** `--bag BAG [--rate R] [--clock]`; INVALID_ARGUMENT naming the option at fault. */
export function parsePlayerArgs(args: readonly string[]): { bag: string; rate: number; clock: boolean; waitForCamerasS: number } {
  let bag: string | undefined;
  let rate = 1;
  let clock = false;
  let waitForCamerasS = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--bag') bag = args[++i];
    else if (a === '--rate') rate = Number(args[++i]);
    else if (a === '--clock') clock = true;
    else if (a === '--wait-for-cameras') {
      waitForCamerasS = Number(args[++i]);
      if (!(waitForCamerasS >= 0 && waitForCamerasS <= 3600)) throw new PerceptionError('INVALID_ARGUMENT', `ros player: --wait-for-cameras must be seconds in 0..3600, got ${args[i]}`, { field: '--wait-for-cameras' });
    } else throw new PerceptionError('INVALID_ARGUMENT', `ros player: unknown argument "${a}" (--bag BAG [--rate R] [--clock] [--wait-for-cameras S])`, { field: a });
  }
  if (!bag) throw new PerceptionError('INVALID_ARGUMENT', 'ros player needs --bag BAG', { field: '--bag' });
  if (!(rate > 0 && rate <= 100)) throw new PerceptionError('INVALID_ARGUMENT', `ros player: --rate must be in (0, 100], got ${args[args.indexOf('--rate') + 1]}`, { field: '--rate' });
  return { bag, rate, clock, waitForCamerasS };
}
