#!/usr/bin/env -S node --initial-old-space-size=128 --v8-pool-size=1
// Entry point. Two V8/Node start-up flags (NODE_OPTIONS refuses the first, v8.setFlagsFromString
// comes too late for both):
// - --initial-old-space-size=128: with V8's small initial old-generation limit, the replay
//   thread ran a full garbage collection every ~3 frames (`node --trace-gc`), each 2-15 ms;
//   starting the old space at 128 MB took a --fast replay of 600 frames from 8.0-8.5 to 6.2-6.8 s
//   wall, 11-12 to 7.5-8.5 s CPU and latency p99 from 42 to 29 ms, for ~55 MB more peak RSS.
// - --v8-pool-size=1: one V8 background thread (default four) for the collector's concurrent
//   marking and parallel work of every thread of the process. The inference worker's heap is
//   small, but the model's output buffers count as external memory, and it runs a full
//   collection every ~40 frames (`--trace-gc`); the main thread one every ~80. Four helper
//   threads marking beside the main thread and the worker oversubscribe two cores, and the
//   model run on its one core slows 2-3x. With one: the four-camera benchmark's misses 9.5 -> 5
//   and the 2x-overload p99 25.8 -> 21.9 ms (medians of six alternated runs each, bench/README);
//   in the adaptation scenario (README, issue 5's runs 32-52), frames over 1.1x the steady p99
//   during swaps (when weight sets are built and probed) 1.6 % -> 0.7 %, about the steady
//   rate, which did not move (p99 median 17.9 ms both). Where more cores are free, run
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
