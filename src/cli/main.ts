import { Command, CommanderError } from 'commander';
import { isPerceptionError } from '../core/errors.js';
import { registerBagCommands } from './bag.js';
import { registerDatasetCommand } from './dataset.js';
import { registerLearnerCommand } from './learner.js';
import { registerQuantizeCommand } from './quantize.js';
import { registerReplayCommand } from './replay.js';
import { registerRosCommand } from './ros.js';
import { registerSimCommand } from './sim.js';

/** Builds the command tree; each subcommand lives in its own module. */
export function buildProgram(): Command {
  const program = new Command('adaptive-perception')
    .description('ROS 2 camera perception with online adaptation (CLI mode, no ROS needed)')
    .showHelpAfterError()
    .exitOverride();
  registerReplayCommand(program);
  registerSimCommand(program);
  registerBagCommands(program);
  registerDatasetCommand(program);
  registerLearnerCommand(program);
  registerQuantizeCommand(program);
  registerRosCommand(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    // Our own errors carry their context in the message; anything else is a bug: show the stack.
    const text = isPerceptionError(err) ? `${err.code}: ${err.message}` : ((err as Error).stack ?? String(err));
    process.stderr.write(`adaptive-perception: ${text}\n`);
    return 1;
  }
}
