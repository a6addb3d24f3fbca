import { describe, expect, it } from 'vitest';
import { RESULTS_QOS, RosTransport, loadRclnodejs, type QosProfile } from '../../../src/ros/transport/index.js';
import { RMW } from '../../../src/ros/transport/rcl-like.js';
import { sampleHeader, sampleRgbImage } from '../../../src/msgs/samples.js';
import { createFakeRcl, type FakeQoS } from '../fake-rclnodejs.js';
import { runTransportContract, type Harness } from './transport.contract.js';

const toProfile = (q: FakeQoS): QosProfile => ({
  reliability: q.reliabilityValue === RMW.RELIABILITY_RELIABLE ? 'reliable' : 'best_effort',
  depth: q.depth,
  durability: q.durability === RMW.DURABILITY_TRANSIENT_LOCAL ? 'transient_local' : 'volatile',
});

const harness: Harness = {
  name: 'RosTransport on the in-memory rclnodejs',
  async create(feed, onEvent) {
    const rcl = createFakeRcl();
    const transport = await RosTransport.open({ rcl, nodeName: 'perception', onEvent, argv: [] });
    const g = rcl.graph;
    return {
      transport,
      async drive() {
        for (const f of feed) {
          if (f.corrupt) g.injectRaw(f.topic, { header: { stamp: 'garbage' }, data: 42 });
          else g.inject(f.topic, f.type, f.msg);
        }
        await g.settle();
      },
      published: async () => g.sent.map((s) => ({ topic: s.topic, type: s.type, msg: s.msg })),
      nativeQos(topic, side) {
        const set = side === 'sub' ? g.subs : g.pubs;
        const e = [...set].find((x) => x.topic === topic);
        return e && toProfile(e.qos);
      },
      nativeCounts: () => ({ subscriptions: g.subs.size, publishers: g.pubs.size }),
      cleanup: async () => {},
    };
  },
};

runTransportContract(harness);

describe('RosTransport specifics', () => {
  it('inits rcl once, spins its node, and shuts rcl down when the last owning transport is disposed', async () => {
    const rcl = createFakeRcl();
    const a = await RosTransport.open({ rcl, nodeName: 'perception', argv: [] });
    const b = await RosTransport.open({ rcl, nodeName: 'learner', argv: [] });
    expect(rcl.initCalls).toBe(1);
    await a.dispose();
    expect(rcl.isShutdown()).toBe(false);
    await b.dispose();
    await b.dispose();
    expect(rcl.shutdownCalls).toBe(1);
    expect(rcl.graph.nodes.size).toBe(0);
  });

  it('result topics land under the node namespace; absolute camera topics stay absolute', async () => {
    const rcl = createFakeRcl();
    const t = await RosTransport.open({ rcl, nodeName: 'perception', namespace: '/robot1', argv: [] });
    const pub = t.advertise('front/perception/detections', 'vision_msgs/msg/Detection2DArray');
    const sub = t.subscribe('/front/image_raw', 'sensor_msgs/msg/Image', () => {});
    expect(pub.topic).toBe('/robot1/front/perception/detections');
    expect(sub.topic).toBe('/front/image_raw');
    expect([...rcl.graph.pubs].map((p) => p.topic)).toEqual(['/robot1/front/perception/detections']);
    await t.dispose();
  });

  it('use_sim_time switches the clock to /clock time', async () => {
    const rcl = createFakeRcl();
    const t = await RosTransport.open({ rcl, nodeName: 'perception', useSimTime: true, argv: [] });
    expect(t.clock.source).toBe('sim');
    rcl.graph.simNs = 42n;
    expect(t.clock.now()).toBe(42n);
    await t.dispose();
  });

  it('a reliable subscription to a best-effort camera hears nothing (why cameras use sensor-data QoS)', async () => {
    const rcl = createFakeRcl();
    const t = await RosTransport.open({ rcl, nodeName: 'perception', argv: [] });
    let n = 0;
    t.subscribe('/cam/image_raw', 'sensor_msgs/msg/Image', () => void n++, { qos: RESULTS_QOS });
    rcl.graph.inject('/cam/image_raw', 'sensor_msgs/msg/Image', sampleRgbImage(2, 2, 1, sampleHeader()));
    await rcl.graph.settle();
    expect(n).toBe(0);
    await t.dispose();
  });

  it('without ROS 2 sourced, loading rclnodejs fails with a PerceptionError that says how to fix it', async () => {
    await expect(loadRclnodejs({})).rejects.toMatchObject({ name: 'PerceptionError', code: 'IO', message: expect.stringMatching(/ROS_DISTRO is unset.*source \/opt\/ros\/.*setup\.bash.*rclnodejs/s) });
    // Not tried here with ROS_DISTRO set: importing rclnodejs without its addon starts a node-gyp rebuild in node_modules.
  });
});
