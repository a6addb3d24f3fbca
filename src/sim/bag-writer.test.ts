import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBag, type BagMessage } from '../bag/index.js';
import type { CameraInfo, CompressedImage, Detection2DArray, Image } from '../msgs/index.js';
import { TfBuffer, type TfMessageLike } from '../msgs/tf-buffer.js';
import { SIM_EPOCH_NS, writeSimBag, type SimBagOptions } from './bag-writer.js';
import { makeLook } from './domains.js';
import { Simulation } from './simulation.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sim-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base = (out: string): SimBagOptions => ({
  out,
  domain: 'day',
  frames: 3,
  seed: 7,
  cameras: ['front'],
  width: 160,
  height: 96,
  rateHz: 10,
  compressed: false,
  jpegQuality: 85,
  gtScale: 1,
});

async function readAll(path: string): Promise<BagMessage[]> {
  const reader = await openBag(path);
  const out: BagMessage[] = [];
  for await (const m of reader.messages()) out.push(m);
  await reader.close();
  return out;
}

describe('sim → bag', () => {
  it('a camera override (here a 65° lens on a 4:3 frame) is what the images, ground truth and camera_info show', async () => {
    const plain = join(dir, 'lens-plain.mcap');
    const narrow = join(dir, 'lens-65.mcap');
    const size = { width: 160, height: 120 };
    await writeSimBag({ ...base(plain), ...size, frames: 1 });
    await writeSimBag({ ...base(narrow), ...size, frames: 1, camera: { hfov: (65 * Math.PI) / 180 } });
    const info = async (f: string) => (await readAll(f)).find((m) => m.topic === '/front/camera_info')!.msg as CameraInfo;
    const fx = 160 / 2 / Math.tan((32.5 * Math.PI) / 180);
    const k = (await info(narrow)).k;
    expect(k[0]).toBeCloseTo(fx, 6);
    expect(k[4]).toBeCloseTo(fx, 6);
    expect((await info(plain)).k[0]).not.toBeCloseTo(fx, 1);
    // The same world through the longer lens: the road's ground truth is farther at the frame's centre.
    const depthAt = async (f: string) => {
      const m = (await readAll(f)).find((x) => x.topic === '/gt/front/depth')!.msg as Image;
      const v = new Float32Array(m.data.buffer.slice(m.data.byteOffset, m.data.byteOffset + m.data.byteLength));
      return v[(m.height - 5) * m.width + m.width / 2];
    };
    expect(await depthAt(narrow)).toBeGreaterThan(await depthAt(plain));
  });

  it("latches the robot's mounts on /tf_static before the first frame: each camera's optical frame (the images' frame_id) at its rig place; a camshift camera was knocked from the place TF still gives", async () => {
    for (const domain of ['night', 'camshift'] as const) {
      const out = join(dir, `tf-${domain}.mcap`);
      await writeSimBag({ ...base(out), domain, frames: 1, seed: 31, cameras: ['front', 'left'] });
      const msgs = await readAll(out);
      expect(msgs[0].topic).toBe('/tf_static');
      expect(msgs.filter((m) => m.topic === '/tf_static')).toHaveLength(1);
      const tf = new TfBuffer();
      tf.note(msgs[0].msg as TfMessageLike);
      const images = msgs.filter((m) => m.topic.endsWith('image_raw')).map((m) => (m.msg as Image).header.frame_id);
      expect(images).toEqual(['front_camera_optical_frame', 'left_camera_optical_frame']);
      const day = makeLook('day', 31);
      for (const frameId of images) {
        const m = tf.opticalMount('base_footprint', frameId)!;
        expect(m.heightM).toBeCloseTo(day.cameraHeight, 9);
        expect(m.pitchRad).toBeCloseTo(day.pitch, 9);
      }
      // The left camera looks along the robot's +y, from 0.9 m left of its centre line.
      const left = tf.lookup('base_footprint', 'left_camera_optical_frame')!;
      expect(left.t.y).toBeCloseTo(0.9, 9);
      const rendered = Simulation.create({ seed: 31, domain, width: 160, height: 96, cameras: ['front'] }).mount('front');
      if (domain === 'camshift') expect(rendered.height).toBeGreaterThan(day.cameraHeight + 0.4);
      else expect([rendered.height, rendered.pitch]).toEqual([day.cameraHeight, day.pitch]);
    }
  });

  it('writes the standard topics, ground truth before the image, stamps at the rate', async () => {
    const out = join(dir, 'a.mcap');
    await writeSimBag({ ...base(out), cameras: ['front', 'rear'] });
    const msgs = await readAll(out);
    expect(msgs).toHaveLength(3 * 2 * 5 + 1); // and the mounts on /tf_static
    const topics = new Set(msgs.map((m) => m.topic));
    for (const c of ['front', 'rear']) {
      for (const t of [`/${c}/image_raw`, `/${c}/camera_info`, `/gt/${c}/detections`, `/gt/${c}/lane_mask`, `/gt/${c}/depth`]) expect(topics).toContain(t);
    }
    const images = msgs.filter((m) => m.topic === '/front/image_raw');
    expect(images.map((m) => m.logTimeNs)).toEqual([SIM_EPOCH_NS, SIM_EPOCH_NS + 100_000_000n, SIM_EPOCH_NS + 200_000_000n]);
    const img = images[0].msg as Image;
    expect([img.encoding, img.width, img.height, img.step, img.data.length]).toEqual(['rgb8', 160, 96, 480, 160 * 96 * 3]);
    const firstImage = msgs.findIndex((m) => m.topic === '/front/image_raw');
    const firstGt = msgs.findIndex((m) => m.topic === '/gt/front/detections');
    expect(firstGt).toBeLessThan(firstImage);
    const depth = msgs.find((m) => m.topic === '/gt/front/depth')!.msg as Image;
    expect(depth.encoding).toBe('32FC1');
    const z = new Float32Array(new Uint8Array(depth.data).buffer);
    expect(z.every((v) => v > 0 && Number.isFinite(v))).toBe(true);
    const lane = msgs.find((m) => m.topic === '/gt/front/lane_mask')!.msg as Image;
    expect(new Set(lane.data)).toEqual(new Set([0, 1, 2]));
    const info = msgs.find((m) => m.topic === '/front/camera_info')!.msg as CameraInfo;
    expect(info.k[8]).toBe(1);
    const dets = msgs.filter((m) => m.topic === '/gt/front/detections').map((m) => m.msg as Detection2DArray);
    for (const d of dets.flatMap((a) => a.detections)) {
      expect(['car', 'truck', 'pedestrian', 'cyclist']).toContain(d.results[0].hypothesis.class_id);
      expect(d.bbox.size_x).toBeGreaterThan(0);
    }
  });

  it('is deterministic: the same arguments give identical bytes', async () => {
    await writeSimBag(base(join(dir, 'd1.mcap')));
    await writeSimBag(base(join(dir, 'd2.mcap')));
    await writeSimBag({ ...base(join(dir, 'd3.mcap')), seed: 8 });
    const [a, b, c] = await Promise.all(['d1', 'd2', 'd3'].map((n) => readFile(join(dir, `${n}.mcap`))));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });

  it('writes JPEG, scaled ground truth, previews, and ROS 1 bags', async () => {
    const out = join(dir, 'c.bag');
    const preview = join(dir, 'preview');
    await writeSimBag({ ...base(out), compressed: true, gtScale: 2, preview });
    const msgs = await readAll(out);
    const jpeg = msgs.find((m) => m.topic === '/front/image_raw/compressed')!.msg as CompressedImage;
    expect(jpeg.format).toBe('jpeg');
    expect(Array.from(jpeg.data.subarray(0, 2))).toEqual([0xff, 0xd8]);
    const lane = msgs.find((m) => m.topic === '/gt/front/lane_mask')!.msg as Image;
    expect([lane.width, lane.height]).toEqual([80, 48]);
    expect((await readdir(preview)).sort()).toEqual(['front_000000.png', 'front_000001.png', 'front_000002.png']);
  });
});

