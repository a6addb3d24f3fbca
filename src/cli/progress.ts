import cliProgress from 'cli-progress';

/** Progress for long commands: a bar on a terminal, nothing when stderr is piped. */
export interface Progress {
  update(done: number, extra?: string): void;
  stop(): void;
}

export function createProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || process.env.CI) {
    return { update() {}, stop() {} };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} {extra}`,
      stream,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { extra: '' });
  let stopped = false;
  return {
    update(done, extra = '') {
      if (!stopped) bar.update(done, { extra });
    },
    stop() {
      if (!stopped) {
        stopped = true;
        bar.stop();
      }
    },
  };
}
