/**
 * The scheduler's public contract: the ports it talks to (clock, batch runner), the options it
 * takes and the values it hands back. Implementations live beside this file; nothing here
 * imports Node.js, ONNX Runtime or ROS.
 */

/** A model input size, `[height, width]`, as listed in a model manifest's ladder. */
export type InputSize = readonly [height: number, width: number];

/**
 * One rung of the ladder: an input size and, optionally, a model variant the runner knows by
 * name (a precision such as `int8`, a width such as `w0.5`, or both). The scheduler never
 * interprets the variant: each rung is just another cost it measures (see `SchedulerOptions.rungs`).
 */
export interface Rung {
  readonly size: InputSize;
  /** The runner's name for the variant; absent: the runner's default model. */
  readonly variant?: string;
}

/** Cancels a timer set with {@link Clock.setTimer}; calling it twice is harmless. */
export type CancelTimer = () => void;

/**
 * Time source. `now()` is monotonic milliseconds; `setTimer` runs `fn` after `delayMs` (a delay
 * of 0 means "after pending I/O", which the pump uses to let queued frames arrive first).
 */
export interface Clock {
  now(): number;
  setTimer(delayMs: number, fn: () => void): CancelTimer;
}

/**
 * The model, seen from the scheduler: run a batch of opaque frames at one input size and return
 * one result per frame, in order. The runner may block the event loop while it runs (onnxruntime-node
 * does); the scheduler never assumes otherwise.
 */
export interface BatchRunner<T, R> {
  /** `variant`: the rung's model variant (absent: the runner's default model). */
  run(frames: readonly T[], size: InputSize, variant?: string): Promise<readonly R[]>;
}

/**
 * Why a frame was not served. `superseded`: a newer frame of the same camera replaced it (or it
 * arrived older than one already taken); `deadline`: it could no longer meet its deadline;
 * `sampled_out`: skipped by the camera's `sampleEvery`; `error`: the runner failed its batch;
 * `shutdown`: the scheduler was disposed while the frame waited or ran.
 */
export type DropReason = 'superseded' | 'deadline' | 'sampled_out' | 'error' | 'shutdown';

export const DROP_REASONS: readonly DropReason[] = ['superseded', 'deadline', 'sampled_out', 'error', 'shutdown'];

export interface CameraConfig {
  /** Deadline = arrival + budgetMs. Range (0, 60000]. */
  readonly budgetMs: number;
  /** Higher is served first when deadlines tie. Integer in [0, 100]; default 0. */
  readonly priority?: number;
  /** Process every k-th frame (the first, then every k-th); others are `sampled_out`. Integer in [1, 1000]; default 1. */
  readonly sampleEvery?: number;
}

export interface BatchingOptions {
  /** Default true (it still only batches when `maxBatch` > 1 and the cost model says it pays). */
  readonly enabled?: boolean;
  /** Largest batch the model takes. Integer in [1, 64]; default 1 (no batching). */
  readonly maxBatch?: number;
  /** Batch n frames only if cost(n) < n × cost(1) × threshold. In (0, 1]; default 0.9. */
  readonly threshold?: number;
}

export interface CostModelOptions {
  /** Cost assumed for one frame at the largest size before any sample. In (0, 60000]; default 10. */
  readonly priorMs?: number;
  /** Prior for a batch of n: cost(1) × (1 + (n − 1) × priorBatchFactor). In (0, 1]; default 0.6. */
  readonly priorBatchFactor?: number;
  /** EWMA weight of a new sample. In (0, 1]; default 0.2. */
  readonly alpha?: number;
  /** Samples kept per (batch, size) for the high quantile. Integer in [4, 1024]; default 32. */
  readonly ringSize?: number;
  /** The high quantile tracked. In (0.5, 1]; default 0.9. */
  readonly quantile?: number;
}

export interface LadderOptions {
  /** Utilization above this is overload. In (0, 1]; default 0.9. */
  readonly highWater?: number;
  /** Utilization below this (and no misses or drops) is underload. In [0, highWater); default 0.5. */
  readonly lowWater?: number;
  /** Miss + drop rate over the window above this is overload. In [0, 1]; default 0.1. */
  readonly missRateHigh?: number;
  /** Consecutive overloaded dispatches before stepping down. Integer in [1, 10000]; default 5. */
  readonly stepDownAfter?: number;
  /** Consecutive underloaded dispatches before stepping up. Integer ≥ stepDownAfter; default 30. */
  readonly stepUpAfter?: number;
  /**
   * Never step down while one frame's high-quantile cost at the current rung is within this
   * share of the smallest budget and utilization is below `highWater`: misses then come from
   * noise on the machine, not from the rung. In (0, 1]; default 0.75.
   */
  readonly fitShare?: number;
  /**
   * A measured rung is on the ladder only if it is cheaper, by at least this fraction, than
   * every measured rung listed before it (a rung that is worse and no cheaper saves nothing).
   * In [0, 0.9]; default 0.05.
   */
  readonly minSaving?: number;
}

