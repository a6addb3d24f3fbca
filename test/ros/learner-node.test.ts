import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { sampleOfEveryType } from '../../src/msgs/samples.js';
import { LearnerNode, NullLearnerCore } from '../../src/ros/learner-node.js';
import { MemoryParameterHost, RclParameterHost } from '../../src/ros/params-host.js';
import { flattenParams } from '../../src/ros/params.js';
import { RMW, RosTransport } from '../../src/ros/transport/index.js';
import { createFakeRcl, FakeQoS } from './fake-rclnodejs.js';
import type { LabelEvent } from '../../src/adaptation/learner/labels.js';
import { sampleCameraInfo } from '../../src/msgs/samples.js';

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

  /** A learner node whose core records its depth labels, for the model's depth `focal`, on `label_topics`. */
  async function depthLabeller(focal: object, labelTopics: string[]) {
    const rcl = createFakeRcl();
    await rcl.init(undefined, []);
    const lc = new rcl.Node('learner');
    lc.spin();
    const transport = await RosTransport.open({ rcl, node: lc, nodeName: 'learner' });
    const labels: LabelEvent[] = [];
    const logs: string[] = [];
    class Recording extends NullLearnerCore {
      readonly classes = ['car'];
      readonly depth = { min_m: 1, max_m: 100, focal: focal as { fx_over_width: number } };
      label(ev: LabelEvent): void {
        labels.push(ev);
      }
    }
    const node = new LearnerNode({ transport, params: new MemoryParameterHost({ label_topics: labelTopics }), createCore: async (_p, log) => new Recording(log), log: (_l, m) => logs.push(m) });
    await node.configure();
    await node.activate();
    const header = { stamp: { sec: 1, nanosec: 0 }, frame_id: 'front_camera_optical_frame' };
    const depth = { header, height: 1, width: 2, encoding: '32FC1', is_bigendian: 0, step: 8, data: new Uint8Array(new Float32Array([10, 40]).buffer) };
    const close = async () => {
      await node.shutdown();
      await transport.dispose();
      rcl.shutdown();
    };
    return { rcl, labels, logs, depth, close };
  }

  it('depth annotations reach the core in the model\'s units for their camera\'s lens (camera_info beside the camera); without camera_info, as they are', async () => {
    const { rcl, labels, depth, close } = await depthLabeller({ fx_over_width: 0.5, exponent: 1 }, ['/gt/front/depth', '/gt/left/depth']);
    // front: a lens of fx/width 1 against the model's 0.5: depth × 2, so labels ÷ 2.
    rcl.graph.inject('/front/camera_info', 'sensor_msgs/msg/CameraInfo', { ...sampleCameraInfo(), width: 640, height: 360, k: [640, 0, 320, 0, 640, 180, 0, 0, 1] });
    await rcl.graph.settle();
    rcl.graph.inject('/gt/front/depth', 'sensor_msgs/msg/Image', depth);
    rcl.graph.inject('/gt/left/depth', 'sensor_msgs/msg/Image', depth);
    await rcl.graph.settle();
    const byCamera = Object.fromEntries(labels.map((l) => [l.camera, [...l.labels.depth!.data]]));
    expect(byCamera).toEqual({ front: [5, 20], left: [10, 40] });
    await close();
  });

  it('and for its height where the model states the height its depth learned: the camera\'s mount from /tf_static above base_footprint', async () => {
    const { rcl, labels, logs, depth, close } = await depthLabeller({ fx_over_width: 0.5, exponent: 1, camera_height_m: 1.5, height_exponent: 1 }, ['/gt/front/depth']);
    // robot_state_publisher's mounts: the camera 0.75 m above base_footprint (looking ahead).
    const stamp = { sec: 1, nanosec: 0 };
    const tf = (parent: string, child: string, z: number, r = { x: 0, y: 0, z: 0, w: 1 }) => ({ header: { stamp, frame_id: parent }, child_frame_id: child, transform: { translation: { x: 0, y: 0, z }, rotation: r } });
    const latched = new FakeQoS(RMW.HISTORY_KEEP_LAST, 1, RMW.RELIABILITY_RELIABLE, RMW.DURABILITY_TRANSIENT_LOCAL);
    rcl.graph.inject('/tf_static', 'tf2_msgs/msg/TFMessage', { transforms: [tf('base_footprint', 'base_link', 0.25), tf('base_link', 'front_camera_link', 0.5), tf('front_camera_link', 'front_camera_optical_frame', 0, { x: -0.5, y: 0.5, z: -0.5, w: 0.5 })] }, latched);
    await rcl.graph.settle();
    rcl.graph.inject('/gt/front/depth', 'sensor_msgs/msg/Image', depth);
    await rcl.graph.settle();
    // Half the model's height: perception's depth × 0.5, so labels ÷ 0.5.
    expect(labels.map((l) => [...l.labels.depth!.data]), logs.join('\n')).toEqual([[20, 80]]);
    expect(logs.join('\n')).toMatch(/front: 0\.75 m above the road in TF/);
    await close();
  });
});
