import type { CancelTimer, Clock } from './types.js';

type Immediate = (fn: () => void) => unknown;
type ClearImmediate = (handle: unknown) => void;

/**
 * The real clock: `performance.now()` and host timers, found on `globalThis` so the scheduler
 * core imports nothing from Node. A zero delay uses `setImmediate` where the host has it: it
 * runs after pending I/O (frames already received), where `setTimeout(0)` would cost ≥ 1 ms.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(delayMs: number, fn: () => void): CancelTimer {
    const g = globalThis as { setImmediate?: Immediate; clearImmediate?: ClearImmediate };
    if (delayMs <= 0 && g.setImmediate !== undefined && g.clearImmediate !== undefined) {
      const handle = g.setImmediate(fn);
      const clear = g.clearImmediate;
      return () => clear(handle);
    }
    const handle = setTimeout(fn, Math.max(0, delayMs));
    return () => clearTimeout(handle);
  },
};
