import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McapBagWriter } from '../bag/mcap-writer.js';
import { openBag } from '../bag/reader.js';
import { writeSimBag } from '../sim/bag-writer.js';
import { nsToTime, type Detection2DArray, type Image } from '../msgs/index.js';
import { replay } from './replay.js';
import { compose } from '../msgs/tf-buffer.js';

const MODEL = resolve(import.meta.dirname, '..', '..', 'models', 'default');
let dir: string;
let bag: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'replay-'));
  bag = join(dir, 'day.mcap');
  await writeSimBag({ out: bag, domain: 'day', frames: 4, seed: 3, cameras: ['front', 'left'], width: 320, height: 180, rateHz: 10, compressed: true, jpegQuality: 85, gtScale: 2 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('replay', () => {
  it('writes stamped results per camera, a summary with metrics, and a report', async () => {
    const out = join(dir, 'out');
    const progress: number[] = [];
    const s = await replay({ bag, modelDir: MODEL, outDir: out, providers: ['cpu'], fast: true, onProgress: (d) => progress.push(d) });
    expect([s.frames, s.processed, s.dropped]).toEqual([8, 8, 0]);
    expect(progress.at(-1)).toBe(8);
    expect(Object.keys(s.per_camera)).toEqual(['front', 'left']);
    expect(s.latency_ms!.p50).toBeGreaterThan(0);
    expect(s.latency_ms!.count).toBe(8);
    for (const k of ['det_map50', 'lane_iou', 'drivable_iou', 'depth_absrel', 'depth_delta1'] as const) {
      expect(typeof s.metrics[k]).toBe('number');
    }
    expect(s.metrics.scored_frames).toBe(8);
    expect(s.model).toMatchObject({ name: 'default', provider: 'cpu' });
    expect(JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(s)));
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('aria-label="latency histogram"');
    expect(html).toContain('data:image/png;base64,');

    const input = await openBag(bag);
    const stamps: Record<string, string[]> = {};
    for await (const m of input.messages({ topics: ['/front/image_raw/compressed'] })) (stamps.front ??= []).push(JSON.stringify((m.msg as Image).header.stamp));
    await input.close();
    const results = await openBag(join(out, 'results.mcap'));
    const topics = results.info().topics.map((t) => `${t.topic} ${t.type} ${t.count}`).sort();
    expect(topics).toEqual([
      '/front/perception/depth sensor_msgs/msg/Image 4',
      '/front/perception/detections vision_msgs/msg/Detection2DArray 4',
      '/front/perception/lane_mask sensor_msgs/msg/Image 4',
      '/front/perception/overlay sensor_msgs/msg/Image 4',
      '/left/perception/depth sensor_msgs/msg/Image 4',
      '/left/perception/detections vision_msgs/msg/Detection2DArray 4',
      '/left/perception/lane_mask sensor_msgs/msg/Image 4',
      '/left/perception/overlay sensor_msgs/msg/Image 4',
    ]);
    const got: string[] = [];
    for await (const m of results.messages({ topics: ['/front/perception/detections'] })) got.push(JSON.stringify((m.msg as Detection2DArray).header.stamp));
    const lane = await firstMessage(results, '/front/perception/lane_mask');
    const depth = await firstMessage(results, '/front/perception/depth');
    await results.close();
    expect(got).toEqual(stamps.front);
    expect([lane.encoding, lane.width, lane.height]).toEqual(['mono8', s.model.input_size[1], s.model.input_size[0]]);
    expect(lane.data.every((v) => v <= 2)).toBe(true);
    expect([depth.encoding, depth.width, depth.height]).toEqual(['32FC1', s.model.input_size[1], s.model.input_size[0]]);
  });

  it('publishes dense outputs at camera size on request', async () => {
    const out = join(dir, 'out-camera-size');
    await replay({ bag, modelDir: MODEL, outDir: out, providers: ['cpu'], fast: true, denseAtCameraSize: true });
    const results = await openBag(join(out, 'results.mcap'));
    const lane = await firstMessage(results, '/front/perception/lane_mask');
    await results.close();
    expect([lane.width, lane.height]).toEqual([320, 180]);
  });

  it("publishes each camera's results in its images' frame_id (a driver's own optical frame); a camera without one gets <camera>_camera_optical_frame", async () => {
    const framed = join(dir, 'framed.mcap');
    const input = await openBag(bag);
    const w = await McapBagWriter.open(framed, { compression: 'none' });
    for (const t of input.info().topics) await w.addTopic(t.topic, t.type);
    for await (const m of input.messages()) {
      const msg = m.msg as { header?: { frame_id: string } };
      const frame_id = m.topic === '/front/image_raw/compressed' ? 'camera_color_optical_frame' : m.topic === '/left/image_raw/compressed' ? '' : undefined;
      await w.write(m.topic, m.logTimeNs, frame_id === undefined || !msg.header ? m.msg : { ...msg, header: { ...msg.header, frame_id } });
    }
    await input.close();
    await w.close();
    const out = join(dir, 'out-framed');
    await replay({ bag: framed, modelDir: MODEL, outDir: out, providers: ['cpu'], fast: true });
    const results = await openBag(join(out, 'results.mcap'));
    const frames: Record<string, Set<string>> = {};
    for await (const m of results.messages()) (frames[m.topic] ??= new Set()).add((m.msg as Image).header.frame_id);
    await results.close();
    for (const t of ['detections', 'lane_mask', 'depth', 'overlay']) {
      expect([...frames[`/front/perception/${t}`]], t).toEqual(['camera_color_optical_frame']);
      expect([...frames[`/left/perception/${t}`]], t).toEqual(['left_camera_optical_frame']);
    }
  });

  it("gives an adaptation hook each camera's height above the ground frame from the bag's /tf_static (the camera's frame from its camera_info)", async () => {
    // The sim's bag with its own /tf_static replaced by another robot's, and without any.
    const withTf = join(dir, 'tf.mcap');
    const noTf = join(dir, 'no-tf.mcap');
    const input = await openBag(bag);
    const w = await McapBagWriter.open(withTf, { compression: 'none' });
    const bare = await McapBagWriter.open(noTf, { compression: 'none' });
    for (const t of input.info().topics) {
      await w.addTopic(t.topic, t.type);
      if (t.topic !== '/tf_static') await bare.addTopic(t.topic, t.type);
    }
    const tf = (parent: string, child: string, z: number, rotation = { x: 0, y: 0, z: 0, w: 1 }) => ({ header: { stamp: nsToTime(0n), frame_id: parent }, child_frame_id: child, transform: { translation: { x: 0.2, y: 0, z }, rotation } });
    // base_link → the optical frame (z forward, y down), pitched 0.05 rad down: rpy (−π/2, 0, −π/2) after a pitch about y
    const zero = { x: 0, y: 0, z: 0 };
    const pitched = compose({ t: zero, r: { x: 0, y: Math.sin(0.025), z: 0, w: Math.cos(0.025) } }, { t: zero, r: { x: -0.5, y: 0.5, z: -0.5, w: 0.5 } }).r;
    await w.write('/tf_static', input.info().startNs, { transforms: [tf('base_footprint', 'base_link', 0.25), tf('base_link', 'front_camera_optical_frame', 1.05, pitched)] });
    for await (const m of input.messages()) {
      if (m.topic === '/tf_static') continue;
      await w.write(m.topic, m.logTimeNs, m.msg);
      await bare.write(m.topic, m.logTimeNs, m.msg);
    }
    await input.close();
    await w.close();
    await bare.close();
    const heights = async (b: string, groundFrame?: string) => {
      let got: (number | undefined)[] = [];
      let pitch: number | undefined;
      await replay({ bag: b, modelDir: MODEL, outDir: join(dir, 'out-tf'), providers: ['cpu'], fast: true, ...(groundFrame !== undefined ? { groundFrame } : {}), hooks: { start: async (ctx) => void ((got = ['front', 'left'].map((c) => ctx.cameraMount(c)?.heightM)), (pitch = ctx.cameraMount('front')?.pitchRad)) } });
      return Object.assign(got, { pitch });
    };
    const got = await heights(withTf);
    const [front, left] = got;
    expect(front).toBeCloseTo(1.3, 9);
    expect(got.pitch).toBeCloseTo(0.05, 9);
    expect(left).toBeUndefined(); // no transform to the left camera's frame
    expect([...(await heights(withTf, ''))]).toEqual([undefined, undefined]); // TF not read
    expect([...(await heights(withTf, 'odom'))]).toEqual([undefined, undefined]); // not connected
    expect([...(await heights(noTf))]).toEqual([undefined, undefined]); // no /tf_static
    const sim = await heights(bag); // the sim's own: both cameras at the rig's 1.5 m
    expect(sim[0]).toBeCloseTo(1.5, 9);
    expect(sim[1]).toBeCloseTo(1.5, 9);
  });

  it('the reader thread and the replay thread read the same frames: same counts and metrics', async () => {
    const run = (reader: 'thread' | 'main') => replay({ bag, modelDir: MODEL, outDir: join(dir, `out-reader-${reader}`), providers: ['cpu'], fast: true, reader });
    const [a, b] = [await run('thread'), await run('main')];
    expect([a.frames, a.processed, a.dropped]).toEqual([8, 8, 0]);
    expect(a.metrics).toEqual(b.metrics);
    expect(a.bad_frames).toEqual(b.bad_frames);
  });

  it.each(['worker', 'main'] as const)('hands extensions a probe that runs a candidate set where frames run, without swapping it in (inference: %s)', async (inference) => {
    let checked = false;
    await replay({
      bag, modelDir: MODEL, outDir: join(dir, `out-probe-${inference}`), providers: ['cpu'], fast: true, inference,
      hooks: {
        async start({ engine, probe }) {
          const shipped = engine.currentWeights;
          const scaled = new Map([...shipped.toTails()].map(([k, t]) => [k, { shape: t.shape, data: t.data.map((v) => v * 0.5) }]));
          const candidate = engine.makeWeightSet(scaled, 'candidate');
          const image = { width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(100) };
          const out = await probe(image, candidate);
          const heat = out.det_heat.data as Float32Array;
          expect(heat.length).toBeGreaterThan(0);
          expect(heat.every(Number.isFinite)).toBe(true);
          expect(engine.currentWeights).toBe(shipped);
          // The probe really ran the candidate: the shipped set gives other outputs.
          const mine = await probe(image, shipped);
          expect(Array.from(mine.depth.data as Float32Array)).not.toEqual(Array.from(out.depth.data as Float32Array));
          checked = true;
        },
      },
    });
    expect(checked).toBe(true);
  });

  it('at a rate, warms up on each camera\'s first frame at every ladder size and batch before the clock starts; the warm-up frames count nowhere', async () => {
    const lines: string[] = [];
    const s = await replay({ bag, modelDir: MODEL, outDir: join(dir, 'out-warm'), providers: ['cpu'], rate: 4, log: (l) => lines.push(l) });
    const warm = lines.find((l) => l.startsWith('warm-up on the cameras'));
    expect(warm).toBeDefined();
    for (const size of ['192x384', '160x320', '128x256']) {
      expect(warm).toMatch(new RegExp(`${size} [0-9.]+ ms`));
      expect(warm).toMatch(new RegExp(`${size} batch 2 [0-9.]+ ms`)); // two cameras of one size
    }
    expect(s.frames).toBe(8);
    expect(s.processed + s.dropped).toBe(8);
    expect(Object.keys(s.per_camera)).toEqual(['front', 'left']);
  });

  it.each([true, false])('under sustained overload the ladder steps down unless it is off (ladder: %s)', async (ladder) => {
    const long = join(dir, 'long.mcap');
    if (!existsSync(long)) await writeSimBag({ out: long, domain: 'day', frames: 40, seed: 5, cameras: ['front'], width: 320, height: 180, rateHz: 30, compressed: false, jpegQuality: 85, gtScale: 4 });
    const s = await replay({ bag: long, modelDir: MODEL, outDir: join(dir, `out-ladder-${ladder}`), providers: ['cpu'], rate: 1, budgetMs: 1, ladder });
    if (ladder) {
      // Every frame misses a 1 ms budget: the ladder steps down to a cheaper rung. Which rungs are
      // on it is measured (each rung's lowest run, ladder.minSaving), so on a machine loaded enough
      // that every smaller rung measured no cheaper there is none to step to; the ladder's own
      // tests pin the stepping with fixed costs. Here: a smaller rung on the ladder means a step.
      const kept = s.scheduler.ladder_rungs ?? [];
      expect(kept[0]).toBe('192x384');
      if (kept.length > 1 || s.scheduler.rung !== '192x384') expect(s.scheduler.ladder_changes).toBeGreaterThan(0);
    }
    else {
      expect(s.scheduler.ladder_changes).toBe(0);
      expect(s.scheduler.input_size).toEqual([192, 384]);
    }
  });

  it.each(['thread', 'main'] as const)('counts and skips bad frames, and goes on (reader: %s)', async (reader) => {
    const bad = join(dir, 'bad.mcap');
    const w = await McapBagWriter.open(bad);
    await w.addTopic('/front/image_raw', 'sensor_msgs/msg/Image');
    const header = (i: number) => ({ stamp: nsToTime(BigInt(i) * 100_000_000n + 1n), frame_id: 'f' });
    const good = (i: number): Image => ({ header: header(i), height: 64, width: 96, encoding: 'rgb8', is_bigendian: 0, step: 288, data: new Uint8Array(64 * 288).fill(90) });
    await w.write('/front/image_raw', 1n, good(0));
    await w.write('/front/image_raw', 2n, { ...good(1), step: 300 }); // step and data disagree
    await w.write('/front/image_raw', 3n, { ...good(2), encoding: 'yuv422' });
    await w.write('/front/image_raw', 4n, { ...good(3), width: 0, step: 0, data: new Uint8Array(0) });
    await w.write('/front/image_raw', 5n, good(4));
    await w.close();
    const lines: string[] = [];
    const s = await replay({ bag: bad, modelDir: MODEL, outDir: join(dir, `out-bad-${reader}`), providers: ['cpu'], fast: true, reader, log: (l) => lines.push(l) });
    expect([s.frames, s.processed]).toEqual([5, 2]);
    expect(s.bad_frames).toEqual({ BAD_IMAGE: 2, UNSUPPORTED_ENCODING: 1 });
    expect(s.per_camera.front.bad_frames).toBe(3);
    expect(s.metrics.det_map50).toBeNull();
    expect(lines.some((l) => /skipping frame: BAD_IMAGE: .*\[camera=front, topic=\/front\/image_raw, index=1\]/.test(l))).toBe(true);
  });

  it.each(['thread', 'main'] as const)('stops cleanly at a truncated bag and says so in the summary (reader: %s)', async (reader) => {
    const cut = join(dir, `cut-${reader}.mcap`);
    await writeSimBag({ out: cut, domain: 'day', frames: 8, seed: 4, cameras: ['front'], width: 320, height: 180, rateHz: 10, compressed: false, jpegQuality: 85, gtScale: 1 });
    await truncate(cut, Math.floor((await stat(cut)).size * 0.6));
    const s = await replay({ bag: cut, modelDir: MODEL, outDir: join(dir, `out-cut-${reader}`), providers: ['cpu'], fast: true, reader });
    expect(s.processed).toBeGreaterThan(0);
    expect(s.processed).toBeLessThan(8);
    expect((s as unknown as { bag_error: string }).bag_error).toMatch(/BAG_TRUNCATED/);
  });

  it('BAD CALL: a missing bag, a bag without cameras, a broken model folder', async () => {
    await expect(replay({ bag: join(dir, 'nope.mcap'), modelDir: MODEL, outDir: join(dir, 'o1') })).rejects.toMatchObject({ code: 'IO' });
    const empty = join(dir, 'empty.mcap');
    const w = await McapBagWriter.open(empty);
    await w.addTopic('/chatter', 'std_msgs/msg/String');
    await w.write('/chatter', 1n, { data: 'hi' });
    await w.close();
    const head = join(dir, 'head.mcap');
    await writeSimBag({ out: head, domain: 'day', frames: 2, seed: 4, cameras: ['front'], width: 160, height: 96, rateHz: 10, compressed: false, jpegQuality: 85, gtScale: 1 });
    await truncate(head, 4096);
    await expect(replay({ bag: head, modelDir: MODEL, outDir: join(dir, 'o4'), providers: ['cpu'], fast: true })).rejects.toMatchObject({ code: 'BAG_TRUNCATED' });
    await expect(replay({ bag: empty, modelDir: MODEL, outDir: join(dir, 'o2'), providers: ['cpu'], fast: true })).rejects.toThrow(/no camera topics/);
    await expect(replay({ bag, modelDir: dir, outDir: join(dir, 'o3') })).rejects.toMatchObject({ code: 'MODEL_INVALID' });
  });
});

async function firstMessage(reader: Awaited<ReturnType<typeof openBag>>, topic: string): Promise<Image> {
  for await (const m of reader.messages({ topics: [topic] })) return m.msg as Image;
  throw new Error(`no message on ${topic}`);
}
