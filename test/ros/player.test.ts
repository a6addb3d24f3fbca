import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSimBag } from '../../src/sim/bag-writer.js';
import { RMW } from '../../src/ros/transport/index.js';
import { parsePlayerArgs } from '../../src/cli/ros.js';
import { playBag } from '../../src/ros/player.js';
import { createFakeRcl } from './fake-rclnodejs.js';

const BAG = 'bags/day_front_ros1.bag'; // 10 frames of one JPEG camera with ground truth, 10 Hz

describe('the bag player (replay.launch.py without rosbag2)', () => {
  it('publishes every topic with its recorded type and /clock with the log time, paced by the rate', async () => {
    const rcl = createFakeRcl();
    const lines: string[] = [];
    const t0 = performance.now();
    const r = await playBag({ rcl, bag: BAG, rate: 4, clock: true, startDelayS: 0, signal: new AbortController().signal, log: (l, s) => void lines.push(`${l}: ${s}`) });
    const ms = performance.now() - t0;
    const topics = new Map<string, number>();
    for (const s of rcl.graph.sent) topics.set(`${s.topic} ${s.type}`, (topics.get(`${s.topic} ${s.type}`) ?? 0) + 1);
    expect(topics.get('/front/image_raw/compressed sensor_msgs/msg/CompressedImage')).toBe(10);
    expect(topics.get('/gt/front/detections vision_msgs/msg/Detection2DArray')).toBe(10);
    expect(topics.get('/clock rosgraph_msgs/msg/Clock')).toBe(r.published);
    expect(r.topics).toBeGreaterThanOrEqual(4);
    expect(ms).toBeGreaterThan(150); // 0.9 s of bag at rate 4 is paced, not dumped
    const clocks = rcl.graph.sent.filter((s) => s.topic === '/clock').map((s) => (s.msg as { clock: { sec: number; nanosec: number } }).clock);
    expect(clocks.every((c, i) => i === 0 || c.sec * 1e9 + c.nanosec >= clocks[i - 1].sec * 1e9 + clocks[i - 1].nanosec)).toBe(true);
    expect(rcl.isShutdown()).toBe(true); // its transport owned rcl and let it go
  });

  it("latches the recorded /tf_static (tf2_ros's QoS: late joiners get the mounts); an install without a topic's type plays the rest and names what it left out", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'player-tf-'));
    const bag = join(dir, 'tf.mcap');
    await writeSimBag({ out: bag, domain: 'day', frames: 2, seed: 5, cameras: ['front'], width: 160, height: 96, rateHz: 10, compressed: true, jpegQuality: 85, gtScale: 2 });
    const play = async (missing: string[]) => {
      const rcl = createFakeRcl();
      for (const t of missing) rcl.graph.missingTypes.add(t);
      const lines: string[] = [];
      const r = await playBag({ rcl, bag, rate: 100, clock: false, startDelayS: 0, signal: new AbortController().signal, log: (l, s) => void lines.push(`${l}: ${s}`) });
      return { r, lines, sent: rcl.graph.sent };
    };
    const full = await play([]);
    const tf = full.sent.filter((s) => s.topic === '/tf_static');
    expect(tf).toHaveLength(1);
    expect([tf[0].type, tf[0].qos.durability, tf[0].qos.reliabilityValue]).toEqual(['tf2_msgs/msg/TFMessage', RMW.DURABILITY_TRANSIENT_LOCAL, RMW.RELIABILITY_RELIABLE]);
    const bare = await play(['tf2_msgs/msg/TFMessage']);
    expect(bare.sent.filter((s) => s.topic === '/tf_static')).toHaveLength(0);
    expect(bare.sent.filter((s) => s.topic === '/front/image_raw/compressed')).toHaveLength(2);
    expect(bare.r.published).toBe(full.r.published - 1);
    expect(bare.lines).toContainEqual(expect.stringMatching(/^warn: \/tf_static \(tf2_msgs\/msg\/TFMessage\) not played: .*The message required does not exist: tf2_msgs, msg, TFMessage/));
    rmSync(dir, { recursive: true, force: true });
  });

  it('waits for a camera subscriber (perception active) up to the limit, then plays anyway and says so', async () => {
    const rcl = createFakeRcl();
    const lines: string[] = [];
    await playBag({ rcl, bag: BAG, rate: 100, clock: false, startDelayS: 0, waitForCamerasS: 0.3, signal: new AbortController().signal, log: (l, s) => void lines.push(`${l}: ${s}`) });
    expect(lines).toContainEqual(expect.stringMatching(/^warn: no subscriber on \/front\/image_raw\/compressed after 0.3 s: playing anyway/));
  });

  it('stops when aborted', async () => {
    const rcl = createFakeRcl();
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    const r = await playBag({ rcl, bag: BAG, rate: 0.5, clock: false, startDelayS: 0, signal: stop.signal, log: () => {} });
    expect(r.stopped).toBe(true);
    expect(r.published).toBeLessThan(10);
  });

  it('BAD CALL: arguments name what is wrong', () => {
    expect(parsePlayerArgs(['--bag', 'x.mcap', '--rate', '2', '--clock', '--wait-for-cameras', '30'])).toEqual({ bag: 'x.mcap', rate: 2, clock: true, waitForCamerasS: 30 });
    expect(() => parsePlayerArgs([])).toThrow(/needs --bag/);
    expect(() => parsePlayerArgs(['--bag', 'x', '--rate', '0'])).toThrow(/--rate must be in \(0, 100\]/);
    expect(() => parsePlayerArgs(['--bag', 'x', '--loop'])).toThrow(/unknown argument "--loop"/);
  });
});