export interface WindowOptions {
  /** Wall time over which utilization is measured. In (0, 600000]; default 1000. */
  readonly utilizationMs?: number;
  /** Frame outcomes (served, missed, dropped) over which the miss rate is measured. Integer in [1, 10000]; default 50. */
  readonly outcomes?: number;
}

/** SchedulerOptions.admission. */
export type Admission = 'expected' | 'high';
export const ADMISSIONS: readonly Admission[] = ['expected', 'high'];

export interface SchedulerOptions<T, R> {
  readonly cameras: Readonly<Record<string, CameraConfig>>;
  /** The model's input sizes, largest first (the manifest's ladder). Ignored when `rungs` is given. */
  readonly sizes?: readonly InputSize[];
  /**
   * The ladder's rungs in order of preference, best first (e.g. size-major: 192×384 fp32,
   * 192×384 int8, 160×320 fp32, …). The scheduler learns each rung's cost online and steps
   * through them by cost: a rung is kept only while it is measured cheaper than every rung
   * before it (see `ladder.minSaving`); an unmeasured rung is kept so that it gets tried.
   * Default: `sizes`, one rung each, no variant.
   */
  readonly rungs?: readonly Rung[];
  readonly runner: BatchRunner<T, R>;
  readonly clock: Clock;
  /** Inferences allowed at once. Integer in [1, 16]; default 1 (one CPU pipeline). */
  readonly maxInFlight?: number;
  /**
   * Which run-time estimate a frame must still fit before its deadline to start (else it is
   * dropped for its deadline): 'expected' (the cost model's EWMA, default: a frame that would
   * make it about half the time starts) or 'high' (its high quantile: skip rather than be
   * late). Four 30 Hz cameras on two cores: misses 5.5 → 2 a run, 2 % fewer frames served;
   * at 2× overload 9 % fewer (docs/experiments/2026-12-06-evening.md).
   */
  readonly admission?: Admission;
  readonly batching?: BatchingOptions;
  readonly costModel?: CostModelOptions;
  readonly ladder?: LadderOptions;
  readonly window?: WindowOptions;
  readonly onResult?: (camera: string, payload: T, result: R, timing: FrameTiming) => void;
  readonly onDrop?: (camera: string, reason: DropReason, payload: T) => void;
  /** Runner failures and exceptions thrown by callbacks; the scheduler keeps going. */
  readonly onError?: (error: unknown, context: ErrorSite) => void;
}

export interface ErrorSite {
  readonly phase: 'run' | 'onResult' | 'onDrop' | 'onRevoke';
  readonly camera?: string;
}

export interface FrameMeta {
  /** Arrival time on the scheduler's clock; default `clock.now()`. */
  readonly arrivalMs?: number;
  /** The frame's header stamp; a camera's frames are served in stamp order. */
  readonly stampNs: bigint;
  /** Raw frame size `[height, width]`; only frames of equal known size are batched together. */
  readonly sourceSize?: InputSize;
}

export interface FrameTiming {
  readonly arrivalMs: number;
  readonly deadlineMs: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly size: InputSize;
  /** The rung's model variant (absent: the runner's default). */
  readonly variant?: string;
  /** Frames in the batch this one ran in. */
  readonly batch: number;
  readonly stampNs: bigint;
}

/**
 * What `offer` did with the frame it was given: queued, or dropped at once (`superseded`: not
 * newer than one already accepted; `shutdown`: the scheduler is disposed). A replaced older
 * frame is reported through `onDrop`, not here.
 */
export type OfferOutcome = 'queued' | 'superseded' | 'sampled_out' | 'shutdown';

export interface PendingFrame<T> {
  readonly camera: string;
  readonly payload: T;
  readonly arrivalMs: number;
  readonly deadlineMs: number;
  readonly stampNs: bigint;
  readonly priority: number;
  readonly sourceSize: InputSize | undefined;
}

/** One batch taken by `poll()`; hand it back with `complete()` or `fail()`. */
export interface Dispatch<T> {
  readonly id: number;
  readonly frames: readonly PendingFrame<T>[];
  readonly size: InputSize;
  /** The rung's model variant (absent: the runner's default); hand it to the runner with `size`. */
  readonly variant?: string;
  readonly startMs: number;
  /** The cost model's expectation (EWMA) when dispatched. */
  readonly expectedMs: number;
  /** Started although expected to finish after its deadline (a starving camera's frame, see PlanInput.starving). */
  readonly lateStart?: boolean;
}

export type RevokeReason = 'arrival' | 'backlog' | 'shutdown';

/**
 * Time lent to the trainer. The trainer must pause as soon as a revoke listener fires (called
 * synchronously from the `offer` that needs the CPU back) and call `release()` when done early.
 */
export interface SlackGrant {
  readonly id: number;
  readonly ms: number;
  readonly startMs: number;
  readonly endMs: number;
  /** True once revoked; a released or expired grant is not revoked. */
  readonly revoked: boolean;
  /** Registers a listener; called at once if the grant is already revoked. */
  onRevoke(listener: (reason: RevokeReason) => void): void;
  /** Hands the rest of the grant back; idempotent. */
  release(): void;
}
