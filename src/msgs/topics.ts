/**
 * Topic naming conventions shared by `sim`, `replay` and the ROS nodes:
 *   /C/image_raw (sensor_msgs/Image) or /C/image_raw/compressed (sensor_msgs/CompressedImage)
 *   /C/camera_info, ground truth on /gt/C/{detections,lane_mask,depth}, the robot's mounts on /tf_static,
 *   results on /C/perception/{detections,lane_mask,depth,overlay}.
 * C may contain slashes (a namespaced camera such as robot1/front).
 */
export type TopicRole =
  | { role: 'camera'; camera: string; compressed: boolean }
  | { role: 'gt_detections'; camera: string }
  | { role: 'gt_lane'; camera: string }
  | { role: 'gt_depth'; camera: string }
  | { role: 'camera_info'; camera: string }
  | { role: 'tf_static' }
  | { role: 'other' };

const IMAGE = 'sensor_msgs/msg/Image';
const COMPRESSED = 'sensor_msgs/msg/CompressedImage';
const DETECTIONS = 'vision_msgs/msg/Detection2DArray';
const CAMERA_INFO = 'sensor_msgs/msg/CameraInfo';

export function classifyTopic(topic: string, type: string): TopicRole {
  if (topic === '/tf_static' && type === 'tf2_msgs/msg/TFMessage') return { role: 'tf_static' };
  const gt = /^\/gt\/(.+)\/(detections|lane_mask|depth)$/.exec(topic);
  if (gt) {
    const camera = gt[1];
    if (gt[2] === 'detections' && type === DETECTIONS) return { role: 'gt_detections', camera };
    if (gt[2] === 'lane_mask' && type === IMAGE) return { role: 'gt_lane', camera };
    if (gt[2] === 'depth' && type === IMAGE) return { role: 'gt_depth', camera };
    return { role: 'other' };
  }
  if (topic.includes('/perception/')) return { role: 'other' };
  const info = /^\/(.+?)\/camera_info$/.exec(topic);
  if (info && type === CAMERA_INFO) return { role: 'camera_info', camera: info[1] };
  const cam = /^\/(.+?)\/image(?:_raw|_rect|_color|_rect_color)?(\/compressed)?$/.exec(topic);
  if (cam && ((type === IMAGE && !cam[2]) || (type === COMPRESSED && cam[2]))) {
    return { role: 'camera', camera: cam[1], compressed: type === COMPRESSED };
  }
  return { role: 'other' };
}

export const cameraTopic = (camera: string, compressed: boolean) => `/${camera}/image_raw${compressed ? '/compressed' : ''}`;
export const cameraInfoTopic = (camera: string) => `/${camera}/camera_info`;
export const gtTopic = (camera: string, what: 'detections' | 'lane_mask' | 'depth') => `/gt/${camera}/${what}`;
export const resultTopic = (camera: string, what: 'detections' | 'lane_mask' | 'depth' | 'overlay') => `/${camera}/perception/${what}`;
