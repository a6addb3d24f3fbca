import { Command, CommanderError } from 'commander';

/** Builds the command tree; each subcommand lives in its own module. */
export function buildProgram(): Command {
  const program = new Command('adaptive-perception')
    .description('ROS 2 camera perception with online adaptation (CLI mode, no ROS needed)')
    .exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`adaptive-perception: ${(err as Error).message}\n`);
    return 1;
  }
}
