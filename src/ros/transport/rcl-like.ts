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

/** rclnodejs `Service`: requests are answered by the callback given to `createService`. */
export interface RclServiceLike {
  readonly serviceName: string;
}

/**
 * A service callback returns the response object, or a promise of it (rclnodejs sends it when
 * the promise resolves, lib/service.js), so a long request (a lifecycle transition that loads a
 * model) is answered when it is done without blocking the event loop.
 */
export type RclServiceCallback = (request: unknown) => object | Promise<object>;

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
  /** The rcl_interfaces/ParameterDescriptor the parameter service answers `describe` with. */
  toMessage(): object;
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
  /** `ignoreOverrides`: declare with this value, not one rclnodejs took from the ROS arguments. */
  declareParameter(parameter: RclParameterLike, descriptor?: RclParameterDescriptorLike, ignoreOverrides?: boolean): RclParameterLike;
  hasParameter(name: string): boolean;
  getParameter(name: string): RclParameterLike;
  setParameter(parameter: RclParameterLike): RclSetParametersResult;
  /** What the parameter service (`ros2 param set`) calls; one result per parameter. */
  setParameters(parameters: RclParameterLike[]): RclSetParametersResult[];
  setParametersAtomically(parameters: RclParameterLike[]): RclSetParametersResult;
  addOnSetParametersCallback(callback: (parameters: RclParameterLike[]) => RclSetParametersResult): void;
  /** Subscriptions to a topic on the whole graph. */
  countSubscribers(topic: string): number;
  createService(typeClass: string, serviceName: string, options: RclEntityOptions | undefined, callback: (request: unknown) => object | Promise<object>): RclServiceLike;
  destroy(): void;
}

export interface RclLike {
  init(context?: undefined, argv?: string[]): Promise<void>;
  shutdown(): void;
  isShutdown(): boolean;
  /**
   * Importing rclnodejs installs a SIGINT handler that shuts every context down at once: the
   * nodes' graceful stop then publishes on released handles. Removed on load (loadRclnodejs);
   * the command installs its own handlers for SIGINT and SIGTERM.
   */
  removeSignalHandlers(): void;
  Node: new (nodeName: string, namespace?: string) => RclNodeLike;
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
