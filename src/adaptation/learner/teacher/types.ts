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
}

export type TeacherModel = 'fastestdet' | 'nanodet' | 'centernet';
export const TEACHER_MODELS: readonly TeacherModel[] = ['fastestdet', 'nanodet', 'centernet'];
