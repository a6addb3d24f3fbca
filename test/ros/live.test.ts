/**
 * Against real rclnodejs and a real ROS 2 graph. Runs only where ROS 2 is sourced (ROS_DISTRO
 * set) and rclnodejs is built; everywhere else vitest lists it as skipped, with the reason in the
 * suite's name. Not run on the machine this was written on (no ROS 2 there).
 */
import { describe, expect, it } from 'vitest';
import { sampleHeader, sampleRgbImage } from '../../src/msgs/samples.js';
import { RosTransport, SENSOR_DATA_QOS, loadRclnodejs, type RclLike } from '../../src/transport/index.js';

const distro = process.env.ROS_DISTRO;
const reason = distro ? `ROS 2 ${distro}` : 'SKIPPED: ROS_DISTRO is unset (source /opt/ros/<distro>/setup.bash and build rclnodejs to run it)';

if (!distro) console.log(`test/ros/live.test.ts: ${reason}`);

describe.skipIf(!distro)(`live ROS 2 (${reason})`, () => {
  it('a camera image published on one node reaches the transport, which publishes a result another node receives', async () => {
    const rcl: RclLike = await loadRclnodejs();
    const transport = await RosTransport.open({ rcl, nodeName: 'ap_live_test', argv: [] });
    const peer = new rcl.Node('ap_live_peer');
    peer.spin();
    try {
      const got = new Promise<unknown>((resolve) => {
        peer.createSubscription('std_msgs/msg/String', '/ap_live/result', { qos: undefined, enableTypedArray: true }, (m) => resolve(m));
      });
      const out = transport.advertise('/ap_live/result', 'std_msgs/msg/String');
      const sub = transport.subscribe('/ap_live/image_raw', 'sensor_msgs/msg/Image', () => out.publish({ data: 'seen' }));
      expect(sub.qos).toEqual(SENSOR_DATA_QOS);
      const cam = peer.createPublisher('sensor_msgs/msg/Image', '/ap_live/image_raw', { qos: new rcl.QoS(1, 5, 2, 2), enableTypedArray: true });
      const timer = setInterval(() => cam.publish(sampleRgbImage(4, 3, 1, sampleHeader())), 100);
      const result = await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error('no result within 10 s')), 10_000))]);
      clearInterval(timer);
      expect(result).toMatchObject({ data: 'seen' });
    } finally {
      peer.destroy();
      await transport.dispose();
    }
    expect(transport.counts()).toEqual({ subscriptions: 0, publishers: 0 });
  });
});
