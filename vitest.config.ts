import { defineConfig } from 'vitest/config';

// Two projects: everything else first, then the live ROS 2 suite on its own (sequence.groupOrder),
// so that its frame-rate checks do not share the two cores with the rest of the suite. Without
// ROS 2 sourced the live project reports itself skipped.
const common = { testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    // Two cores here: run files in parallel, but not more workers than cores.
    maxWorkers: 2,
    projects: [
      { test: { ...common, name: 'unit', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], exclude: ['test/ros/live.test.ts', '**/node_modules/**'], sequence: { groupOrder: 0 } } },
      { test: { ...common, name: 'live-ros', include: ['test/ros/live.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
