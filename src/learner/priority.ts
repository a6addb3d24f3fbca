import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { PerceptionError } from '../errors.js';

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
