export { Scheduler } from './scheduler.js';
export { systemClock } from './clock.js';
export { resolveConfig, rungKey, type ResolvedConfig, type ResolvedCamera } from './config.js';
export { CostModel, type CostEstimate, type CostModelSnapshot, type RungLike } from './cost-model.js';
export { plan, edfOrder, type Plan, type PlanInput } from './planner.js';
export { ResolutionLadder, type LadderChange, type LoadSample, type RungCosts } from './ladder.js';
export type { SchedulerSnapshot, CameraSnapshot, LatencySnapshot } from './metrics.js';
export type { SlackStats } from './slack.js';
export * from './types.js';
