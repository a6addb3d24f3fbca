/**
 * Compile-time check (tsc, not vitest): rclnodejs's shipped declarations satisfy RclLike, so the
 * fake and the ROS transport are typed from rclnodejs's own API. Type-only imports: nothing here
 * loads rclnodejs's native addon.
 *
 * The entity factories (createPublisher, createSubscription, createService) are compared by what
 * they return: once rclnodejs has generated its message typings (installed with ROS 2 sourced),
 * their first parameter is the union of the generated type names, which a plain `string` does
 * not satisfy; without them (CI's --ignore-scripts install) it is any string. Both must pass.
 */
import type * as rclnodejs from 'rclnodejs';
import type { RclLike, RclNodeLike, RclPublisherLike, RclSubscriptionLike } from '../../src/ros/transport/rcl-like.js';
import { PARAMETER_TYPE, RMW } from '../../src/ros/transport/rcl-like.js';

type Module = typeof rclnodejs;
type Assert<T extends true> = T;
type Factories = 'createPublisher' | 'createSubscription' | 'createService';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Returns<F, R> = F extends (...args: any[]) => infer X ? (X extends R ? true : false) : false;

export type ModuleSatisfiesRclLike = Assert<Omit<Module, 'Node'> extends Omit<RclLike, 'Node'> ? true : false>;
export type NodeSatisfies = Assert<Omit<rclnodejs.Node, Factories> extends Omit<RclNodeLike, Factories> ? true : false>;
export type NodeConstructs = Assert<Module['Node'] extends new (name: string, namespace?: string) => unknown ? true : false>;
export type Publishers = Assert<Returns<rclnodejs.Node['createPublisher'], RclPublisherLike>>;
export type Subscriptions = Assert<Returns<rclnodejs.Node['createSubscription'], RclSubscriptionLike>>;
// ServiceType<T> is declared only in the generated typings: checked to exist; the live suite calls it.
export type Services = Assert<'createService' extends keyof rclnodejs.Node ? true : false>;

// Our numeric constants equal rclnodejs's enums.
export type KeepLast = Assert<typeof RMW.HISTORY_KEEP_LAST extends rclnodejs.QoS.HistoryPolicy.RMW_QOS_POLICY_HISTORY_KEEP_LAST ? true : false>;
export type BestEffort = Assert<typeof RMW.RELIABILITY_BEST_EFFORT extends rclnodejs.QoS.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT ? true : false>;
export type Reliable = Assert<typeof RMW.RELIABILITY_RELIABLE extends rclnodejs.QoS.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_RELIABLE ? true : false>;
export type Integer = Assert<typeof PARAMETER_TYPE.INTEGER extends rclnodejs.ParameterType.PARAMETER_INTEGER ? true : false>;
export type StringArray = Assert<typeof PARAMETER_TYPE.STRING_ARRAY extends rclnodejs.ParameterType.PARAMETER_STRING_ARRAY ? true : false>;
