import { PerceptionError } from '../core/errors.js';

/**
 * Manual flags from the command line (`replay --adapt --flag CAMERA@STAMP`): an operator asks
 * for a camera's frame to be sent to the learner and labelled, whatever the automatic triggers
 * say. The ROS perception node takes the same request on its `adaptation/flag` topic.
 */
export interface ManualFlagSpec {
  readonly camera: string;
  /** Header stamp (ns) when given as an absolute time… */
  readonly stampNs?: bigint;
  /** …or nanoseconds from the bag's start (`+S`). */
  readonly offsetNs?: bigint;
  /** As the user wrote it, for messages. */
  readonly spec: string;
}

const TIME = /^(\+)?(\d{1,12})(?:\.(\d{1,9}))?$/;

/**
 * Parses `CAMERA@STAMP`: STAMP is a header stamp in seconds (`1700000012.5`, up to nine
 * decimals, read exactly) or, with a leading `+`, seconds from the bag's start (`+12.5`).
 * CAMERA is the camera's name in replay (`front` for `/front/image_raw`). Throws
 * INVALID_ARGUMENT saying what is wrong.
 */
export function parseManualFlag(spec: string): ManualFlagSpec {
  const bad = (why: string) => new PerceptionError('INVALID_ARGUMENT', `--flag ${JSON.stringify(spec)}: ${why} (expected CAMERA@SECONDS, e.g. front@1700000012.5, or CAMERA@+SECONDS from the bag's start, e.g. front@+12.5)`, { field: 'flag' });
  const at = spec.lastIndexOf('@');
  if (at < 0) throw bad('no "@" between camera and time');
  const camera = spec.slice(0, at).trim();
  const time = spec.slice(at + 1).trim();
  if (camera.length === 0) throw bad('no camera name');
  if (!/^[A-Za-z0-9_/~.-]+$/.test(camera)) throw bad(`camera name ${JSON.stringify(camera)} has characters a camera name cannot have`);
  const m = TIME.exec(time);
  if (!m) throw bad(`time ${JSON.stringify(time)} is not a number of seconds`);
  const ns = BigInt(m[2]) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] ? { camera, offsetNs: ns, spec } : { camera, stampNs: ns, spec };
}

/** The stamp a flag asks for, given the bag's start (ns). */
export function manualFlagStamp(flag: ManualFlagSpec, bagStartNs: bigint): bigint {
  return flag.stampNs ?? bagStartNs + (flag.offsetNs ?? 0n);
}
