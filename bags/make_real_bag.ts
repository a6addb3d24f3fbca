/**
 * Writes the real-frames bag from comma10k source files (MIT; see bags/README.md):
 *
 *   node --import tsx bags/make_real_bag.ts --src training/.data/real-src --out bags/real_comma10k_front.mcap
 *
 * `--src` is what `training/real_sources.py` collects (it checks every file's sha256 against
 * training/real_sources.json). The bag holds the six comma10k frames the model factory never
 * trains on (training/real_data.py COMMA_DEV), in name order, 2 Hz, on the project's topics:
 * /front/image_raw/compressed (JPEG quality 85 of the 1164x874 PNG), /front/camera_info (comma's
 * road camera: fx = fy = 910 px, principal point at the centre; calib_challenge README), and
 * /gt/front/lane_mask (mono8 at a quarter of the image size, nearest samples: 2 road, 1 lane
 * marking, 0 undrivable / movable, 255 = not scored for comma10k's "my car" class: hood, mounts).
 * No /gt/front/detections (comma10k has no boxes) and no /gt/front/depth. Deterministic: the
 * same source files give the same bytes.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readdirSync } from 'node:fs';
import sharp from 'sharp';
import { McapBagWriter } from '../src/bag/mcap-writer.js';
import { makeImage, nsToTime, type CameraInfo, type CompressedImage, type Header } from '../src/msgs/index.js';
import { cameraInfoTopic, cameraTopic, gtTopic } from '../src/pipeline/topics.js';

const DEV = ['0000_', '0002_', '0005_', '0006_', '0008_', '0010_'];
const EPOCH_NS = 1_700_000_000n * 1_000_000_000n;
const PERIOD_NS = 500_000_000n;
const GT_SCALE = 4;
const FOCAL = 910;
// comma10k mask colours -> lane_mask labels
const COLOURS: [number, number, number, number][] = [
  [0x40, 0x20, 0x20, 2],
  [0xff, 0x00, 0x00, 1],
  [0x80, 0x80, 0x60, 0],
  [0x00, 0xff, 0x66, 0],
  [0xcc, 0x00, 0xff, 255],
];

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(name);
  if (i >= 0 && process.argv[i + 1]) return process.argv[i + 1];
  if (fallback !== undefined) return fallback;
  throw new Error(`make_real_bag: ${name} is required`);
}

async function main(): Promise<void> {
  const src = arg('--src', 'training/.data/real-src');
  const out = arg('--out', 'bags/real_comma10k_front.mcap');
  const dir = join(src, 'comma10k', 'imgs');
  const names = readdirSync(dir).filter((n) => n.endsWith('.png') && DEV.some((d) => n.startsWith(d))).sort();
  if (names.length !== DEV.length) throw new Error(`make_real_bag: expected ${DEV.length} comma10k dev frames in ${dir}, found ${names.length}`);
  const w = await McapBagWriter.open(out, { compression: 'zstd' });
  const cam = 'front';
  await w.addTopic(gtTopic(cam, 'lane_mask'), 'sensor_msgs/msg/Image');
  await w.addTopic(cameraInfoTopic(cam), 'sensor_msgs/msg/CameraInfo');
  await w.addTopic(cameraTopic(cam, true), 'sensor_msgs/msg/CompressedImage');
  try {
    for (let i = 0; i < names.length; i++) {
      const stampNs = EPOCH_NS + BigInt(i) * PERIOD_NS;
      const header: Header = { stamp: nsToTime(stampNs), frame_id: `${cam}_camera_optical_frame` };
      const png = await readFile(join(dir, names[i]));
      const { data: rgb, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const { data: mrgb } = await sharp(await readFile(join(src, 'comma10k', 'masks', names[i]))).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const W = info.width;
      const H = info.height;
      const gw = Math.floor(W / GT_SCALE);
      const gh = Math.floor(H / GT_SCALE);
      const lane = new Uint8Array(gw * gh).fill(255);
      for (let y = 0; y < gh; y++) {
        const sy = Math.min(H - 1, Math.floor(((y + 0.5) * H) / gh));
        for (let x = 0; x < gw; x++) {
          const sx = Math.min(W - 1, Math.floor(((x + 0.5) * W) / gw));
          const p = (sy * W + sx) * 3;
          for (const [r, g, b, v] of COLOURS) if (mrgb[p] === r && mrgb[p + 1] === g && mrgb[p + 2] === b) lane[y * gw + x] = v;
        }
      }
      await w.write(gtTopic(cam, 'lane_mask'), stampNs, makeImage({ stamp: stampNs, frameId: header.frame_id, width: gw, height: gh, encoding: 'mono8', data: lane }));
      const info_: CameraInfo = {
        header,
        height: H,
        width: W,
        distortion_model: 'plumb_bob',
        d: [0, 0, 0, 0, 0],
        k: [FOCAL, 0, W / 2, 0, FOCAL, H / 2, 0, 0, 1],
        r: [1, 0, 0, 0, 1, 0, 0, 0, 1],
        p: [FOCAL, 0, W / 2, 0, 0, FOCAL, H / 2, 0, 0, 0, 1, 0],
        binning_x: 0,
        binning_y: 0,
        roi: { x_offset: 0, y_offset: 0, height: 0, width: 0, do_rectify: false },
      };
      await w.write(cameraInfoTopic(cam), stampNs, info_);
      const jpeg = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
      const msg: CompressedImage = { header, format: 'jpeg', data: new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.length) };
      await w.write(cameraTopic(cam, true), stampNs, msg);
      process.stderr.write(`make_real_bag: ${basename(names[i])} (${W}x${H}, JPEG ${jpeg.length} bytes)\n`);
    }
  } finally {
    await w.close();
  }
  process.stderr.write(`make_real_bag: ${names.length} frames -> ${out}\n`);
}

await main();
