/**
 * Small, fully populated sample messages for tests and fixtures (bag round trips, codecs).
 * Values are chosen to be exact in float32 where the field is float32.
 */
import type { CameraInfo, CompressedImage, Detection2DArray, Header, Image } from './types.js';

export const sampleHeader = (sec = 100, nanosec = 5, frameId = 'cam'): Header => ({
  stamp: { sec, nanosec },
  frame_id: frameId,
});

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

export function sampleRgbImage(w = 4, h = 3, seed = 1, header = sampleHeader()): Image {
  return { header, height: h, width: w, encoding: 'rgb8', is_bigendian: 0, step: w * 3, data: bytes(w * h * 3, seed) };
}

export function sampleDepthImage(w = 4, h = 2, header = sampleHeader()): Image {
  const f = Float32Array.from({ length: w * h }, (_, i) => 1.5 + i * 0.25);
  return { header, height: h, width: w, encoding: '32FC1', is_bigendian: 0, step: w * 4, data: new Uint8Array(f.buffer) };
}

export function sampleCompressedImage(header = sampleHeader()): CompressedImage {
  return { header, format: 'jpeg', data: Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]) };
}

export function sampleCameraInfo(header = sampleHeader()): CameraInfo {
  return {
    header,
    height: 3,
    width: 4,
    distortion_model: 'plumb_bob',
    d: [0.1, -0.2, 0.001, 0.002, 0],
    k: [500, 0, 2, 0, 500, 1.5, 0, 0, 1],
    r: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    p: [500, 0, 2, 0, 0, 500, 1.5, 0, 0, 0, 1, 0],
    binning_x: 0,
    binning_y: 0,
    roi: { x_offset: 0, y_offset: 0, height: 0, width: 0, do_rectify: false },
  };
}

export function sampleDetections(header = sampleHeader()): Detection2DArray {
  const det = (id: string, cls: string, score: number, x: number) => ({
    header,
    results: [
      {
        hypothesis: { class_id: cls, score },
        pose: {
          pose: { position: { x: 0, y: 0, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } },
          covariance: Array.from({ length: 36 }, () => 0),
        },
      },
    ],
    bbox: { center: { position: { x, y: 20.5 }, theta: 0 }, size_x: 10, size_y: 12.25 },
    id,
  });
  return { header, detections: [det('a', 'car', 0.875, 5), det('b', 'pedestrian', 0.5, 40)] };
}

