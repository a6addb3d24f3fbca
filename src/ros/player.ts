import { openBag } from '../bag/reader.js';
import { PerceptionError } from '../core/errors.js';
import { nsToTime, toRos2Name } from '../msgs/index.js';
import { classifyTopic } from '../msgs/topics.js';
import type { NodeLog } from './node-types.js';
import { RosTransport, type Publisher, type RclLike } from './transport/index.js';
import { TF_STATIC_TOPIC } from './topics.js';
import { LATCHED_QOS, RESULTS_QOS, SENSOR_DATA_QOS, TF_STATIC_QOS, type QosProfile } from './transport/types.js';

/**
 * Plays a bag onto a ROS 2 graph (`adaptive-perception ros play BAG`, the `player` of
 * replay.launch.py): every topic with its recorded type, at the recorded rate (scaled by
 * `rate`), and `/clock` with the log time when `clock` is set, as `ros2 bag play --clock` does.
 * It reads MCAP (ROS 2) and ROS 1 bags with this package's reader, so a regression replay under
 * ROS needs no rosbag2. Camera images go out best effort (as drivers publish them), the rest
 * reliable; `camera_info` latched. Pull-based: one message read at a time.
 */
export interface PlayBagOptions {
  readonly bag: string;
  /** Playback speed, (0, 100]: 1 = recorded rate. */
  readonly rate: number;
  /** Publish /clock (rosgraph_msgs/Clock) with the log time of each message. */
  readonly clock: boolean;
  /** Seconds to wait before the first message, so subscribers can match (default 1). */
  readonly startDelayS?: number;
  /**
   * Wait, at most this long, until every camera topic of the bag has a subscriber (the
   * perception node subscribes once it is active: its model loaded). Default 0: do not wait.
   */
  readonly waitForCamerasS?: number;
  readonly rcl?: RclLike;
  readonly argv?: string[];
  readonly signal: AbortSignal;
  readonly log: NodeLog;
}

export interface PlayBagSummary {
  readonly published: number;
  readonly topics: number;
  readonly stopped: boolean;
}

const CLOCK_TYPE = 'rosgraph_msgs/msg/Clock';

function qosFor(type: string, topic: string): QosProfile {
  if (type === 'sensor_msgs/msg/Image' || type === 'sensor_msgs/msg/CompressedImage') return SENSOR_DATA_QOS;
  if (topic.endsWith('/camera_info')) return LATCHED_QOS;
  if (topic === TF_STATIC_TOPIC.topic) return TF_STATIC_QOS;
  return RESULTS_QOS;
}

export async function playBag(o: PlayBagOptions): Promise<PlayBagSummary> {
  if (!(o.rate > 0 && o.rate <= 100)) throw new PerceptionError('INVALID_ARGUMENT', `rate must be in (0, 100], got ${o.rate}`, { field: 'rate' });
  const reader = await openBag(o.bag);
  const transport = await RosTransport.open({ rcl: o.rcl, nodeName: 'bag_player', argv: o.argv ?? [], onEvent: (e) => o.log('warn', `${e.kind} on ${e.topic}`) });
  const pubs = new Map<string, Publisher>();
  let published = 0;
  let stopped = false;
  try {
    const info = reader.info();
    for (const t of info.topics) {
      const type = toRos2Name(t.type);
      try {
        pubs.set(t.topic, transport.advertise(t.topic, type, { qos: qosFor(type, t.topic) }));
      } catch (err) {
        // As `ros2 bag play` does: a topic whose type this ROS 2 install lacks is left out, the rest plays.
        o.log('warn', `${t.topic} (${type}) not played: ${(err as Error).message}`);
      }
    }
    const clock = o.clock ? transport.advertise('/clock', CLOCK_TYPE, { qos: { reliability: 'best_effort', depth: 1, durability: 'volatile' } }) : undefined;
    o.log('info', `playing ${o.bag}: ${info.topics.length} topics, ${(Number(info.durationNs) / 1e9).toFixed(1)} s at rate ${o.rate}${o.clock ? ', with /clock' : ''}`);
    const cameras = info.topics.filter((t) => classifyTopic(t.topic, t.type).role === 'camera').map((t) => t.topic);
    if ((o.waitForCamerasS ?? 0) > 0 && cameras.length > 0) {
      const end = performance.now() + o.waitForCamerasS! * 1000;
      const waiting = () => cameras.filter((t) => transport.node.countSubscribers(t) === 0);
      if (waiting().length > 0) o.log('info', `waiting up to ${o.waitForCamerasS} s for subscribers on ${waiting().join(', ')}`);
      while (waiting().length > 0 && performance.now() < end && !o.signal.aborted) await sleepUnless(o.signal, 200);
      if (waiting().length > 0) o.log('warn', `no subscriber on ${waiting().join(', ')} after ${o.waitForCamerasS} s: playing anyway`);
    }
    await sleepUnless(o.signal, (o.startDelayS ?? 1) * 1000);
    const wallStart = performance.now();
    for await (const m of reader.messages()) {
      if (o.signal.aborted) {
        stopped = true;
        break;
      }
      const dueMs = wallStart + Number(m.logTimeNs - info.startNs) / 1e6 / o.rate;
      const wait = dueMs - performance.now();
      if (wait > 0) await sleepUnless(o.signal, wait);
      clock?.publish({ clock: nsToTime(m.logTimeNs) });
      const pub = pubs.get(m.topic);
      if (!pub) continue;
      pub.publish(m.msg);
      published++;
    }
  } finally {
    await transport.dispose();
    await reader.close();
  }
  o.log('info', `played ${published} messages${stopped ? ' (stopped)' : ''}`);
  return { published, topics: pubs.size, stopped };
}

function sleepUnless(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
