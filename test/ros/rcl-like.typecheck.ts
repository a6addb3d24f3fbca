/**
 * Compile-time check (tsc, not vitest): rclnodejs's shipped declarations satisfy RclLike, so the
 * fake and the ROS transport are typed from rclnodejs's own API. Type-only imports: nothing here
 * loads rclnodejs's native addon.
 */
import type * as rclnodejs from 'rclnodejs';
import type { RclLike, RclLifecycleNodeLike, RclNodeLike } from '../../src/transport/rcl-like.js';
import { PARAMETER_TYPE, RMW } from '../../src/transport/rcl-like.js';

type Module = typeof rclnodejs;
type Assert<T extends true> = T;

export type ModuleSatisfiesRclLike = Assert<Module extends RclLike ? true : false>;
export type NodeSatisfies = Assert<rclnodejs.Node extends RclNodeLike ? true : false>;
export type LifecycleNodeSatisfies = Assert<rclnodejs.lifecycle.LifecycleNode extends RclLifecycleNodeLike ? true : false>;

// Our numeric constants equal rclnodejs's enums.
export type KeepLast = Assert<typeof RMW.HISTORY_KEEP_LAST extends rclnodejs.QoS.HistoryPolicy.RMW_QOS_POLICY_HISTORY_KEEP_LAST ? true : false>;
export type BestEffort = Assert<typeof RMW.RELIABILITY_BEST_EFFORT extends rclnodejs.QoS.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT ? true : false>;
export type Reliable = Assert<typeof RMW.RELIABILITY_RELIABLE extends rclnodejs.QoS.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_RELIABLE ? true : false>;
export type Integer = Assert<typeof PARAMETER_TYPE.INTEGER extends rclnodejs.ParameterType.PARAMETER_INTEGER ? true : false>;
export type StringArray = Assert<typeof PARAMETER_TYPE.STRING_ARRAY extends rclnodejs.ParameterType.PARAMETER_STRING_ARRAY ? true : false>;
