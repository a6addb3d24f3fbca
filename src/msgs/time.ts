import { PerceptionError } from '../core/errors.js';
import type { Time } from './types.js';

const NS_PER_SEC = 1_000_000_000n;

/** Nanoseconds since the epoch → ROS 2 `{sec, nanosec}`. Rejects values a ROS 2 Time cannot hold. */
export function nsToTime(ns: bigint): Time {
  if (ns < 0n) throw new PerceptionError('INVALID_ARGUMENT', `time must be ≥ 0 ns, got ${ns}`, { field: 'ns' });
  const sec = ns / NS_PER_SEC;
  if (sec > 0x7fffffffn) throw new PerceptionError('INVALID_ARGUMENT', `time ${ns} ns overflows int32 seconds`, { field: 'ns' });
  return { sec: Number(sec), nanosec: Number(ns % NS_PER_SEC) };
}

/** ROS 2 `{sec, nanosec}` (or ROS 1 `{sec, nsec}`) → nanoseconds since the epoch. */
export function timeToNs(t: Time | { sec: number; nsec: number }): bigint {
  const nanosec = 'nanosec' in t ? t.nanosec : t.nsec;
  return BigInt(t.sec) * NS_PER_SEC + BigInt(nanosec);
}

/** Seconds as a float, for display only (loses precision past ~µs at epoch scale). */
export function nsToSeconds(ns: bigint): number {
  return Number(ns) / 1e9;
}
