import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { PerceptionError } from '../../core/errors.js';

/**
 * The learner's default niceness: background work, below perception (nice 0). 19, the lowest:
 * CFS weighs a nice-19 thread 15 against perception's 1024 (nice 10: 110), so a perception
 * thread that wakes while the learner holds its core preempts it at once. Training only runs in
 * granted slack anyway; what this keeps off perception's frames is the learner's own bursts.
 */
export const LEARNER_NICE = 19;

/**
 * Lowers this whole process's CPU priority to `nice` (0..19), so that the learner's bursts
 * (gate evaluations, router fits, training steps) never take a core from perception on a
 * machine whose cores are all busy: with CFS a nice-10 process gets about a tenth of a
 * contended core (nice 19: under 2 %). On Linux a nice value belongs to a thread and new threads inherit their
 * creator's, so every thread that exists now (V8's platform and GC threads, libuv's pool) is
 * set through /proc/self/task; elsewhere the process's priority is set. Raising the niceness
 * needs no privilege. Returns the number of threads set; a thread that ended meanwhile is
 * skipped. Throws INVALID_ARGUMENT for a value outside 0..19.
 */
export function lowerProcessPriority(nice: number): number {
  if (!(Number.isInteger(nice) && nice >= 0 && nice <= 19)) {
    throw new PerceptionError('INVALID_ARGUMENT', `nice must be an integer in 0..19, got ${nice}`, { field: 'nice' });
  }
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number).filter(Number.isInteger);
  } catch {
    setPriority(nice); // no procfs: the process as the OS defines it
    return 1;
  }
  let set = 0;
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
      set++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  return set;
}

/**
 * Puts every thread of this process under Linux's SCHED_IDLE policy (threads started later
 * inherit it): they run only when a core has nothing else to run, and the kernel places a
 * waking perception thread on a core that runs only SCHED_IDLE work as if it were idle. A nice
 * value does neither: at nice 19 the learner still slowed perception's frames, under SCHED_IDLE
 * they ran close to their speed with no learner (one traced `npm run -s adaptation` run each:
 * docs/experiments/2026-11-29-latency-and-swaps.md).
 * The cost: a learner on cores that perception keeps busy gets no CPU at all, so it also stores
 * no samples until perception leaves some slack (the channel counts what its queue drops).
 *
 * Node has no call for sched_setscheduler; util-linux's `chrt` (present on every Debian and
 * Ubuntu system) makes it for each thread (`--all-tasks`). Lowering one's own policy needs no
 * privilege. Returns why it could not, or null when it did.
 */
export function useIdleScheduling(run: (file: string, args: string[]) => void = (file, args) => void execFileSync(file, args, { stdio: 'pipe', timeout: 10_000 })): string | null {
  if (process.platform !== 'linux') return `SCHED_IDLE is Linux's (this is ${process.platform})`;
  try {
    run('chrt', ['--idle', '--all-tasks', '--pid', '0', String(process.pid)]);
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') return 'chrt (util-linux) is not installed';
    return `chrt failed: ${(e.stderr?.toString().trim() || e.message).split('\n')[0]}`;
  }
}

/** How the learner's CPU priority is lowered at start-up: `--sched` and `--nice`. */
export type LearnerSched = 'idle' | 'normal';

/**
 * The learner's start-up call, before it starts any thread of its own: niceness `nice` (a
 * fallback where SCHED_IDLE is unavailable, and what `ps` shows) and, with `sched: 'idle'`,
 * SCHED_IDLE. Returns a line for the log.
 */
export function lowerLearnerPriority(o: { nice: number; sched: LearnerSched }): string {
  if (o.nice > 0) lowerProcessPriority(o.nice);
  const nice = o.nice > 0 ? `nice ${o.nice}` : 'nice unchanged';
  if (o.sched === 'normal') return `learner CPU priority: ${nice}, normal scheduling`;
  const why = useIdleScheduling();
  return why === null ? `learner CPU priority: SCHED_IDLE (runs only on otherwise idle cores), ${nice}` : `learner CPU priority: ${nice}; SCHED_IDLE not set: ${why}`;
}
