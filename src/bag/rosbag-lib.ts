/**
 * The `rosbag` package is CommonJS with an `__esModule` flag: Node's ESM loader puts its exports
 * under `default`, while vitest/tsx hoist them to named exports. Resolve once, here.
 */
import * as ns from 'rosbag';

type Lib = typeof ns;
const anyNs = ns as unknown as Record<string, unknown> & { default?: Record<string, unknown> };
export const rosbag: Lib = ('BagReader' in anyNs && anyNs.BagReader ? anyNs : anyNs.default) as unknown as Lib;
export type { RosMsgDefinition, RosMsgField, Time } from 'rosbag';
