import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { sampleOfEveryType } from '../../src/msgs/samples.js';
import { LearnerNode, NullLearnerCore } from '../../src/ros/learner-node.js';
import { MemoryParameterHost, RclParameterHost } from '../../src/ros/params-host.js';
import { flattenParams } from '../../src/ros/params.js';
import { RosTransport } from '../../src/ros/transport/index.js';
import { createFakeRcl } from './fake-rclnodejs.js';

const STATUS = 'adaptive_perception/msg/AdaptationStatus';

describe('LearnerNode shell on the fake rclnodejs', () => {
  it('publishes AdaptationStatus latched; flags, pause and rollback reach the core; counts return to zero', async () => {
    const rcl = createFakeRcl();
    await rcl.init(undefined, []);
    const lc = new rcl.Node('learner');
    lc.spin();
    const transport = await RosTransport.open({ rcl, node: lc, nodeName: 'learner' });
    const node = new LearnerNode({ transport, params: new RclParameterHost(rcl, lc), createCore: async (_p, log) => new NullLearnerCore(log) });
    await node.configure();
    await node.activate();
    const status = [...rcl.graph.pubs].find((p) => p.topic === '/adaptation/status')!;
    expect(status.qos).toMatchObject({ durability: 1, depth: 1 }); // transient local: latched
    const samples = sampleOfEveryType();
    rcl.graph.inject('/adaptation/flagged', 'adaptive_perception/msg/FlaggedFrame', samples['adaptive_perception/msg/FlaggedFrame'], status.qos as never);
    rcl.graph.inject('/adaptation/pause', 'std_msgs/msg/Bool', { data: true }, status.qos as never);
    await rcl.graph.settle();
    const sent = rcl.graph.sent.filter((s) => s.type === STATUS).map((s) => s.msg as { state: number; flagged_frames: number });
    expect(sent.at(-1)).toMatchObject({ state: 7, flagged_frames: 1 });
    const diag = node.publishDiagnostics().status[0];
    expect(diag).toMatchObject({ name: 'learner: learner', message: expect.stringContaining('paused') });
    await node.deactivate();
    expect(node.counts()).toEqual({ subscriptions: 0, publishers: 0 });
    await node.shutdown();
    await node.shutdown();
    expect(node.core).toBeUndefined();
    await transport.dispose();
    rcl.shutdown();
  });

  it('declares every parameter of config/learner.params.yaml and refuses an out-of-range set', async () => {
    const yaml = parseYaml(readFileSync('config/learner.params.yaml', 'utf8')) as { learner: { ros__parameters: unknown } };
    const values = flattenParams(yaml.learner.ros__parameters);
    const params = new MemoryParameterHost(values);
    const rcl = createFakeRcl();
    await rcl.init(undefined, []);
    const lc = new rcl.Node('learner');
    const transport = await RosTransport.open({ rcl, node: lc, nodeName: 'learner' });
    const node = new LearnerNode({ transport, params, createCore: async (_p, log) => new NullLearnerCore(log) });
    await node.configure();
    for (const name of Object.keys(values)) expect(params.names()).toContain(name);
    expect(params.set('training_slack_share', 1.5)).toEqual({ successful: false, reason: expect.stringMatching(/0\.\.1/) });
    await node.shutdown();
    await transport.dispose();
    rcl.shutdown();
  });
});
