import { PerceptionError } from '../core/errors.js';
import { cameraInfoTopic, classifyTopic, resultTopic } from '../msgs/topics.js';
import { LATCHED_QOS, RESULTS_QOS, SENSOR_DATA_QOS, TF_STATIC_QOS, type QosProfile } from './transport/types.js';

/**
 * The ROS 2 graph interface of the two nodes, in one place: what each publishes and subscribes
 * to. The nodes advertise exactly these; tests check the rviz config and docs against them.
 *
 * Result topics are relative (`front/perception/overlay`), so they resolve under the node's
 * namespace (`/front/perception/overlay` at the root, as `replay` writes them). `/diagnostics`
 * is absolute by ROS convention (diagnostic_aggregator listens there).
 */
export interface TopicSpec {
  /** As passed to the transport: relative for results, absolute for /diagnostics. */
  readonly topic: string;
  readonly type: string;
  readonly qos: QosProfile;
  /** Camera name, for per-camera topics. */
  readonly camera?: string;
  readonly purpose: string;
}

export interface PublishToggles {
  readonly overlay: boolean;
  readonly depth: boolean;
  readonly lane_mask: boolean;
  readonly markers: boolean;
}

export const ALL_OUTPUTS: PublishToggles = Object.freeze({ overlay: true, depth: true, lane_mask: true, markers: true });

