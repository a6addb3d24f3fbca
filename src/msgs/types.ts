/**
 * TypeScript shapes of the ROS 2 messages this product constructs. Field names are ROS 2's
 * (`nanosec`, lower-case `d/k/r/p`); `uint8[]` is a Uint8Array (a view into the message buffer
 * when decoded). Decoded float64[] arrays may arrive as Float64Array, so readers accept both.
 */
export interface Time {
  sec: number;
  nanosec: number;
}

export type Duration = Time;

export interface Header {
  stamp: Time;
  frame_id: string;
}

export interface Image {
  header: Header;
  height: number;
  width: number;
  encoding: string;
  is_bigendian: number;
  step: number;
  data: Uint8Array;
}

export interface CompressedImage {
  header: Header;
  /** e.g. `jpeg`, `png`, or image_transport's `rgb8; jpeg compressed bgr8`. */
  format: string;
  data: Uint8Array;
}

export type FloatArray = number[] | Float64Array;

export interface RegionOfInterest {
  x_offset: number;
  y_offset: number;
  height: number;
  width: number;
  do_rectify: boolean;
}

export interface CameraInfo {
  header: Header;
  height: number;
  width: number;
  distortion_model: string;
  d: FloatArray;
  /** 3×3 row-major intrinsics. */
  k: FloatArray;
  r: FloatArray;
  /** 3×4 row-major projection. */
  p: FloatArray;
  binning_x: number;
  binning_y: number;
  roi: RegionOfInterest;
}

export interface Point {
  x: number;
  y: number;
  z: number;
}

export interface Quaternion extends Point {
  w: number;
}

export interface Pose {
  position: Point;
  orientation: Quaternion;
}

export interface PoseWithCovariance {
  pose: Pose;
  covariance: FloatArray;
}

export interface ObjectHypothesis {
  class_id: string;
  score: number;
}

export interface ObjectHypothesisWithPose {
  hypothesis: ObjectHypothesis;
  pose: PoseWithCovariance;
}

/** Humble+ layout: the centre is `center.position.{x,y}` plus `center.theta`. */
export interface BoundingBox2D {
  center: { position: { x: number; y: number }; theta: number };
  size_x: number;
  size_y: number;
}

export interface Detection2D {
  header: Header;
  results: ObjectHypothesisWithPose[];
  bbox: BoundingBox2D;
  id: string;
}

export interface Detection2DArray {
  header: Header;
  detections: Detection2D[];
}
