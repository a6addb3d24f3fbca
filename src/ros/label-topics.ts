import { truthToLabels } from '../adaptation/perception/perception-parts.js';
import { PerceptionError } from '../core/errors.js';
import type { LabelEvent } from '../adaptation/learner/labels.js';
import { timeToNs, validateImage, type Detection2DArray } from '../msgs/index.js';
import { boxesFromDetections, bytePixels, floatPixels } from '../pipeline/messages.js';
import type { Truth } from '../pipeline/messages.js';

/**
 * Annotations on ROS topics → label events for the learner. The topics are the ones a bag
 * carries and `ros2 bag play` republishes (`/gt/CAMERA/{detections,lane_mask,depth}`, as
 * replay reads them), or an annotation tool publishing the same types. Each message is one
 * part of one frame's labels, matched to the stored sample by camera and header stamp.
 */
export interface LabelTopic {
  readonly topic: string;
  readonly type: string;
  readonly camera: string;
  readonly part: 'detections' | 'lane' | 'depth';
}

const TYPES = { detections: 'vision_msgs/msg/Detection2DArray', lane: 'sensor_msgs/msg/Image', depth: 'sensor_msgs/msg/Image' } as const;

/** Parses the `label_topics` parameter; INVALID_CONFIG names the topic that is not one. */
export function labelTopics(topics: readonly string[]): LabelTopic[] {
  return topics.map((topic) => {
    const m = /^\/gt\/(.+)\/(detections|lane_mask|depth)$/.exec(topic);
    if (!m) throw new PerceptionError('INVALID_CONFIG', `label topic "${topic}" is not /gt/CAMERA/detections, /gt/CAMERA/lane_mask or /gt/CAMERA/depth`, { field: 'label_topics', topic });
    const part = m[2] === 'lane_mask' ? 'lane' : (m[2] as 'detections' | 'depth');
    return { topic, type: TYPES[part], camera: m[1], part };
  });
}

/**
 * One annotation message → a label event (data copied: the transport may reuse the message).
 * Throws a PerceptionError (MESSAGE_DECODE, BAD_IMAGE…) for a message that does not fit.
 */
export function labelFromTopic(t: LabelTopic, msg: unknown, classes: readonly string[]): LabelEvent {
  const stampNs = timeToNs((msg as { header: { stamp: { sec: number; nanosec: number } } }).header.stamp);
  let truth: Truth;
  switch (t.part) {
    case 'detections':
      truth = { kind: 'detections', boxes: boxesFromDetections(msg as Detection2DArray) };
      break;
    case 'lane': {
      const img = validateImage(msg);
      truth = { kind: 'lane', width: img.width, height: img.height, data: bytePixels(img) };
      break;
    }
    case 'depth': {
      const img = validateImage(msg);
      truth = { kind: 'depth', width: img.width, height: img.height, data: floatPixels(img) };
      break;
    }
  }
  return { camera: t.camera, stampNs, labels: truthToLabels(classes, { [truth.kind]: truth }) };
}
