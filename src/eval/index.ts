export { DetectionEvaluator, averagePrecision, boxIoU, type EvalBox, type ScoredBox, type ClassAP, type DetectionResult } from './detection.js';
export { SegmentationEvaluator, resizeLabels, SEG_CLASSES, IGNORE_LABEL, type SegmentationResult } from './segmentation.js';
export { DepthEvaluator, type DepthResult } from './depth.js';
