#!/usr/bin/env -S node --initial-old-space-size=128
// Entry point. The V8 flag (a startup flag: NODE_OPTIONS refuses it and v8.setFlagsFromString
// comes too late): with V8's small initial old-generation limit, the replay thread ran a full
// garbage collection every ~3 frames (`node --trace-gc`), each 2-15 ms; starting the old space
// at 128 MB took a --fast replay of 600 frames from 8.0-8.5 to 6.2-6.8 s wall, 11-12 to 7.5-8.5 s
// CPU and latency p99 from 42 to 29 ms, for ~55 MB more peak RSS. `node bin/adaptive-perception.js`
// runs without it; the ROS wrappers (CMakeLists.txt) and the npm scripts pass it. Uses the compiled JavaScript in dist/ when `npm run build` has produced it
// (the colcon install path); otherwise runs the TypeScript sources through tsx.
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
