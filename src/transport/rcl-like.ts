/**
 * Exactly the part of rclnodejs (2.x) that this product calls, and nothing more. The ROS
 * transport and the node composition are written against it; the in-memory fake in
 * test/ros/fake-rclnodejs.ts implements it; test/ros/rcl-like.typecheck.ts has tsc check that
 * rclnodejs's own declarations satisfy it, so an API change upstream fails the typecheck here.
 *
 * Members are declared as methods on purpose: TypeScript compares method parameters
 * bivariantly, which is what lets rclnodejs's generic, overloaded signatures (typed from
 * generated interfaces we do not have without ROS) match these plain ones.
 */

/** rclnodejs `Time`: we only read the nanoseconds. */
export interface RclTimeLike {
  readonly nanoseconds: bigint;
}

/**
 * rclnodejs `QoS` instance. (Its .d.ts declares `reliability()` as a method while the JS has a
 * getter, so we never read it back; the fake records what it was constructed with.)
 */
export interface RclQoSLike {
  readonly history: number;
  readonly depth: number;
  readonly durability: number;
}

export interface RclEntityOptions {
  qos?: RclQoSLike | string;
  /** uint8[] fields arrive as Uint8Array (rclnodejs's default, set explicitly so it cannot drift). */
  enableTypedArray?: boolean;
}

export interface RclMessageInfoLike {
  /** Publisher's source timestamp, ns. */
  readonly sourceTimestamp: bigint;
}

export interface RclPublisherLike {
  readonly topic: string;
  publish(message: object): void;
}

export interface RclSubscriptionLike {
  readonly topic: string;
}

export interface RclTimerLike {
  cancel(): void;
  isCanceled(): boolean;
}

export interface RclParameterLike {
  readonly name: string;
  readonly type: number;
  /** INTEGER parameters hold a bigint, INTEGER_ARRAY an array of bigint (rclnodejs converts). */
  value: unknown;
}

/** Typed `number` as rclnodejs's .d.ts has it, although an IntegerRange holds bigints at runtime. */
export interface RclRangeLike {
  readonly fromValue: number;
  readonly toValue: number;
  readonly step: number;
  inRange(value: number): boolean;
  isValidType(parameterType: number): boolean;
}

export interface RclParameterDescriptorLike {
  readonly name: string;
  readonly type: number;
  readonly description: string;
  readonly readOnly: boolean;
}

export interface RclSetParametersResult {
  successful: boolean;
  reason: string;
}

export interface RclNodeLike {
  name(): string;
  namespace(): string;
  now(): RclTimeLike;
  spin(timeout?: number): void;
  createPublisher(typeClass: string, topic: string, options?: RclEntityOptions): RclPublisherLike;
  createSubscription(
    typeClass: string,
    topic: string,
    options: RclEntityOptions,
    callback: (message: unknown, messageInfo?: RclMessageInfoLike) => void,
  ): RclSubscriptionLike;
  destroyPublisher(publisher: RclPublisherLike): void;
  destroySubscription(subscription: RclSubscriptionLike): void;
  createTimer(period: bigint, callback: () => void): RclTimerLike;
  destroyTimer(timer: RclTimerLike): void;
  declareParameter(parameter: RclParameterLike, descriptor?: RclParameterDescriptorLike): RclParameterLike;
  hasParameter(name: string): boolean;
  getParameter(name: string): RclParameterLike;
  setParameter(parameter: RclParameterLike): RclSetParametersResult;
  addOnSetParametersCallback(callback: (parameters: RclParameterLike[]) => RclSetParametersResult): void;
  destroy(): void;
}

/** rclnodejs `lifecycle.State`: read through `asMessage()`, the only public accessor in its .d.ts. */
export interface RclStateLike {
  asMessage(): { id: number; label: string };
}

/** Transition callbacks return 97 (SUCCESS), 98 (FAILURE) or 99 (ERROR), as lifecycle_msgs does. */
export type RclTransitionCallback = (previousState: RclStateLike) => number;

export interface RclLifecycleNodeLike extends RclNodeLike {
  readonly currentState: RclStateLike;
  registerOnConfigure(cb: RclTransitionCallback): void;
  registerOnActivate(cb: RclTransitionCallback): void;
  registerOnDeactivate(cb: RclTransitionCallback): void;
  registerOnCleanup(cb: RclTransitionCallback): void;
  registerOnShutdown(cb: RclTransitionCallback): void;
  configure(): RclStateLike;
  activate(): RclStateLike;
  deactivate(): RclStateLike;
  cleanup(): RclStateLike;
  shutdown(): RclStateLike;
}

export interface RclLike {
  init(context?: undefined, argv?: string[]): Promise<void>;
  shutdown(): void;
  isShutdown(): boolean;
  Node: new (nodeName: string, namespace?: string) => RclNodeLike;
  lifecycle: { LifecycleNode: new (nodeName: string, namespace?: string) => RclLifecycleNodeLike };
  QoS: new (history?: number, depth?: number, reliability?: number, durability?: number) => RclQoSLike;
  Parameter: new (name: string, type: number, value?: unknown) => RclParameterLike;
  ParameterDescriptor: new (name: string, type: number, description?: string, readOnly?: boolean, range?: RclRangeLike) => RclParameterDescriptorLike;
  IntegerRange: new (from: bigint, to: bigint, step?: bigint) => RclRangeLike;
  FloatingPointRange: new (from: number, to: number, step?: number) => RclRangeLike;
}

/** rmw_qos_policy_*_t values (rmw/types.h), the numbers rclnodejs's QoS enums carry. */
export const RMW = {
  HISTORY_KEEP_LAST: 1,
  RELIABILITY_RELIABLE: 1,
  RELIABILITY_BEST_EFFORT: 2,
  DURABILITY_TRANSIENT_LOCAL: 1,
  DURABILITY_VOLATILE: 2,
} as const;

/** rcl_interfaces/msg/ParameterType values (rclnodejs `ParameterType`). */
export const PARAMETER_TYPE = {
  NOT_SET: 0,
  BOOL: 1,
  INTEGER: 2,
  DOUBLE: 3,
  STRING: 4,
  BYTE_ARRAY: 5,
  BOOL_ARRAY: 6,
  INTEGER_ARRAY: 7,
  DOUBLE_ARRAY: 8,
  STRING_ARRAY: 9,
} as const;

/** lifecycle_msgs/msg/Transition TRANSITION_CALLBACK_* values. */
export const CALLBACK_RETURN = { SUCCESS: 97, FAILURE: 98, ERROR: 99 } as const;