const rel = (absolute: string) => absolute.replace(/^\//, '');

export const ADAPTATION_TOPICS = {
  /** AdaptationStatus, latched: the learner's state, scores and reasons. */
  status: { topic: 'adaptation/status', type: 'adaptive_perception/msg/AdaptationStatus', qos: LATCHED_QOS },
  /** MarkerArray with one TEXT_VIEW_FACING marker: the status as rviz2 can show it without a plugin. */
  statusText: { topic: 'adaptation/status_text', type: 'visualization_msgs/msg/MarkerArray', qos: LATCHED_QOS },
  /** FlaggedFrame: automatic triggers (perception → learner) and operator flags (anyone → perception). */
  flagged: { topic: 'adaptation/flagged', type: 'adaptive_perception/msg/FlaggedFrame', qos: RESULTS_QOS },
  flag: { topic: 'adaptation/flag', type: 'adaptive_perception/msg/FlaggedFrame', qos: RESULTS_QOS },
  /** WeightUpdate announcements (learner → perception), latched so a restarted node sees the latest. */
  weights: { topic: 'adaptation/weights', type: 'adaptive_perception/msg/WeightUpdate', qos: LATCHED_QOS },
  /** std_msgs/String: roll back to this version (empty: the previous one). */
  rollback: { topic: 'adaptation/rollback', type: 'std_msgs/msg/String', qos: RESULTS_QOS },
  /** std_msgs/Bool: true pauses learning, false resumes it. */
  pause: { topic: 'adaptation/pause', type: 'std_msgs/msg/Bool', qos: RESULTS_QOS },
} as const;

export const DIAGNOSTICS_TOPIC = { topic: '/diagnostics', type: 'diagnostic_msgs/msg/DiagnosticArray', qos: RESULTS_QOS } as const;

/** Camera name from a camera topic (`/front/image_raw[/compressed]`); INVALID_CONFIG otherwise. */
export function cameraOfTopic(topic: string): { camera: string; compressed: boolean } {
  const compressed = topic.endsWith('/compressed');
  const role = classifyTopic(topic, compressed ? 'sensor_msgs/msg/CompressedImage' : 'sensor_msgs/msg/Image');
  if (role.role !== 'camera') {
    throw new PerceptionError('INVALID_CONFIG', `"${topic}" is not a camera topic (/CAMERA/image_raw or /CAMERA/image_raw/compressed)`, { field: 'camera_topics', topic });
  }
  return { camera: role.camera, compressed: role.compressed };
}

/** What the perception node subscribes to. */
/**
 * The fixed part of the transform tree (tf2_msgs/TFMessage): where each camera is mounted
 * (src/msgs/tf-buffer.ts). /tf is not read: a camera's mount is a fixed joint, which
 * robot_state_publisher sends on /tf_static, while /tf carries the moving joints and odometry at
 * rates the node's event loop need not decode.
 */
export const TF_STATIC_TOPIC = { topic: '/tf_static', type: 'tf2_msgs/msg/TFMessage', qos: TF_STATIC_QOS } as const satisfies Omit<TopicSpec, 'purpose'>;

/** `tf`: with the transform tree (adaptation on and `adaptation.ground_frame` set; default true, as the reference shows). */
export function perceptionSubscriptions(cameraTopics: readonly string[], o: { readonly tf?: boolean } = {}): TopicSpec[] {
  const cams = cameraTopics.map((topic): TopicSpec => {
    const { camera, compressed } = cameraOfTopic(topic);
    const type = compressed ? 'sensor_msgs/msg/CompressedImage' : 'sensor_msgs/msg/Image';
    return { topic, type, qos: SENSOR_DATA_QOS, camera, purpose: 'camera frames (sensor-data QoS: best effort, keep last)' };
  });
  // Beside each camera's image topic (image_transport's convention); read when the model states
  // the focal its depth assumes (src/pipeline/depth-focal.ts).
  const infos = cams.map((c): TopicSpec => ({ topic: cameraInfoTopic(c.camera!), type: 'sensor_msgs/msg/CameraInfo', qos: SENSOR_DATA_QOS, camera: c.camera, purpose: 'the camera\'s intrinsics: depth in metres for its own lens (fy ÷ height against the model\'s `depth.focal`)' }));
  const a = ADAPTATION_TOPICS;
  return [
    ...cams,
    ...infos,
    { ...a.weights, purpose: 'weight updates to verify, warm up and swap in' },
    { ...a.status, purpose: 'the learner\'s status, shown in the overlay and status text' },
    { ...a.flag, purpose: 'operator flags' },
    { ...a.rollback, purpose: 'operator rollback requests' },
    ...(o.tf ?? true
      ? [
          { ...TF_STATIC_TOPIC, purpose: "each camera's mount (when `adaptation.ground_frame` is set): its height above the ground frame scales depth (a model that states the camera height its depth learned) and, with adaptation, goes with flagged frames to the learner's depth cue" },
        ]
      : []),
  ];
}

/** What the perception node publishes for these cameras and toggles. */
export function perceptionPublications(cameraTopics: readonly string[], toggles: PublishToggles = ALL_OUTPUTS): TopicSpec[] {
  const out: TopicSpec[] = [];
  for (const topic of cameraTopics) {
    const { camera } = cameraOfTopic(topic);
    const add = (what: 'detections' | 'lane_mask' | 'depth' | 'overlay', type: string, purpose: string) =>
      out.push({ topic: rel(resultTopic(camera, what)), type, qos: RESULTS_QOS, camera, purpose });
    add('detections', 'vision_msgs/msg/Detection2DArray', 'detections (Humble+ vision_msgs layout)');
    if (toggles.lane_mask) add('lane_mask', 'sensor_msgs/msg/Image', 'lane / drivable mask, mono8, model resolution');
    if (toggles.depth) add('depth', 'sensor_msgs/msg/Image', 'depth in metres, 32FC1 (REP 118), model resolution');
    if (toggles.overlay) add('overlay', 'sensor_msgs/msg/Image', 'rgb8 overlay of boxes, lanes and status for rviz2');
    if (toggles.markers) out.push({ topic: `${camera}/perception/markers`, type: 'visualization_msgs/msg/MarkerArray', qos: RESULTS_QOS, camera, purpose: 'boxes and labels as markers' });
    out.push({ topic: `${camera}/perception/latency_ms`, type: 'std_msgs/msg/Float64', qos: RESULTS_QOS, camera, purpose: 'end-to-end latency per frame, header stamp to publish (ms), for PlotJuggler' });
  }
  const a = ADAPTATION_TOPICS;
  out.push(
    { ...DIAGNOSTICS_TOPIC, purpose: 'diagnostic_updater-style status per camera, model and learner' },
    { ...a.flagged, purpose: 'automatically flagged frames for the learner' },
    { ...a.statusText, purpose: 'the learner\'s adaptation status as a text marker (rviz2 needs no plugin)' },
  );
  return out;
}

/** What the learner node publishes. */
export function learnerPublications(): TopicSpec[] {
  const a = ADAPTATION_TOPICS;
  return [
    { ...a.status, purpose: 'adaptation status' },
    { ...a.weights, purpose: 'signed weight update announcements' },
    { ...DIAGNOSTICS_TOPIC, purpose: 'learner status' },
  ];
}

/** What the learner node subscribes to. */
export function learnerSubscriptions(): TopicSpec[] {
  const a = ADAPTATION_TOPICS;
  return [
    { ...a.flagged, purpose: 'frames to learn from' },
    { ...a.pause, purpose: 'pause / resume learning' },
    { ...a.rollback, purpose: 'rollback requests (the learner re-announces the version)' },
  ];
}
