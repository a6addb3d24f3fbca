import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { McapBagWriter } from '../bag/mcap-writer.js';
import { Ros1BagWriter } from '../bag/ros1-writer.js';
import type { BagWriter } from '../bag/types.js';
import { makeImage, nsToTime, type CameraInfo, type CompressedImage, type Detection2DArray, type Header } from '../msgs/index.js';
import { cameraInfoTopic, cameraTopic, gtTopic } from '../msgs/topics.js';
import { DEFAULT_GROUND_FRAME, type TfMessageLike } from '../msgs/tf-buffer.js';
import { rigMount, type Mount } from './camera.js';
import { makeLook } from './domains.js';
import { Simulation, drawOverlay, type CameraFrame, type CameraName, type Domain } from './index.js';
import type { CameraOverride } from './simulation.js';
import { encodePng } from './png.js';

export interface SimBagOptions {
  out: string;
  domain: Domain;
  frames: number;
  seed: number;
  cameras: CameraName[];
  width: number;
  height: number;
  rateHz: number;
  compressed: boolean;
  jpegQuality: number;
  /** Writes ground-truth masks and depth at 1/gtScale of the image size (nearest samples). */
  gtScale: number;
  preview?: string;
  /** Latches the robot's camera mounts on /tf_static before the first frame (default true; see robotTf). */
  tf?: boolean;
  onProgress?: (done: number, total: number) => void;
  /**
   * A drive through several domains: the same world (the seed), each stretch of frames rendered
   * in its domain, one after the other. Overrides `domain` and `frames`.
   */
  schedule?: readonly { readonly domain: Domain; readonly frames: number }[];
  /**
   * Camera geometry on top of each domain's (height, field of view, pitch; ground truth,
   * camera_info and the mounts on /tf_static follow: the camera is mounted there, unlike
   * `camshift`'s, which was knocked from where TF places it).
   */
  camera?: CameraOverride;
}

const TF_STATIC = '/tf_static';

/** Bags start at a fixed, realistic epoch so the same arguments give identical bytes. */
export const SIM_EPOCH_NS = 1_700_000_000n * 1_000_000_000n;

/**
 * Renders a sequence and writes it as a bag with the standard topics (see replay/topics.ts).
 * Ground truth is written before the camera image of the same stamp, so a replay can score a
 * frame the moment its prediction is ready.
 */
export async function writeSimBag(opts: SimBagOptions): Promise<{ messages: number }> {
  const schedule = opts.schedule ?? [{ domain: opts.domain, frames: opts.frames }];
  // One simulation per domain of the drive, all of the same world (seeded alike); frame i comes
  // from the one its stretch names (random access: each renders frame i as a walk would).
  const sims = new Map<Domain, Simulation>();
  for (const { domain } of schedule) {
    if (!sims.has(domain)) sims.set(domain, Simulation.create({ seed: opts.seed, domain, width: opts.width, height: opts.height, cameras: opts.cameras, rateHz: opts.rateHz, ...(opts.camera ? { camera: opts.camera } : {}) }));
  }
  const domainAt: Domain[] = schedule.flatMap((s) => new Array<Domain>(s.frames).fill(s.domain));
  const frames = domainAt.length;
  const writer: BagWriter = opts.out.endsWith('.bag') ? await Ros1BagWriter.open(opts.out) : await McapBagWriter.open(opts.out, { compression: 'zstd' });
  let messages = 0;
  try {
    for (const c of opts.cameras) {
      await writer.addTopic(gtTopic(c, 'detections'), 'vision_msgs/msg/Detection2DArray');
      await writer.addTopic(gtTopic(c, 'lane_mask'), 'sensor_msgs/msg/Image');
      await writer.addTopic(gtTopic(c, 'depth'), 'sensor_msgs/msg/Image');
      await writer.addTopic(cameraInfoTopic(c), 'sensor_msgs/msg/CameraInfo');
      await writer.addTopic(cameraTopic(c, opts.compressed), opts.compressed ? 'sensor_msgs/msg/CompressedImage' : 'sensor_msgs/msg/Image');
    }
    if (opts.tf !== false) {
      // The robot's mounts, latched once before the first frame, as robot_state_publisher does.
      await writer.addTopic(TF_STATIC, 'tf2_msgs/msg/TFMessage');
      await writer.write(TF_STATIC, SIM_EPOCH_NS, robotTf(opts.seed, opts.cameras, SIM_EPOCH_NS, opts.camera));
      messages++;
    }
    if (opts.preview) await mkdir(opts.preview, { recursive: true });
    for (let i = 0; i < frames; i++) {
      const frame = sims.get(domainAt[i])!.frame(i);
      const stampNs = SIM_EPOCH_NS + frame.stampNs;
      for (const cam of frame.cameras) {
        const header: Header = { stamp: nsToTime(stampNs), frame_id: `${cam.camera}_camera_optical_frame` };
        const c = cam.camera;
        await writer.write(gtTopic(c, 'detections'), stampNs, detectionsMessage(header, cam));
        const gw = Math.floor(cam.width / opts.gtScale);
        const gh = Math.floor(cam.height / opts.gtScale);
        const lane = subsample(cam.lane, cam.width, cam.height, gw, gh);
        const depth = subsample(cam.depth, cam.width, cam.height, gw, gh);
        const depthBytes = new Uint8Array(depth.buffer, depth.byteOffset, depth.byteLength);
        await writer.write(gtTopic(c, 'lane_mask'), stampNs, makeImage({ stamp: stampNs, frameId: header.frame_id, width: gw, height: gh, encoding: 'mono8', data: lane }));
        await writer.write(gtTopic(c, 'depth'), stampNs, makeImage({ stamp: stampNs, frameId: header.frame_id, width: gw, height: gh, encoding: '32FC1', data: depthBytes }));
        await writer.write(cameraInfoTopic(c), stampNs, cameraInfoMessage(header, cam));
        if (opts.compressed) {
          const jpeg = await sharp(cam.rgb, { raw: { width: cam.width, height: cam.height, channels: 3 } }).jpeg({ quality: opts.jpegQuality }).toBuffer();
          const msg: CompressedImage = { header, format: 'jpeg', data: new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.length) };
          await writer.write(cameraTopic(c, true), stampNs, msg);
        } else {
          await writer.write(cameraTopic(c, false), stampNs, makeImage({ stamp: stampNs, frameId: header.frame_id, width: cam.width, height: cam.height, encoding: 'rgb8', data: cam.rgb }));
        }
        messages += 5;
        if (opts.preview) {
          const png = encodePng(cam.width, cam.height, drawOverlay(cam));
          await writeFile(join(opts.preview, `${c}_${String(i).padStart(6, '0')}.png`), png);
        }
      }
      opts.onProgress?.(i + 1, frames);
    }
  } finally {
    await writer.close();
  }
  return { messages };
}

