/**
 * One behaviour suite for every Transport adapter (tfjs-style: the same tests against each
 * backend). Each adapter's test file supplies a Harness that builds a transport inside a small
 * world able to feed it messages and observe what it publishes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Detection2DArray, Image } from '../../../src/msgs/index.js';
import { sampleHeader, sampleRgbImage } from '../../../src/msgs/samples.js';
import { RESULTS_QOS, SENSOR_DATA_QOS, type QosProfile, type Transport, type TransportEvent } from '../../../src/ros/transport/index.js';

export interface FeedItem {
  topic: string;
  type: string;
  timeNs: bigint;
  /** The message; absent with `corrupt` (the harness makes something undecodable its own way). */
  msg?: unknown;
  corrupt?: boolean;
}

export interface Rig {
  transport: Transport;
  /** Delivers the feed; resolves once every message has reached the transport's handlers. */
  drive(): Promise<void>;
  /** What an outside observer saw published. Called after `transport.dispose()`. */
  published(): Promise<{ topic: string; type: string; msg: unknown }[]>;
  /** QoS the underlying middleware was asked for, where there is one. */
  nativeQos(topic: string, side: 'sub' | 'pub'): QosProfile | undefined;
  /** Entities still held by the underlying middleware (bag: none). */
  nativeCounts(): { subscriptions: number; publishers: number };
  cleanup(): Promise<void>;
}

export interface Harness {
  name: string;
  create(feed: FeedItem[], onEvent: (e: TransportEvent) => void): Promise<Rig>;
}

const IMAGE = 'sensor_msgs/msg/Image';
const COMPRESSED = 'sensor_msgs/msg/CompressedImage';
const DETECTIONS = 'vision_msgs/msg/Detection2DArray';
const T0 = 1_700_000_000n * 1_000_000_000n;

function cameraFeed(n: number): FeedItem[] {
  return Array.from({ length: n }, (_, i) => ({
    topic: '/cam/image_raw',
    type: IMAGE,
    timeNs: T0 + BigInt(i) * 100_000_000n,
    msg: sampleRgbImage(4, 3, i + 1, sampleHeader(1_700_000_000, i * 100_000_000, 'cam')),
  }));
}

const detectionsFor = (img: Image): Detection2DArray => ({ header: { stamp: { ...img.header.stamp }, frame_id: img.header.frame_id }, detections: [] });

