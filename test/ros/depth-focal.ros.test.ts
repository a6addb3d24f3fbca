import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { sampleCameraInfo } from '../../src/msgs/samples.js';
import { floatPixels } from '../../src/pipeline/messages.js';
import { assumedDepthScale, depthFocalOf, depthScale } from '../../src/pipeline/depth-focal.js';
import { RclParameterHost } from '../../src/ros/params-host.js';
import { PerceptionNode } from '../../src/ros/perception-node.js';
import { RMW, RosTransport } from '../../src/ros/transport/index.js';
import { FakeQoS } from './fake-rclnodejs.js';
import type { Image } from '../../src/msgs/index.js';
import { createFakeRcl, type FakeNode } from './fake-rclnodejs.js';
import { IMAGE, idle, simFeed, type FeedItem } from './fixtures.js';

// The perception node reads each camera's camera_info beside its image topic and publishes
// depth in metres for that lens (src/pipeline/depth-focal.ts); without it, the model's depth.
describe('perception node: depth for the camera\'s own lens', () => {
  let engine: Engine;
  let good: FeedItem[];
  beforeAll(async () => {
    engine = await Engine.create({ modelDir: 'models/default', providers: ['cpu'], threads: 1 });
    ({ good } = await simFeed());
  });
  afterAll(() => engine?.dispose());
  const scaleShown: string[] = [];

  /**
   * Runs the feed through a node on the in-memory rclnodejs; `fx` publishes a camera_info first,
   * `heightM` the robot's mounts on /tf_static with the camera that high above base_footprint.
   */
  async function depthsWith(fx: number | undefined, heightM?: number): Promise<Float32Array[]> {
    const rcl = createFakeRcl();
    await rcl.init(undefined, []);
    const lc = new rcl.Node('perception') as FakeNode;
    lc.spin();
    const ref: { node?: PerceptionNode } = {};
    const transport = await RosTransport.open({ rcl, node: lc, nodeName: 'perception', onEvent: (e) => ref.node?.handleTransportEvent(e) });
    const node = (ref.node = new PerceptionNode({ transport, params: new RclParameterHost(rcl, lc), engine }));
    try {
      await node.configure();
      expect(node.params.set('cameras.front.budget_ms', 1000).successful).toBe(true);
      await node.activate();
      const camera = new rcl.Node('camera_driver');
      const qos = { qos: new rcl.QoS(RMW.HISTORY_KEEP_LAST, 5, RMW.RELIABILITY_BEST_EFFORT, RMW.DURABILITY_VOLATILE) };
      const pub = camera.createPublisher(IMAGE, '/front/image_raw', { ...qos, enableTypedArray: true });
      if (heightM !== undefined) {
        const stamp = { sec: 0, nanosec: 0 };
        const frameId = (good[0].msg as Image).header.frame_id;
        const tf = (parent: string, child: string, z: number, r = { x: 0, y: 0, z: 0, w: 1 }) => ({ header: { stamp, frame_id: parent }, child_frame_id: child, transform: { translation: { x: 0, y: 0, z }, rotation: r } });
        const latched = new FakeQoS(RMW.HISTORY_KEEP_LAST, 1, RMW.RELIABILITY_RELIABLE, RMW.DURABILITY_TRANSIENT_LOCAL);
        rcl.graph.inject('/tf_static', 'tf2_msgs/msg/TFMessage', { transforms: [tf('base_footprint', 'camera_link', heightM), tf('camera_link', frameId, 0, { x: -0.5, y: 0.5, z: -0.5, w: 0.5 })] }, latched);
        await rcl.graph.settle();
      }
      if (fx !== undefined) {
        const first = good[0].msg as Image;
        const info = { ...sampleCameraInfo(first.header), width: first.width, height: first.height, k: [fx, 0, first.width / 2, 0, fx, first.height / 2, 0, 0, 1] };
        camera.createPublisher('sensor_msgs/msg/CameraInfo', '/front/camera_info', qos).publish(info);
        await rcl.graph.settle();
      }
      for (const f of good) {
        if (f.timeNs > rcl.graph.wallNs) rcl.graph.advance(f.timeNs - rcl.graph.wallNs);
        pub.publish(f.msg as object);
        await rcl.graph.settle();
        await idle(() => node.pendingFrames());
      }
      const cam = node.publishDiagnostics().status.find((st) => st.name === 'perception: camera front')!;
      scaleShown.push(cam.values.find((v) => v.key === 'depth scale')?.value ?? '');
      return rcl.graph.sent.filter((s) => s.topic === '/front/perception/depth').map((s) => Float32Array.from(floatPixels(s.msg as Image)));
    } finally {
      await node.shutdown();
      await transport.dispose();
      if (!rcl.isShutdown()) rcl.shutdown();
    }
  }

  it('a camera_info with a longer lens than the model assumes scales every depth by the package\'s focal rule', async () => {
    const focal = depthFocalOf(engine.manifest)!;
    expect(focal, 'models/default states depth.focal').toBeDefined();
    const { width, height } = good[0].msg as Image;
    const fx = 2 * focal.fx_over_width * width; // twice the assumed focal, square pixels
    const expected = depthScale(focal, { width, height, k: [fx, 0, 0, 0, fx, 0, 0, 0, 1] });
    // Without camera_info: the package's own lens on frames of this shape (160×96 is not 16:9).
    const assumed = assumedDepthScale(focal, { width, height });
    expect(expected / assumed).toBeCloseTo(2 ** focal.exponent, 9);
    const asIs = await depthsWith(undefined);
    const scaled = await depthsWith(fx);
    expect(asIs).toHaveLength(good.length);
    expect(scaled).toHaveLength(good.length);
    for (let i = 0; i < asIs.length; i++) {
      for (let j = 0; j < asIs[i].length; j += 97) expect(scaled[i][j]).toBeCloseTo((asIs[i][j] * expected) / assumed, 3);
    }
    // /diagnostics says which lens depth is for.
    expect(scaleShown.slice(-2)).toEqual([`${assumed.toFixed(3)} (no camera_info yet: the model's lens)`, `${expected.toFixed(3)} (camera_info)`]);
  }, 60_000);

  it("the robot's TF puts the camera at half the height the model's depth learned: depth halves (from its first frame on)", async () => {
    const focal = depthFocalOf(engine.manifest)!;
    expect(focal.camera_height_m, 'models/default states the camera height its depth learned').toBe(1.5);
    const asIs = await depthsWith(undefined);
    const low = await depthsWith(undefined, 0.75);
    expect(low).toHaveLength(asIs.length);
    const factor = (0.75 / 1.5) ** (focal.height_exponent ?? 1);
    for (let i = 0; i < asIs.length; i++) {
      for (let j = 0; j < asIs[i].length; j += 97) expect(low[i][j]).toBeCloseTo(asIs[i][j] * factor, 3);
    }
  }, 60_000);

  it('an uncalibrated camera_info (fx 0) leaves depth as the model gives it', async () => {
    const asIs = await depthsWith(undefined);
    const zero = await depthsWith(0);
    expect(zero.map((d) => [...d.slice(0, 50)])).toEqual(asIs.map((d) => [...d.slice(0, 50)]));
  }, 60_000);
});
