#!/usr/bin/env -S node --initial-old-space-size=128 --v8-pool-size=1
// Entry point. Two V8/Node start-up flags (NODE_OPTIONS refuses the first, v8.setFlagsFromString
// comes too late for both):
// - --initial-old-space-size=128: with V8's small initial old-generation limit, the replay
//   thread ran a full garbage collection every ~3 frames (`node --trace-gc`); starting the old
//   space at 128 MB made replay faster with a shorter latency tail, for ~55 MB more peak RSS.
// - --v8-pool-size=1: one V8 background thread (default four) for the collector's concurrent
//   marking and parallel work of every thread of the process. Four helper threads marking beside
//   the main thread and the inference worker oversubscribe two cores and slow the model run;
//   with one, the four-camera benchmark missed fewer deadlines and fewer frames were slow during
//   weight swaps (docs/experiments/2026-11-29-gc.md). Where more cores are free, run
//   `node --initial-old-space-size=128 bin/adaptive-perception.js ...` for the default pool.
// `node bin/adaptive-perception.js` runs without them; the ROS wrappers (CMakeLists.txt) and the
// npm scripts pass them. Uses the compiled JavaScript in dist/ when `npm run build` has produced
// it (the colcon install path); otherwise runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
if (existsSync(built) && !process.env.ADAPTIVE_PERCEPTION_FROM_SOURCE) {
  const { main } = await import(pathToFileURL(built).href);
  process.exitCode = await main(process.argv.slice(2));
} else {
  const { tsImport } = await import('tsx/esm/api');
  const { main } = await tsImport(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href, import.meta.url);
  process.exitCode = await main(process.argv.slice(2));
}
