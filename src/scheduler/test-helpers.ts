import { Scheduler } from './scheduler.js';
import { FakeClock, FakeRunner, type CostFn, type FakeResult } from './testing.js';
import type { DropReason, FrameTiming, InputSize, SchedulerOptions } from './types.js';

export const BIG: InputSize = [256, 512];
export const SMALL: InputSize = [128, 256];

export interface Served {
  camera: string;
  payload: string;
  timing: FrameTiming;
}

export interface Harness {
  s: Scheduler<string, FakeResult<string>>;
  clock: FakeClock;
  runner: FakeRunner<string>;
  served: Served[];
  drops: { camera: string; reason: DropReason; payload: string }[];
  errors: unknown[];
  /** Offers `payload` on `camera` at the current fake time, stamp = `stamp` (default: a counter). */
  offer(camera: string, payload: string, stamp?: number, sourceSize?: InputSize): void;
}

type Overrides = Partial<Omit<SchedulerOptions<string, FakeResult<string>>, 'runner' | 'clock'>> & { cost?: CostFn };

/** A scheduler on a fake clock and a fake runner (default cost 5 ms per batch). */
export function harness(over: Overrides = {}): Harness {
  const clock = new FakeClock();
  const { cost, ...rest } = over;
  const runner = new FakeRunner<string>({ cost: cost ?? (() => 5), clock });
  const served: Served[] = [];
  const drops: Harness['drops'] = [];
  const errors: unknown[] = [];
  const s = new Scheduler<string, FakeResult<string>>({
    cameras: { a: { budgetMs: 100 } },
    sizes: [BIG, SMALL],
    onResult: (camera, payload, _r, timing) => served.push({ camera, payload, timing }),
    onDrop: (camera, reason, payload) => drops.push({ camera, reason, payload }),
    onError: (e) => errors.push(e),
    ...rest,
    runner,
    clock,
  });
  let stamp = 0;
  return {
    s,
    clock,
    runner,
    served,
    drops,
    errors,
    offer(camera, payload, st, sourceSize) {
      s.offer(camera, payload, { stampNs: BigInt(st ?? ++stamp), sourceSize });
    },
  };
}