describe('a drive through several domains', () => {
  it('renders each stretch in its domain, the same world throughout: frames equal single-domain renders, ground truth equal to the day render', async () => {
    const mixed = join(dir, 'mixed.mcap');
    await writeSimBag({ ...base(mixed), frames: 0, schedule: [{ domain: 'day', frames: 2 }, { domain: 'night', frames: 2 }] });
    const day = join(dir, 'day4.mcap');
    const night = join(dir, 'night4.mcap');
    await writeSimBag({ ...base(day), frames: 4 });
    await writeSimBag({ ...base(night), domain: 'night', frames: 4 });
    const images = async (p: string) => (await readAll(p)).filter((m) => m.topic === '/front/image_raw').map((m) => Buffer.from((m.msg as Image).data).toString('base64'));
    const truth = async (p: string) => (await readAll(p)).filter((m) => m.topic === '/gt/front/detections').map((m) => JSON.stringify((m.msg as Detection2DArray).detections));
    const [m, d, n] = await Promise.all([images(mixed), images(day), images(night)]);
    expect(m).toHaveLength(4);
    expect(m.slice(0, 2)).toEqual(d.slice(0, 2));
    expect(m.slice(2)).toEqual(n.slice(2));
    expect(m[2]).not.toEqual(d[2]);
    expect(await truth(mixed)).toEqual(await truth(day));
  });
});