/** A sample of every known type, keyed by `pkg/msg/Type`. */
export function sampleOfEveryType(): Record<string, unknown> {
  const header = sampleHeader();
  const pose = { position: { x: 1, y: 2, z: 3 }, orientation: { x: 0, y: 0, z: 0, w: 1 } };
  const transform = { header: sampleHeader(100, 5, 'base_link'), child_frame_id: 'cam', transform: { translation: { x: 0.5, y: 0, z: 1.25 }, rotation: { x: 0, y: 0.5, z: 0, w: 0.75 } } };
  const color = { r: 1, g: 0.5, b: 0.25, a: 1 };
  const marker = {
    header, ns: 'det', id: 3, type: 1, action: 0, pose, scale: { x: 1, y: 1, z: 1 }, color,
    lifetime: { sec: 0, nanosec: 500_000_000 }, frame_locked: false,
    points: [{ x: 1, y: 2, z: 3 }], colors: [color], texture_resource: '',
    texture: sampleCompressedImage(header), uv_coordinates: [{ u: 0.5, v: 0.25 }], text: 'car',
    mesh_resource: '', mesh_file: { filename: '', data: new Uint8Array(0) }, mesh_use_embedded_materials: false,
  };
  const dets = sampleDetections(header);
  const kv = { key: 'fps', value: '30' };
  const status = { level: 1, name: 'perception', message: 'slow', hardware_id: 'cam0', values: [kv] };
  return {
    'builtin_interfaces/msg/Time': { sec: 7, nanosec: 8 },
    'builtin_interfaces/msg/Duration': { sec: 1, nanosec: 2 },
    'std_msgs/msg/Header': header,
    'std_msgs/msg/ColorRGBA': color,
    'std_msgs/msg/Float64': { data: 3.25 },
    'std_msgs/msg/String': { data: 'hello' },
    'sensor_msgs/msg/Image': sampleRgbImage(),
    'sensor_msgs/msg/CompressedImage': sampleCompressedImage(),
    'sensor_msgs/msg/RegionOfInterest': { x_offset: 1, y_offset: 2, height: 3, width: 4, do_rectify: true },
    'sensor_msgs/msg/CameraInfo': sampleCameraInfo(),
    'geometry_msgs/msg/Point': { x: 1, y: 2, z: 3 },
    'geometry_msgs/msg/Vector3': { x: 4, y: 5, z: 6 },
    'geometry_msgs/msg/Quaternion': { x: 0, y: 0, z: 0, w: 1 },
    'geometry_msgs/msg/Pose': pose,
    'geometry_msgs/msg/PoseWithCovariance': dets.detections[0].results[0].pose,
    'geometry_msgs/msg/Transform': transform.transform,
    'geometry_msgs/msg/TransformStamped': transform,
    'tf2_msgs/msg/TFMessage': { transforms: [transform, { ...transform, child_frame_id: 'cam_optical' }] },
    'vision_msgs/msg/Point2D': { x: 1, y: 2 },
    'vision_msgs/msg/Pose2D': { position: { x: 1, y: 2 }, theta: 0.5 },
    'vision_msgs/msg/BoundingBox2D': dets.detections[0].bbox,
    'vision_msgs/msg/ObjectHypothesis': { class_id: 'car', score: 0.5 },
    'vision_msgs/msg/ObjectHypothesisWithPose': dets.detections[0].results[0],
    'vision_msgs/msg/Detection2D': dets.detections[0],
    'vision_msgs/msg/Detection2DArray': dets,
    'visualization_msgs/msg/UVCoordinate': { u: 0.5, v: 0.25 },
    'visualization_msgs/msg/MeshFile': { filename: 'a.dae', data: Uint8Array.from([1, 2]) },
    'visualization_msgs/msg/Marker': marker,
    'visualization_msgs/msg/MarkerArray': { markers: [marker, { ...marker, id: 4 }] },
    'diagnostic_msgs/msg/KeyValue': kv,
    'diagnostic_msgs/msg/DiagnosticStatus': status,
    'diagnostic_msgs/msg/DiagnosticArray': { header, status: [status] },
    'std_msgs/msg/Bool': { data: true },
    'rosgraph_msgs/msg/Clock': { clock: { sec: 1_700_000_000, nanosec: 5 } },
    'lifecycle_msgs/msg/State': { id: 3, label: 'active' },
    'lifecycle_msgs/msg/Transition': { id: 3, label: 'activate' },
    'lifecycle_msgs/msg/TransitionDescription': { transition: { id: 3, label: 'activate' }, start_state: { id: 2, label: 'inactive' }, goal_state: { id: 13, label: 'activating' } },
    'lifecycle_msgs/msg/TransitionEvent': { timestamp: 1_700_000_000_000_000_000n, transition: { id: 40, label: 'transition_success' }, start_state: { id: 13, label: 'activating' }, goal_state: { id: 3, label: 'active' } },
    'adaptive_perception/msg/AdaptationStatus': {
      header, model_name: 'default', serving_version: '1.0.0', candidate_version: '1.0.1', state: 2, reason: 'night domain flagged',
      flagged_frames: 40, labelled_frames: 32, new_domain_score: 0.5, old_domain_score: 0.75,
      serving_new_domain_score: 0.25, serving_old_domain_score: 0.75, metrics: [kv],
    },
    'adaptive_perception/msg/FlaggedFrame': {
      header, camera: 'front', trigger: 1, reason: 'mean confidence 0.2', score: 0.25, model_version: '1.0.0', image: sampleCompressedImage(header),
    },
    'adaptive_perception/msg/WeightUpdate': {
      header, model_name: 'default', version: '1.0.1', base_version: '1.0.0', heads: ['detection', 'lane'], uri: 'file:///tmp/w.bin',
      size_bytes: 4096n, sha256: 'ab'.repeat(32), key_id: 'learner-1', signature: new Uint8Array(64).fill(7),
      new_domain_score: 0.5, old_domain_score: 0.75,
    },
  };
}

/** Deep copy with typed arrays other than Uint8Array turned into plain arrays, for comparisons. */
export function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}
