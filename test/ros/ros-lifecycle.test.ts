/**
 * The nodes as `ros2 launch` and `ros2 lifecycle` meet them, on the fake rclnodejs (the live
 * suite, test/ros/live.test.ts, runs the same through real ROS 2 where it is sourced): launch
 * arguments reach the parameters, lifecycle states tell the truth while a transition runs and
 * after one fails, and a shutdown request or a signal ends the process cleanly.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRosNode } from '../../src/ros/run.js';
import { Engine } from '../../src/engine/engine.js';
import type { ManagedNode } from '../../src/ros/lifecycle.js';
import type { PerceptionNode } from '../../src/ros/perception-node.js';
import type { DiagnosticArray } from '../../src/ros/diagnostics.js';
import { createFakeRcl, type FakeRcl } from './fake-rclnodejs.js';

const dir = mkdtempSync(join(tmpdir(), 'ap-lifecycle-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
// The package's params file (bare node name), then what launch_ros writes for `cameras:=… model:=…` (fully qualified name).
const shipped = file('perception.params.yaml', 'perception:\n  ros__parameters:\n    camera_topics: ["/front/image_raw"]\n    inference: main\n    overlay:\n      max_rate_hz: 10.0\n');
const launched = file('launch_params.yaml', '/perception:\n  ros__parameters:\n    camera_topics: ["/front/image_raw", "/left/image_raw"]\n    overlay:\n      max_rate_hz: 5\n    use_sim_time: true\n    no_such_parameter: 1\n');
const LAUNCH_ARGV = ['adaptive-perception', '--ros-args', '-r', '__node:=perception', '--params-file', shipped, '--params-file', launched];

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.create({ modelDir: 'models/default', providers: ['cpu'], threads: 1 });
});
afterAll(async () => {
  await engine.dispose();
});

const state = async (rcl: FakeRcl) => ((await rcl.graph.callService('/perception/get_state', {})).current_state as { label: string }).label;
const change = async (rcl: FakeRcl, label: string) => (await rcl.graph.callService('/perception/change_state', { transition: { id: 0, label } })).success;

describe('the perception node under ros2 launch (fake rclnodejs)', () => {
  it('launch arguments written under /perception reach the node over the params file; use_sim_time applies; unknown names are warned about', async () => {
    const rcl = createFakeRcl();
    const stop = new AbortController();
    const lines: string[] = [];
    let node: PerceptionNode | undefined;
    await runRosNode('perception', {
      rcl,
      argv: LAUNCH_ARGV,
      signal: stop.signal,
      log: (level, line) => void lines.push(`${level}: ${line}`),
      perception: { engine },
      onActive: (n: ManagedNode) => {
        node = n as PerceptionNode;
        stop.abort();
      },
    });
    expect(node!.params.get('camera_topics')).toEqual(['/front/image_raw', '/left/image_raw']);
    expect(node!.params.get('overlay.max_rate_hz')).toBe(5); // an integer for a double parameter
    expect(node!.params.get('inference')).toBe('main'); // from the params file, not overridden
    expect(node!.transport.clock.source).toBe('sim');
    expect(lines).toContainEqual(expect.stringMatching(/^warn: parameter no_such_parameter was given for \/perception but is not one of its parameters/));
  });

  it('serves the lifecycle protocol: transition states while a transition runs, requests by label, events, and shutdown ends the run', async () => {
    const rcl = createFakeRcl();
    const stop = new AbortController();
    let release!: () => void;
    const slowOpen = new Promise<void>((r) => (release = r));
    const run = runRosNode('perception', {
      rcl,
      argv: ['x', '--ros-args', '-p', 'inference:=main'],
      signal: stop.signal,
      perception: { openEngine: async () => (await slowOpen, engine), defaultModelDir: 'models/default' },
    });
    await until(() => rcl.graph.services.has('/perception/get_state'));
    expect(await state(rcl)).toBe('configuring'); // the model is still loading: not `inactive`, not `active`
    expect(rcl.sigintHandled()).toBe(false); // rclnodejs's own Ctrl-C handler is gone: ours stops the node
    expect(await change(rcl, 'activate')).toBe(false); // nothing may be requested while a transition runs
    release();
    await until(async () => (await state(rcl)) === 'active');
    const transitions = ((await rcl.graph.callService('/perception/get_available_transitions', {})).available_transitions as { transition: { label: string } }[]).map((t) => t.transition.label);
    expect(transitions).toEqual(['deactivate', 'shutdown']);
    expect(await change(rcl, 'deactivate')).toBe(true);
    expect(await state(rcl)).toBe('inactive');
    expect(rcl.graph.subs.size).toBe(0); // inactive: no camera subscriptions
    expect(await change(rcl, 'configure')).toBe(false); // not available from inactive
    expect(await change(rcl, 'activate')).toBe(true);
    expect(await change(rcl, 'shutdown')).toBe(true);
    await run; // a shutdown request ends the run: the process exits 0
    const events = rcl.graph.sent.filter((s) => s.topic === '/perception/transition_event').map((s) => (s.msg as { goal_state: { label: string } }).goal_state.label);
    expect(events).toEqual(['configuring', 'inactive', 'activating', 'active', 'deactivating', 'inactive', 'activating', 'active', 'shuttingdown', 'finalized']);
    expect(rcl.isShutdown()).toBe(true);
    expect(rcl.graph.nodes.size).toBe(0);
  });

  it('a configure that fails ends in unconfigured, with the reason logged and on /diagnostics; the node keeps serving until stopped', async () => {
    const rcl = createFakeRcl();
    const stop = new AbortController();
    const lines: string[] = [];
    const run = runRosNode('perception', {
      rcl,
      argv: ['x', '--ros-args', '-p', `model_path:=${join(dir, 'no-model')}`],
      signal: stop.signal,
      log: (level, line) => void lines.push(`${level}: ${line}`),
    });
    await until(() => lines.some((l) => /did not start/.test(l)));
    expect(await state(rcl)).toBe('unconfigured');
    const diag = rcl.graph.sent.filter((s) => s.topic === '/diagnostics').map((s) => s.msg as DiagnosticArray);
    expect(diag.at(-1)!.status).toContainEqual(expect.objectContaining({ level: 2, name: 'perception: lifecycle', message: expect.stringMatching(/^configure failed: .*no-model/) }));
    expect(lines).toContainEqual(expect.stringMatching(/^error: lifecycle: configure failed, back to unconfigured/));
    stop.abort();
    await run;
    expect(rcl.isShutdown()).toBe(true);
  });
});

async function until(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
