/**
 * `npx tsx bench/per-frame.ts [--json] [--frames N] [--rounds R] [--inference worker|main] [--model DIR] [--compare-copy] [--compare-threads N] [--block N]`
 * — the per-frame path of the ROS perception node on its own (issue 17, item 4), beside the
 * raw onnxruntime-node floor, alternated frame by frame in one process.
 *
 * The node path: CDR bytes of a `sensor_msgs/Image` already in memory → deserialise (the
 * transport's job) → the node's handler (intake: check and copy) → scheduler → inference
 * (worker thread by default: image decode, engine, output decode) → result messages built and
 * serialised to CDR (detections, lane mask, depth, overlay at its 10 Hz, markers, latency), as
 * a transport would send them. No bag is read: bag reading is its own figure
 * (`bag_read_ms_per_frame` in `npm run bench`). The floor: the same model and frames, an
 * `ort.Tensor` over the rgb8 bytes and `session.run` with the engine's feeds (bench/floor.ts).
 *
 * Each frame waits for the one before it (a frame's fate settles after its results are
 * published), so the figure is the path's cost per frame, not a pipelined rate.
 */
import { join } from 'node:path';
import os from 'node:os';
import { codecFor, type Image } from '../src/msgs/index.js';
import { MemoryParameterHost } from '../src/ros/params-host.js';
import { PerceptionNode } from '../src/ros/perception-node.js';
import { wallNowNs } from '../src/ros/transport/base.js';
import type { AdvertiseOptions, MessageHandler, Publisher, SubscribeOptions, Subscription, Transport, TransportClock, TransportCounts, TransportEvent } from '../src/ros/transport/types.js';
import { openFloor } from './floor.js';
import { ensureBag, loadImages, type BagSpec } from './frames.js';

/**
 * A transport over memory: `deliver` deserialises CDR bytes into a message and calls the
 * topic's handlers; `publish` serialises the message to CDR (what a middleware does with it)
 * and drops the bytes. Times both.
 */
export class MemoryTransport implements Transport {
  readonly kind = 'ros' as const;
  readonly namespace = '/';
  readonly clock: TransportClock = { source: 'wall', now: wallNowNs };
  readonly #subs = new Map<string, { type: string; handler: MessageHandler<unknown> }[]>();
  #pubs = 0;
  #index = 0;
  /** Milliseconds spent deserialising and serialising, and messages published, since the last `take()`. */
  deserializeMs = 0;
  serializeMs = 0;
  published = 0;
  publishedBytes = 0;
  readonly events: TransportEvent[] = [];

  subscribe<T = unknown>(topic: string, type: string, handler: MessageHandler<T>, _o?: SubscribeOptions): Subscription {
    const list = this.#subs.get(topic) ?? [];
    const entry = { type, handler: handler as MessageHandler<unknown> };
    list.push(entry);
    this.#subs.set(topic, list);
    return { topic, type, qos: { reliability: 'best_effort', depth: 5, durability: 'volatile' }, dispose: () => list.splice(list.indexOf(entry), 1) };
  }

  advertise<T = unknown>(topic: string, type: string, _o?: AdvertiseOptions): Publisher<T> {
    const codec = codecFor(type);
    this.#pubs++;
    return {
      topic,
      type,
      qos: { reliability: 'reliable', depth: 10, durability: 'volatile' },
      publish: (msg: T) => {
        const t0 = performance.now();
        const bytes = codec.serialize(msg);
        this.serializeMs += performance.now() - t0;
        this.published++;
        this.publishedBytes += bytes.byteLength;
      },
      dispose: () => void this.#pubs--,
    };
  }

