export { Scheduler } from './scheduler.js';
export { systemClock } from './clock.js';
export { resolveConfig, type ResolvedConfig, type ResolvedCamera } from './config.js';
export { CostModel, type CostEstimate, type CostModelSnapshot } from './cost-model.js';
export { plan, edfOrder, type Plan, type PlanInput } from './planner.js';
export { ResolutionLadder, type LadderChange, type LoadSample } from './ladder.js';
export type { SchedulerSnapshot, CameraSnapshot, LatencySnapshot } from './metrics.js';
export type { SlackStats } from './slack.js';
export * from './types.js';