/**
 * Where the robot believes its cameras are — its URDF, as robot_state_publisher latches it on
 * /tf_static: `base_footprint` → `base_link` → `CAM_camera_link` (the rig's offset, yaw, then
 * pitch down) → `CAM_camera_optical_frame` (REP 103: z forward, x right, y down; the frame the
 * images name). The rig of the drive's seed by day: in `camshift` the cameras were knocked out of
 * that place and TF does not know (the learner's lanes have to notice). A camera override
 * (`mount`: height, pitch) is where the cameras are mounted, and TF says so.
 */
export function robotTf(seed: number, cameras: readonly CameraName[], stampNs: bigint, mount?: CameraOverride): TfMessageLike & { transforms: { header: Header }[] } {
  const look = makeLook('day', seed >>> 0);
  const stamp = nsToTime(stampNs);
  const tf = (parent: string, child: string, t: { x: number; y: number; z: number }, r: { x: number; y: number; z: number; w: number }) => ({ header: { stamp, frame_id: parent }, child_frame_id: child, transform: { translation: t, rotation: r } });
  const identity = { x: 0, y: 0, z: 0, w: 1 };
  const link = (m: Mount) => {
    // Rz(yaw) · Ry(pitch): + pitch turns the optical axis down (a right-handed turn about +y).
    const cy = Math.cos(m.yaw / 2), sy = Math.sin(m.yaw / 2), cp = Math.cos(m.pitch / 2), sp = Math.sin(m.pitch / 2);
    return { x: -sy * sp, y: cy * sp, z: sy * cp, w: cy * cp };
  };
  return {
    transforms: [
      tf(DEFAULT_GROUND_FRAME, 'base_link', { x: 0, y: 0, z: 0 }, identity),
      ...cameras.flatMap((c) => {
        const m = rigMount(c, { height: mount?.height ?? look.cameraHeight, pitch: mount?.pitch ?? look.pitch });
        return [
          tf('base_link', `${c}_camera_link`, { x: m.forward, y: m.lateral, z: m.height }, link(m)),
          tf(`${c}_camera_link`, `${c}_camera_optical_frame`, { x: 0, y: 0, z: 0 }, { x: -0.5, y: 0.5, z: -0.5, w: 0.5 }),
        ];
      }),
    ],
  };
}

/** Nearest-sample downscale (block centres), exact values: labels and depths are never blended. */
function subsample<A extends Uint8Array | Float32Array>(src: A, w: number, h: number, ow: number, oh: number): A {
  if (ow === w && oh === h) return src;
  const out = new (src.constructor as new (n: number) => A)(ow * oh);
  for (let y = 0; y < oh; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / oh));
    for (let x = 0; x < ow; x++) out[y * ow + x] = src[sy * w + Math.min(w - 1, Math.floor(((x + 0.5) * w) / ow))];
  }
  return out;
}

function detectionsMessage(header: Header, cam: CameraFrame): Detection2DArray {
  return {
    header,
    detections: cam.boxes.map((b) => ({
      header,
      id: String(b.id),
      results: [
        {
          // Ground truth's score is the object's visible fraction (1 − occlusion), so consumers
          // can leave heavily occluded objects out of scoring (see replay/scoring.ts).
          hypothesis: { class_id: b.cls, score: Math.round((1 - b.occlusion) * 1000) / 1000 },
          pose: { pose: { position: { x: 0, y: 0, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } }, covariance: new Array<number>(36).fill(0) },
        },
      ],
      // Box corners are x0,y0 inclusive and x1,y1 exclusive pixel indices.
      bbox: { center: { position: { x: (b.x0 + b.x1) / 2, y: (b.y0 + b.y1) / 2 }, theta: 0 }, size_x: b.x1 - b.x0, size_y: b.y1 - b.y0 },
    })),
  };
}

function cameraInfoMessage(header: Header, cam: CameraFrame): CameraInfo {
  const { fx, fy, cx, cy } = cam.intrinsics;
  return {
    header,
    height: cam.height,
    width: cam.width,
    distortion_model: 'plumb_bob',
    d: [0, 0, 0, 0, 0],
    k: [fx, 0, cx, 0, fy, cy, 0, 0, 1],
    r: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    p: [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0],
    binning_x: 0,
    binning_y: 0,
    roi: { x_offset: 0, y_offset: 0, height: 0, width: 0, do_rectify: false },
  };
}
