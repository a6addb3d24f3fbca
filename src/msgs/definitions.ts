/**
 * ROS 2 message definitions (`.msg` text, Humble layout) for every type this product reads or
 * writes. Kept as text, not parsed objects, because the MCAP ros2msg profile stores exactly this
 * text (the type's own definition, then each dependency as a `MSG: pkg/Type` section) and any
 * ROS tool can read it back. Comments are stripped; constants are kept because they change the
 * MD5 of the ROS 1 form and document the enum values.
 */
export const MSG_SEPARATOR = '='.repeat(80);

/** Keyed by the ROS 2 name `pkg/msg/Type`. Field types use ROS 2 spelling (`pkg/Type` or bare `Type` for the same package). */
export const MESSAGE_TEXT: Readonly<Record<string, string>> = {
  'builtin_interfaces/msg/Time': 'int32 sec\nuint32 nanosec',
  'builtin_interfaces/msg/Duration': 'int32 sec\nuint32 nanosec',
  'std_msgs/msg/Header': 'builtin_interfaces/Time stamp\nstring frame_id',
  'std_msgs/msg/ColorRGBA': 'float32 r\nfloat32 g\nfloat32 b\nfloat32 a',
  'std_msgs/msg/Float64': 'float64 data',
  'std_msgs/msg/String': 'string data',
  'std_msgs/msg/Bool': 'bool data',

  'sensor_msgs/msg/Image': [
    'std_msgs/Header header',
    'uint32 height',
    'uint32 width',
    'string encoding',
    'uint8 is_bigendian',
    'uint32 step',
    'uint8[] data',
  ].join('\n'),
  'sensor_msgs/msg/CompressedImage': 'std_msgs/Header header\nstring format\nuint8[] data',
  'sensor_msgs/msg/RegionOfInterest':
    'uint32 x_offset\nuint32 y_offset\nuint32 height\nuint32 width\nbool do_rectify',
  'sensor_msgs/msg/CameraInfo': [
    'std_msgs/Header header',
    'uint32 height',
    'uint32 width',
    'string distortion_model',
    'float64[] d',
    'float64[9] k',
    'float64[9] r',
    'float64[12] p',
    'uint32 binning_x',
    'uint32 binning_y',
    'RegionOfInterest roi',
  ].join('\n'),

  'geometry_msgs/msg/Point': 'float64 x\nfloat64 y\nfloat64 z',
  'geometry_msgs/msg/Vector3': 'float64 x\nfloat64 y\nfloat64 z',
  'geometry_msgs/msg/Quaternion': 'float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1',
  'geometry_msgs/msg/Pose': 'Point position\nQuaternion orientation',
  'geometry_msgs/msg/PoseWithCovariance': 'Pose pose\nfloat64[36] covariance',
  'geometry_msgs/msg/Transform': 'Vector3 translation\nQuaternion rotation',
  'geometry_msgs/msg/TransformStamped': 'std_msgs/Header header\nstring child_frame_id\nTransform transform',
  'tf2_msgs/msg/TFMessage': 'geometry_msgs/TransformStamped[] transforms',

  'vision_msgs/msg/Point2D': 'float64 x\nfloat64 y',
  'vision_msgs/msg/Pose2D': 'vision_msgs/Point2D position\nfloat64 theta',
  'vision_msgs/msg/BoundingBox2D': 'vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y',
  'vision_msgs/msg/ObjectHypothesis': 'string class_id\nfloat64 score',
  'vision_msgs/msg/ObjectHypothesisWithPose':
    'ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose',
  'vision_msgs/msg/Detection2D':
    'std_msgs/Header header\nObjectHypothesisWithPose[] results\nBoundingBox2D bbox\nstring id',
  'vision_msgs/msg/Detection2DArray': 'std_msgs/Header header\nDetection2D[] detections',

  'visualization_msgs/msg/UVCoordinate': 'float32 u\nfloat32 v',
  'visualization_msgs/msg/MeshFile': 'string filename\nuint8[] data',
  'visualization_msgs/msg/Marker': [
    'int32 ARROW=0',
    'int32 CUBE=1',
    'int32 SPHERE=2',
    'int32 CYLINDER=3',
    'int32 LINE_STRIP=4',
    'int32 LINE_LIST=5',
    'int32 CUBE_LIST=6',
    'int32 SPHERE_LIST=7',
    'int32 POINTS=8',
    'int32 TEXT_VIEW_FACING=9',
    'int32 MESH_RESOURCE=10',
    'int32 TRIANGLE_LIST=11',
    'int32 ADD=0',
    'int32 MODIFY=0',
    'int32 DELETE=2',
    'int32 DELETEALL=3',
    'std_msgs/Header header',
    'string ns',
    'int32 id',
    'int32 type',
    'int32 action',
    'geometry_msgs/Pose pose',
    'geometry_msgs/Vector3 scale',
    'std_msgs/ColorRGBA color',
    'builtin_interfaces/Duration lifetime',
    'bool frame_locked',
    'geometry_msgs/Point[] points',
    'std_msgs/ColorRGBA[] colors',
    'string texture_resource',
    'sensor_msgs/CompressedImage texture',
    'UVCoordinate[] uv_coordinates',
    'string text',
    'string mesh_resource',
    'MeshFile mesh_file',
    'bool mesh_use_embedded_materials',
  ].join('\n'),
  'visualization_msgs/msg/MarkerArray': 'Marker[] markers',

  'diagnostic_msgs/msg/KeyValue': 'string key\nstring value',
  'diagnostic_msgs/msg/DiagnosticStatus': [
    'byte OK=0',
    'byte WARN=1',
    'byte ERROR=2',
    'byte STALE=3',
    'byte level',
    'string name',
    'string message',
    'string hardware_id',
    'KeyValue[] values',
  ].join('\n'),
  'diagnostic_msgs/msg/DiagnosticArray': 'std_msgs/Header header\nDiagnosticStatus[] status',

  // Sim time, as `ros2 bag play --clock` and the bag player publish it.
  'rosgraph_msgs/msg/Clock': 'builtin_interfaces/Time clock',

  // The managed-node protocol (the perception and learner nodes serve it themselves: src/node/lifecycle-server.ts).
  'lifecycle_msgs/msg/State': 'uint8 id\nstring label',
  'lifecycle_msgs/msg/Transition': 'uint8 id\nstring label',
  'lifecycle_msgs/msg/TransitionDescription': 'Transition transition\nState start_state\nState goal_state',
  'lifecycle_msgs/msg/TransitionEvent': 'uint64 timestamp\nTransition transition\nState start_state\nState goal_state',

  // This package's own types: the comment-free text of msgs/msg/*.msg (a test keeps them equal).
  'adaptive_perception/msg/AdaptationStatus': [
    'uint8 STATE_IDLE=0',
    'uint8 STATE_COLLECTING=1',
    'uint8 STATE_TRAINING=2',
    'uint8 STATE_VALIDATING=3',
    'uint8 STATE_PROMOTED=4',
    'uint8 STATE_REJECTED=5',
    'uint8 STATE_ROLLED_BACK=6',
    'uint8 STATE_PAUSED=7',
    'std_msgs/Header header',
    'string model_name',
    'string serving_version',
    'string candidate_version',
    'uint8 state',
    'string reason',
    'uint32 flagged_frames',
    'uint32 labelled_frames',
    'float64 new_domain_score',
    'float64 old_domain_score',
    'float64 serving_new_domain_score',
    'float64 serving_old_domain_score',
    'diagnostic_msgs/KeyValue[] metrics',
  ].join('\n'),
  'adaptive_perception/msg/FlaggedFrame': [
    'uint8 TRIGGER_OPERATOR=0',
    'uint8 TRIGGER_LOW_CONFIDENCE=1',
    'uint8 TRIGGER_TEMPORAL_INCONSISTENCY=2',
    'uint8 TRIGGER_DOMAIN_SHIFT=3',
    'uint8 TRIGGER_GROUND_TRUTH_MISMATCH=4',
    'std_msgs/Header header',
    'string camera',
    'uint8 trigger',
    'string reason',
    'float32 score',
    'string model_version',
    'sensor_msgs/CompressedImage image',
  ].join('\n'),
  'adaptive_perception/msg/WeightUpdate': [
    'std_msgs/Header header',
    'string model_name',
    'string version',
    'string base_version',
    'string[] heads',
    'string uri',
    'uint64 size_bytes',
    'string sha256',
    'string key_id',
    'uint8[] signature',
    'float64 new_domain_score',
    'float64 old_domain_score',
  ].join('\n'),
};

