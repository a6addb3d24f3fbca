/**
 * Long synchronous work cut into pieces: a generator that yields between pieces. `runNow`
 * drains it at once (tests, offline tools); `runPaced` awaits a Pacer between pieces, so the
 * learner's gate and router fit run inside perception's slack like its training steps do
 * (see slack-window.ts). A generator rather than callbacks: the work reads top to bottom, and
 * its `finally` blocks (tensor disposal) run whether it finishes or is abandoned.
 */
export type Paced<T> = Generator<void, T, undefined>;

export interface Pacer {
  /** A run of paced work starts (its first piece is timed from here). */
  begin(): void;
  /** Between two pieces: resolves when the next may run; rejects to abandon the work. */
  pace(): Promise<void>;
}

export function runNow<T>(work: Paced<T>): T {
  for (;;) {
    const r = work.next();
    if (r.done) return r.value;
  }
}

export async function runPaced<T>(work: Paced<T>, pacer: Pacer): Promise<T> {
  pacer.begin();
  try {
    for (;;) {
      const r = work.next();
      if (r.done) return r.value;
      await pacer.pace();
    }
  } catch (err) {
    work.return(undefined as never); // runs the work's finally blocks
    throw err;
  }
}
