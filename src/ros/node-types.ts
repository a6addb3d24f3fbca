import type { Manifest } from '../model/index.js';
import type { Engine, EngineOptions } from '../engine/engine.js';
import type { FlaggerOptions } from '../adaptation/perception/flagger.js';
import type { AdaptationStatus, FlaggedFrame, WeightUpdate } from '../msgs/adaptation.js';
import type { LabelEvent } from '../adaptation/learner/labels.js';
import type { ParameterHost } from './params-host.js';
import type { Transport } from './transport/types.js';

/** The managed-node states of ROS 2 (lifecycle_msgs/State), as the nodes here walk them. */
export type LifecycleState = 'unconfigured' | 'inactive' | 'active' | 'finalized';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type NodeLog = (level: LogLevel, line: string) => void;

/** A periodic timer; returns its cancel function. Default: `setInterval`, unref'd. */
export type IntervalFn = (periodMs: number, fn: () => void) => () => void;

export const defaultInterval: IntervalFn = (periodMs, fn) => {
  const h = setInterval(fn, periodMs);
  h.unref?.();
  return () => clearInterval(h);
};

/**
 * The port the learner integration fills. Every hook runs on the node's event loop, inside a
 * transport handler: it must not block, and must copy what it keeps from the message (the
 * transport may reuse it after the hook returns). The defaults log one line and do nothing.
 */
export interface PerceptionHooks {
  /** An operator flagged a frame (`adaptation/flag`). */
  onFlag(camera: string, stampNs: bigint, msg: FlaggedFrame): void;
  /** Roll back to `version`, or the previous one when empty (`adaptation/rollback`). */
  onRollback(version: string): void;
  /** The learner announced signed weights (`adaptation/weights`): verify, warm up, swap. */
  onWeights(msg: WeightUpdate): void;
  /** The learner's status (`adaptation/status`); the node already republishes it as a text marker. */
  onLearnerStatus(msg: AdaptationStatus): void;
}

export interface PerceptionNodeOptions {
  readonly transport: Transport;
  readonly params: ParameterHost;
  /** Node name without namespace, for diagnostics (default `perception`). */
  readonly nodeName?: string;
  /** A ready engine, shared and owned by the caller (not disposed by the node). */
  readonly engine?: Engine;
  /** Model folder used when `model_path` is empty (the bundled default). */
  readonly defaultModelDir?: string;
  /** Opens the engine at configure when none is given (default `Engine.create`). */
  readonly openEngine?: (options: EngineOptions) => Promise<Engine>;
  readonly hooks?: Partial<PerceptionHooks>;
  readonly log?: NodeLog;
  readonly interval?: IntervalFn;
  /** Flagger settings beyond `adaptation.max_flags_per_minute` (thresholds, burst), e.g. in tests. */
  readonly flagger?: FlaggerOptions;
  /** Detection score threshold (default 0.3, as replay). */
  readonly scoreThreshold?: number;
  /**
   * Move each frame's bytes (intake's copy) to the inference worker and back instead of copying
   * them (default true). `false` is the copying path, kept as the per-frame bench's reference
   * (bench/per-frame.ts --compare-copy).
   */
  readonly moveFrames?: boolean;
  /** ONNX Runtime intra-op threads of the inference worker (default: PerceptionWorker's, 1). */
  readonly workerThreads?: number;
}

/** AdaptationStatus without its header: what a learner core reports. */
export type LearnerReport = Omit<AdaptationStatus, 'header'>;

/**
 * The port a learner core plugs into (RosLearnerCore by default). The node owns ROS:
 * parameters, topics, life cycle, diagnostics; the core owns learning. Calls come on the
 * node's event loop; the core must not train there (docs/architecture.md: training never blocks the loop).
 */
export interface LearnerCorePort {
  /** A frame flagged by perception (copy what you keep: the message may be reused). */
  flagged(msg: FlaggedFrame): void;
  /** An annotation from `label_topics` (when `label_source` is `topic`); cores without it get none. */
  label?(ev: LabelEvent): void;
  /** The model's class names, to map annotation boxes to class indices. */
  readonly classes?: readonly string[];
  /** The model's depth section: depth annotations are taken to its units with the camera's camera_info. */
  readonly depth?: Manifest['depth'];
  setPaused(paused: boolean): void;
  /** Roll back to `version`, or the previous one when empty. */
  rollback(version: string): void;
  report(): LearnerReport;
  /** The node republishes status (latched) whenever the core says it changed. */
  onChange(listener: () => void): void;
  dispose(): Promise<void>;
}

/** Parameter values by name, validated (see LEARNER_PARAMS). */
export type LearnerParams = ReadonlyMap<string, unknown>;

/** What the node lends its core: the way out to perception, and the transport's clock. */
export interface LearnerNodePorts {
  /** Publishes on adaptation/weights (latched); false when the node is not active. */
  readonly announceWeights: (msg: WeightUpdate) => boolean;
  readonly now: () => bigint;
  readonly defaultModelDir?: string;
}
