import { describe, expect, it } from 'vitest';
import { classifyTopic, cameraTopic, gtTopic, resultTopic } from './topics.js';

describe('classifyTopic', () => {
  it('finds cameras, raw and compressed, namespaced too', () => {
    expect(classifyTopic('/front/image_raw', 'sensor_msgs/msg/Image')).toEqual({ role: 'camera', camera: 'front', compressed: false });
    expect(classifyTopic('/front/image_raw/compressed', 'sensor_msgs/msg/CompressedImage')).toEqual({ role: 'camera', camera: 'front', compressed: true });
    expect(classifyTopic('/robot1/left/image_rect', 'sensor_msgs/msg/Image')).toEqual({ role: 'camera', camera: 'robot1/left', compressed: false });
  });
  it('finds ground truth and ignores our own outputs and mismatched types', () => {
    expect(classifyTopic('/gt/front/detections', 'vision_msgs/msg/Detection2DArray')).toEqual({ role: 'gt_detections', camera: 'front' });
    expect(classifyTopic('/gt/rear/lane_mask', 'sensor_msgs/msg/Image')).toEqual({ role: 'gt_lane', camera: 'rear' });
    expect(classifyTopic('/gt/rear/depth', 'sensor_msgs/msg/Image')).toEqual({ role: 'gt_depth', camera: 'rear' });
    expect(classifyTopic('/front/perception/overlay', 'sensor_msgs/msg/Image')).toEqual({ role: 'other' });
    expect(classifyTopic('/front/image_raw', 'sensor_msgs/msg/CompressedImage')).toEqual({ role: 'other' });
    expect(classifyTopic('/gt/front/depth', 'std_msgs/msg/String')).toEqual({ role: 'other' });
    expect(classifyTopic('/front/camera_info', 'sensor_msgs/msg/CameraInfo')).toEqual({ role: 'camera_info', camera: 'front' });
    expect(classifyTopic('/robot1/front/camera_info', 'sensor_msgs/msg/CameraInfo')).toEqual({ role: 'camera_info', camera: 'robot1/front' });
    expect(classifyTopic('/front/camera_info', 'std_msgs/msg/String')).toEqual({ role: 'other' });
  });
  it('builders and classifier agree', () => {
    expect(classifyTopic(cameraTopic('left', true), 'sensor_msgs/msg/CompressedImage')).toMatchObject({ camera: 'left' });
    expect(classifyTopic(gtTopic('left', 'lane_mask'), 'sensor_msgs/msg/Image')).toMatchObject({ role: 'gt_lane', camera: 'left' });
    expect(resultTopic('left', 'depth')).toBe('/left/perception/depth');
  });
});
