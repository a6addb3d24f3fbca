import { RclParameterHost } from '../../src/ros/params-host.js';
import { PerceptionNode } from '../../src/ros/perception-node.js';
import { RMW, RosTransport } from '../../src/ros/transport/index.js';
import { createFakeRcl, type FakeNode } from './fake-rclnodejs.js';
import { IMAGE, idle, simFeed } from './fixtures.js';
import { runPerceptionNodeContract, type NodeHarness } from './perception-node.contract.js';

runPerceptionNodeContract({
  name: 'RosTransport on the in-memory rclnodejs (camera frames from another node)',
  feed: simFeed,
  async create(engine, overrides) {
    const rcl = createFakeRcl();
    await rcl.init(undefined, []);
    const lc = new rcl.Node('perception') as FakeNode;
    lc.spin();
    const ref: { node?: PerceptionNode } = {};
    const transport = await RosTransport.open({ rcl, node: lc, nodeName: 'perception', onEvent: (e) => ref.node?.handleTransportEvent(e) });
    // Parameters come from the launch file under ROS: here only `model_path` is honoured, as the
    // node's default model folder (with it, `inference` keeps its default: a worker thread).
    const defaultModelDir = overrides?.model_path as string | undefined;
    ref.node = new PerceptionNode({ transport, params: new RclParameterHost(rcl, lc), engine, defaultModelDir });
    const n = ref.node;
    // A camera driver: its own node, publishing best effort as most drivers do.
    const camera = new rcl.Node('camera_driver');
    const pub = camera.createPublisher(IMAGE, '/front/image_raw', { qos: new rcl.QoS(RMW.HISTORY_KEEP_LAST, 5, RMW.RELIABILITY_BEST_EFFORT, RMW.DURABILITY_VOLATILE), enableTypedArray: true });
    return {
      node: n,
      async drive(feed) {
        // One at a time, as a camera at 10 Hz would (a burst would be superseded in the mailbox, by design).
        for (const f of feed) {
          // The driver publishes when the frame was taken: the graph's clock stands at its time.
          if (f.timeNs > rcl.graph.wallNs) rcl.graph.advance(f.timeNs - rcl.graph.wallNs);
          pub.publish(f.msg as object);
          await rcl.graph.settle();
          await idle(() => n.pendingFrames());
        }
      },
      published: async () => rcl.graph.sent.filter((s) => s.topic !== '/front/image_raw').map((s) => ({ topic: s.topic, msg: s.msg })),
      declared: () => [...lc.params.keys()],
      async cleanup() {
        await transport.dispose();
        if (!rcl.isShutdown()) rcl.shutdown();
      },
    };
  },
} satisfies NodeHarness);