const PRIMITIVES = new Set([
  'bool', 'byte', 'char', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
  'float32', 'float64', 'string', 'wstring', 'time', 'duration',
]);

/** `pkg/Type` or `pkg/msg/Type` → `pkg/msg/Type`; anything else is returned unchanged. */
export function toRos2Name(type: string): string {
  const parts = type.split('/');
  if (parts.length === 2 && parts[0] && parts[1]) return `${parts[0]}/msg/${parts[1]}`;
  return type;
}

/** `pkg/msg/Type` or `pkg/Type` → `pkg/Type` (the ROS 1 and `MSG:` section spelling). */
export function toShortName(type: string): string {
  const parts = type.split('/');
  if (parts.length === 3 && parts[1] === 'msg') return `${parts[0]}/${parts[2]}`;
  return type;
}

/** Complex field types a definition refers to, as full ROS 2 names, in order of first use. */
export function directDependencies(type: string, text: string): string[] {
  const pkg = type.split('/')[0];
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '' || /^\S+\s+[A-Za-z_]\w*\s*=/.test(line)) continue; // blank or constant
    const base = line.split(/\s+/)[0].replace(/\[.*\]$/, '').replace(/<=\d+$/, '');
    if (PRIMITIVES.has(base)) continue;
    const full = base.includes('/') ? toRos2Name(base) : `${pkg}/msg/${base}`;
    if (!out.includes(full)) out.push(full);
  }
  return out;
}
