import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerRosCommand } from '../../src/cli/ros.js';
import { runRosNode } from '../../src/ros/run.js';
import { Engine } from '../../src/engine/engine.js';
import type { ManagedNode } from '../../src/ros/lifecycle.js';
import { NullLearnerCore } from '../../src/ros/learner-node.js';
import { createFakeRcl } from './fake-rclnodejs.js';

describe('adaptive-perception ros', () => {
  it('without ROS 2 sourced: one clear PerceptionError (main prints it on one line and exits 1)', async () => {
    const saved = process.env.ROS_DISTRO;
    delete process.env.ROS_DISTRO;
    try {
      const program = new Command('adaptive-perception').exitOverride();
      registerRosCommand(program);
      const run = program.parseAsync(['ros', 'perception', '--ros-args', '-r', '__ns:=/robot1'], { from: 'user' });
      await expect(run).rejects.toMatchObject({ name: 'PerceptionError', code: 'IO', message: expect.stringMatching(/^ROS 2 is not sourced[^\n]*$/) });
    } finally {
      if (saved !== undefined) process.env.ROS_DISTRO = saved;
    }
  });

  it('runs the perception node as a managed node on (fake) rclnodejs until aborted, then releases everything', async () => {
    const rcl = createFakeRcl();
    const engine = await Engine.create({ modelDir: 'models/default', providers: ['cpu'], threads: 1 });
    const stop = new AbortController();
    let active: ManagedNode | undefined;
    const lines: string[] = [];
    await runRosNode('perception', {
      rcl,
      signal: stop.signal,
      log: (level, line) => void lines.push(`${level}: ${line}`),
      perception: { engine },
      onActive: (node) => {
        active = node;
        expect(rcl.graph.subs.size).toBeGreaterThan(0);
        stop.abort();
      },
    });
    expect(active?.state).toBe('finalized');
    expect(rcl.isShutdown()).toBe(true);
    expect(rcl.graph.nodes.size).toBe(0);
    expect(lines).toContain('info: perception active');
    await engine.dispose();
  });

  it('runs the learner shell the same way', async () => {
    const rcl = createFakeRcl();
    const stop = new AbortController();
    await runRosNode('learner', { rcl, signal: stop.signal, onActive: () => stop.abort(), learner: { createCore: async (_p, log) => new NullLearnerCore(log) } });
    expect(rcl.isShutdown()).toBe(true);
  });
});
