/** A teacher for label-free adaptation: COCO detectors as pseudo-labellers (see teacher.ts). */
export { Teacher, DEFAULT_THRESHOLD, FASTESTDET_FILE, NMS_IOU, type TeacherOptions } from './teacher.js';
export { COCO_NAMES, cocoKind, mapToClasses, nmsByGroup, isRider, type CocoKind, type RawBox, type MappedBox } from './coco.js';
export { TEACHER_CLASSES, TEACHER_MODELS, type TeacherBox, type TeacherClass, type TeacherFrame, type TeacherModel, type TeacherResult } from './types.js';