export function runTransportContract(harness: Harness): void {
  describe(`Transport contract: ${harness.name}`, () => {
    let rig: Rig | undefined;
    let events: TransportEvent[] = [];
    const make = async (feed: FeedItem[]) => {
      events = [];
      rig = await harness.create(feed, (e) => events.push(e));
      return rig;
    };
    afterEach(async () => {
      await rig?.transport.dispose();
      await rig?.cleanup();
      rig = undefined;
    });

    it('round trip: camera images reach the handler intact, with receive time and index; results are published under resolved names', async () => {
      const feed = cameraFeed(3);
      const r = await make(feed);
      const seen: { first: number; stamp: number; index: number; receive: unknown }[] = [];
      const pub = r.transport.advertise<Detection2DArray>('cam/perception/detections', DETECTIONS);
      expect(pub.topic).toBe('/cam/perception/detections');
      r.transport.subscribe<Image>('/cam/image_raw', IMAGE, (img, info) => {
        // Read the bytes now: after the handler returns, the transport may reuse them.
        seen.push({ first: img.data[0], stamp: img.header.stamp.nanosec, index: info.index, receive: typeof info.receiveTimeNs });
        pub.publish(detectionsFor(img));
      });
      await r.drive();
      expect(seen).toEqual(feed.map((f, i) => ({ first: (f.msg as Image).data[0], stamp: i * 100_000_000, index: i, receive: 'bigint' })));
      expect(events).toEqual([]);
      await r.transport.dispose();
      const out = await r.published();
      expect(out.map((o) => [o.topic, o.type, (o.msg as Detection2DArray).header.stamp.nanosec])).toEqual(feed.map((_, i) => ['/cam/perception/detections', DETECTIONS, i * 100_000_000]));
    });

    it('byte arrays that are views into a larger buffer go out as the bytes they view (signatures, per-camera slices of a batch)', async () => {
      const r = await make([]);
      const pub = r.transport.advertise<Image>('/cam/perception/lane_mask', IMAGE);
      const batch = Uint8Array.from({ length: 24 }, (_, i) => i);
      const second = batch.subarray(12, 24); // camera 2's mask inside one batch output
      const pooled = Buffer.from([200, 201, 202, 203, 204, 205]).subarray(2, 5); // a Node Buffer inside the shared pool
      const mask = (data: Uint8Array): Image => ({ header: sampleHeader(1_700_000_000, 0, 'cam'), height: 3, width: data.length / 3, encoding: 'mono8', is_bigendian: 0, step: data.length / 3, data });
      pub.publish(mask(second));
      pub.publish(mask(pooled));
      expect(Array.from(second)).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]); // the caller's arrays are left alone
      await r.transport.dispose();
      const out = await r.published();
      expect(out.map((o) => Array.from((o.msg as Image).data))).toEqual([Array.from(second), [202, 203, 204]]);
    });

    it('camera subscriptions default to sensor-data QoS (best effort, keep last); publishers to reliable', async () => {
      const r = await make([]);
      const raw = r.transport.subscribe('/cam/image_raw', IMAGE, () => {});
      const compressed = r.transport.subscribe('/cam/image_raw/compressed', COMPRESSED, () => {});
      const pub = r.transport.advertise('/cam/perception/detections', DETECTIONS);
      for (const q of [raw.qos, compressed.qos]) expect(q).toEqual(SENSOR_DATA_QOS);
      expect(SENSOR_DATA_QOS).toMatchObject({ reliability: 'best_effort', durability: 'volatile' });
      expect(pub.qos).toEqual(RESULTS_QOS);
      for (const [topic, side, want] of [['/cam/image_raw', 'sub', SENSOR_DATA_QOS], ['/cam/image_raw/compressed', 'sub', SENSOR_DATA_QOS], ['/cam/perception/detections', 'pub', RESULTS_QOS]] as const) {
        const native = r.nativeQos(topic, side);
        if (native) expect(native).toEqual(want);
      }
    });

    it('a bad message becomes a decode_error event; delivery goes on with the next one', async () => {
      const [a, b] = cameraFeed(2);
      const r = await make([a, { topic: a.topic, type: a.type, timeNs: a.timeNs + 50_000_000n, corrupt: true }, b]);
      const got: number[] = [];
      r.transport.subscribe<Image>('/cam/image_raw', IMAGE, (img) => void got.push(img.header.stamp.nanosec));
      await expect(r.drive()).resolves.toBeUndefined();
      expect(got).toEqual([0, 100_000_000]);
      expect(events.map((e) => [e.kind, e.topic])).toEqual([['decode_error', '/cam/image_raw']]);
      const e = events[0];
      if (e.kind !== 'decode_error') throw new Error('expected a decode_error');
      expect(e.error.code).toBe('MESSAGE_DECODE');
      expect(e.error.context.topic).toBe('/cam/image_raw');
    });

    it('a throwing or rejecting handler becomes a handler_error event and does not stop delivery', async () => {
      const r = await make(cameraFeed(3));
      let calls = 0;
      r.transport.subscribe('/cam/image_raw', IMAGE, () => {
        calls++;
        if (calls === 1) throw new Error('boom');
        if (calls === 2) return Promise.reject(new Error('async boom'));
      });
      await r.drive();
      await new Promise((res) => setImmediate(res));
      expect(calls).toBe(3);
      expect(events.map((e) => (e.kind === 'handler_error' ? (e.error as Error).message : e.kind))).toEqual(['boom', 'async boom']);
    });

    it('publishing a message that does not fit its type is a publish_error event, not a throw', async () => {
      const r = await make([]);
      const pub = r.transport.advertise('/cam/perception/detections', DETECTIONS);
      expect(() => pub.publish({ header: 'not a header' })).not.toThrow();
      await r.transport.dispose();
      expect(events.map((e) => [e.kind, e.topic])).toEqual([['publish_error', '/cam/perception/detections']]);
    });

    it('disposal is idempotent and brings every count back to zero; no handler runs after it', async () => {
      const r = await make(cameraFeed(2));
      let calls = 0;
      const sub = r.transport.subscribe('/cam/image_raw', IMAGE, () => void calls++);
      r.transport.subscribe('/cam/image_raw/compressed', COMPRESSED, () => {});
      const pub = r.transport.advertise('/cam/perception/overlay', IMAGE);
      expect(r.transport.counts()).toEqual({ subscriptions: 2, publishers: 1 });
      sub.dispose();
      sub.dispose();
      pub.dispose();
      pub.dispose();
      expect(r.transport.counts()).toEqual({ subscriptions: 1, publishers: 0 });
      await Promise.all([r.transport.dispose(), r.transport.dispose()]);
      expect(r.transport.counts()).toEqual({ subscriptions: 0, publishers: 0 });
      expect(r.nativeCounts()).toEqual({ subscriptions: 0, publishers: 0 });
      await r.drive();
      expect(calls).toBe(0);
      expect(() => r.transport.subscribe('/cam/image_raw', IMAGE, () => {})).toThrow(/disposed/);
    });

    it('bad calls: an invalid topic name or QoS is refused with INVALID_ARGUMENT naming the field', async () => {
      const r = await make([]);
      expect(() => r.transport.subscribe('/cam/9bad', IMAGE, () => {})).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', context: expect.objectContaining({ field: 'topic' }) }));
      expect(() => r.transport.advertise('/x', DETECTIONS, { qos: { ...RESULTS_QOS, depth: 0 } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', context: { field: 'qos.depth' } }));
      expect(r.transport.counts()).toEqual({ subscriptions: 0, publishers: 0 });
    });
  });
}
