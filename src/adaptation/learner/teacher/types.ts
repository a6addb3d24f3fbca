/** The teacher's contract: camera RGB in, boxes of this product's classes out. */

export type TeacherClass = 'car' | 'truck' | 'pedestrian' | 'cyclist';
export const TEACHER_CLASSES: readonly TeacherClass[] = ['car', 'truck', 'pedestrian', 'cyclist'];

/** One camera frame: packed RGB, row-major HWC, 3 bytes a pixel. */
export interface TeacherFrame {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** A pseudo-label in camera pixels: top-left corner (x, y), width and height; score 0..1. */
export interface TeacherBox {
  cls: TeacherClass;
  x: number;
  y: number;
  w: number;
  h: number;
  score: number;
}

export interface TeacherResult {
  boxes: TeacherBox[];
  /**
   * A package teacher only (model 'package', when it labels seg): the lane / drivable mask over
   * the whole frame at the teacher's output resolution (0 background, 1 lane, 2 drivable).
   */
  lane?: { width: number; height: number; data: Uint8Array };
  /** A package teacher only (when it labels depth): metres over the whole frame at its output resolution. */
  depth?: { width: number; height: number; data: Float32Array };
}

/** The heads a teacher can label: boxes (every teacher), lane / drivable and depth (a package teacher). */
export type TeacherHead = 'det' | 'seg' | 'depth';
export const TEACHER_HEADS: readonly TeacherHead[] = ['det', 'seg', 'depth'];

/**
 * COCO detectors (boxes only), or 'package': a perception package of this product's format
 * (same classes), which labels every head it is asked to.
 */
export type TeacherModel = 'fastestdet' | 'nanodet' | 'centernet' | 'package';
export const TEACHER_MODELS: readonly TeacherModel[] = ['fastestdet', 'nanodet', 'centernet', 'package'];
/**
 * The label-free default: the bundled real-roads candidate as a package teacher, labelling lanes.
 * FastestDet's boxes recovered nothing on any shift (0 %, −0.3 %); the candidate's lanes
 * 8–14 % (docs/experiments/2026-12-06-package-teacher.md).
 */
export const DEFAULT_TEACHER_MODEL: TeacherModel = 'package';

/**
 * The camera's height above the road (m) that a teacher's ground-plane depth assumes
 * (ground-plane.ts): a car's roof or windscreen camera. A robot sets its own; 0 turns the cue off.
 */
export const DEFAULT_CAMERA_HEIGHT_M = 1.5;
/** Heights a camera can have above a road (m): beyond, a typo. */
export const CAMERA_HEIGHT_RANGE_M: readonly [number, number] = [0.1, 20];