  /** Deserialises `cdr` as `type` and hands it to `topic`'s handlers; resolves when they settle. */
  async deliver(topic: string, type: string, cdr: Uint8Array): Promise<void> {
    const t0 = performance.now();
    const msg = codecFor(type).deserialize(cdr);
    this.deserializeMs += performance.now() - t0;
    const now = this.clock.now();
    const pending = (this.#subs.get(topic) ?? []).map((s) => s.handler(msg, { topic, receiveTimeNs: now, sourceTimeNs: now, index: this.#index++ }));
    await Promise.all(pending);
  }

  counts(): TransportCounts {
    return { subscriptions: [...this.#subs.values()].reduce((a, l) => a + l.length, 0), publishers: this.#pubs };
  }

  async dispose(): Promise<void> {
    this.#subs.clear();
  }
}

const median = (a: readonly number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r3 = (x: number) => Math.round(x * 1000) / 1000;

export interface PerFrameOptions {
  modelDir: string;
  images: readonly Image[];
  /** Timed passes over the frames (each frame: floor, then node; the order flips every pass). */
  rounds?: number;
  inference?: 'worker' | 'main';
  log?: (line: string) => void;
}

/** One node's figures from an alternated run. */
interface NodeStats {
  ms: number[];
  cpu: number;
  des: number;
  ser: number;
  pub: number;
  bytes: number;
}

/**
 * The node's per-frame path beside the floor, alternated frame by frame (the order rotates);
 * medians and stage shares. `compareCopy` adds a second node that copies each frame to the
 * worker instead of moving it (`moveFrames: false`: the path before 2026-12-06), in the same loop.
 */
export async function perFrameFigures(o: PerFrameOptions & { compareCopy?: boolean; compareThreads?: number; block?: number }) {
  const log = o.log ?? (() => {});
  const rounds = o.rounds ?? 2;
  const IMAGE = 'sensor_msgs/msg/Image';
  const codec = codecFor(IMAGE);
  // Stamps 1/30 s apart from 1 s on, as a 30 Hz camera's (the overlay rate, 10 Hz, applies as
  // live; a stamp must grow, or the frame is refused as not newer): serialised before timing.
  const cdrOf = (img: Image, k: number) => codec.serialize({ ...img, header: { ...img.header, stamp: { sec: 1 + Math.floor(k / 30), nanosec: Math.round(((k % 30) * 1e9) / 30) } } });
  const open = async (label: string, moveFrames: boolean, workerThreads?: number) => {
    const transport = new MemoryTransport();
    const params = new MemoryParameterHost({
      camera_topics: ['/front/image_raw'],
      model_path: o.modelDir,
      execution_providers: ['cpu'],
      inference: o.inference ?? 'worker',
      // The path's cost, not its deadline: a frame must not be dropped on a loaded machine.
      'cameras.front.budget_ms': 1000,
    });
    const node = new PerceptionNode({ transport, params, nodeName: 'perception', moveFrames, workerThreads, log: (level, line) => (level !== 'info' ? log(`node ${level}: ${line}`) : undefined) });
    await node.configure();
    await node.activate();
    return { label, node, transport, seq: 0, stats: { ms: [], cpu: 0, des: 0, ser: 0, pub: 0, bytes: 0 } as NodeStats };
  };
  const nodes = [await open('node', true)];
  if (o.compareCopy) nodes.push(await open('copying_frames', false));
  if (o.compareThreads) nodes.push(await open(`worker_threads_${o.compareThreads}`, true, o.compareThreads));
  const floor = await openFloor(o.modelDir);
  const floorMs: number[] = [];
  let cpuFloor = 0;
  try {
    const runNode = async (n: (typeof nodes)[number], i: number, keep: boolean) => {
      const bytes = cdrOf(o.images[i], n.seq++);
      const t = n.transport;
      t.deserializeMs = t.serializeMs = t.published = t.publishedBytes = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await t.deliver('/front/image_raw', IMAGE, bytes);
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (t.published === 0) throw new Error(`frame ${i} published nothing (dropped?)`);
      if (!keep) return;
      n.stats.ms.push(ms);
      n.stats.cpu += (c.user + c.system) / 1000;
      n.stats.des += t.deserializeMs;
      n.stats.ser += t.serializeMs;
      n.stats.pub += t.published;
      n.stats.bytes += t.publishedBytes;
    };
    const runFloor = async (i: number, keep: boolean) => {
      const c0 = process.cpuUsage();
      const [ms] = await floor.pass([o.images[i]]);
      const c = process.cpuUsage(c0);
      if (!keep) return;
      floorMs.push(ms);
      cpuFloor += (c.user + c.system) / 1000;
    };
    const steps = [...nodes.map((n) => (i: number, keep: boolean) => runNode(n, i, keep)), runFloor];
    // Warm-up: a few frames of each (first frames build buffers and the overlay renderer).
    for (let i = 0; i < Math.min(5, o.images.length); i++) for (const s of steps) await s(i, false);
    log(`per-frame: ${rounds} rounds of ${o.images.length} frames, ${nodes.length} node(s) (${o.inference ?? 'worker'}) and the floor alternated, load ${os.loadavg()[0].toFixed(1)}`);
    // `block` > 1: each step runs that many frames in a row before the next takes over (the
    // order rotates per block), so that one session's ONNX Runtime threads, which spin for a while
    // after a run, do not compete with the next step's run on every frame.
    const block = Math.max(1, o.block ?? 1);
    for (let r = 0; r < rounds; r++) {
      for (let b = 0; b < o.images.length; b += block) {
        const k = (r * o.images.length + b / block) % steps.length;
        for (let j = 0; j < steps.length; j++) {
          for (let i = b; i < Math.min(o.images.length, b + block); i++) await steps[(k + j) % steps.length](i, true);
        }
      }
    }
  } finally {
    await floor.release();
    for (const n of nodes) {
      await n.node.deactivate();
      await n.node.cleanup();
    }
  }
  const fm = median(floorMs);
  const p90 = (a: readonly number[]) => [...a].sort((x, y) => x - y)[Math.floor(0.9 * a.length)];
  const figures = (s: NodeStats) => {
    const n = s.ms.length;
    const m = median(s.ms);
    return {
      ms_per_frame: r3(m),
      ratio_to_floor: r3(m / fm),
      p90_ms: r3(p90(s.ms)),
      cpu_ms_per_frame: r3(s.cpu / n),
      stages_ms_per_frame: { deserialize: r3(s.des / n), serialize_results: r3(s.ser / n) },
      published_per_frame: r3(s.pub / n),
      published_kb_per_frame: r3(s.bytes / n / 1024),
    };
  };
  const main = figures(nodes[0].stats);
  return {
    ...main,
    floor_ms: r3(fm),
    floor_p90_ms: r3(p90(floorMs)),
    floor_cpu_ms_per_frame: r3(cpuFloor / floorMs.length),
    ...Object.fromEntries(nodes.slice(1).map((n) => [n.label, { ...figures(n.stats), note: n.label === 'copying_frames' ? 'the same node copying each frame to the worker (moveFrames: false), alternated in the same loop' : 'the same node with more ONNX Runtime threads in its worker, alternated in the same loop' }])),
    frames: floorMs.length,
    inference: o.inference ?? 'worker',
    loadavg_1m: Math.round(os.loadavg()[0] * 100) / 100,
    timed:
      'ROS perception node on an in-memory transport: CDR bytes of a 1280x720 rgb8 Image -> deserialize -> intake -> scheduler -> inference (image decode, engine, output decode) -> result messages serialized to CDR (detections, lane_mask, depth at model size, overlay 10 Hz, markers, latency); each frame waits for the one before; floor = session.run on the same frame, alternated frame by frame',
  };
}

async function main() {
  const argv = process.argv.slice(2);
  const val = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const json = argv.includes('--json');
  const frames = Number(val('--frames') ?? 60);
  const rounds = Number(val('--rounds') ?? 2);
  const inference = (val('--inference') ?? 'worker') as 'worker' | 'main';
  if (inference !== 'worker' && inference !== 'main') throw new Error('--inference needs worker or main');
  const modelDir = val('--model') ?? 'models/default';
  const one: BagSpec = { cameras: ['front'], frames: 60, seed: 4242, width: 1280, height: 720, rateHz: 30 };
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const images = (await loadImages(await ensureBag(one, log))).slice(0, frames);
  const compareThreads = val('--compare-threads') ? Number(val('--compare-threads')) : undefined;
  const block = val('--block') ? Number(val('--block')) : undefined;
  const r = await perFrameFigures({ modelDir, images, rounds, inference, log, compareCopy: argv.includes('--compare-copy'), compareThreads, block });
  if (json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else {
    process.stdout.write(
      `per-frame path (${r.inference}): ${r.ms_per_frame} ms/frame (p90 ${r.p90_ms}), floor ${r.floor_ms} ms (p90 ${r.floor_p90_ms}): ${r.ratio_to_floor}x floor (target <= 1.25x)\n` +
        `  CPU ${r.cpu_ms_per_frame} ms/frame vs floor ${r.floor_cpu_ms_per_frame}; deserialize ${r.stages_ms_per_frame.deserialize} ms, serialize results ${r.stages_ms_per_frame.serialize_results} ms (${r.published_per_frame} messages, ${r.published_kb_per_frame} KB a frame); ${r.frames} frames, load ${r.loadavg_1m}\n` +
        (Object.entries(r) as Array<[string, unknown]>)
          .filter(([, v]) => typeof v === 'object' && v !== null && 'note' in v)
          .map(([k, v]) => {
            const x = v as { ms_per_frame: number; ratio_to_floor: number; cpu_ms_per_frame: number };
            return `  ${k} (same loop): ${x.ms_per_frame} ms/frame, ${x.ratio_to_floor}x floor, CPU ${x.cpu_ms_per_frame} ms\n`;
          })
          .join(''),
    );
  }
}

if (process.argv[1] && join(process.argv[1]).endsWith(join('bench', 'per-frame.ts'))) {
  main().catch((err: unknown) => {
    process.stderr.write(`per-frame failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
