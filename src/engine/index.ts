export { Engine, DEFAULT_OUTPUTS, type EngineOptions } from './engine.js';
export { WeightSet } from './weights.js';
export { createSession, openOrtSession, type OpenFn } from './session.js';
export { PROVIDERS, type Provider, type ModelRunner, type RunnerTensor, type Feeds, type SessionOptions, type LogFn } from './runner.js';
export type { CameraImage, RawOutputs, InferOptions } from './types.js';
export { decodeDetections, asFloatMap, nms, upscaleMask, upscaleDepth, nearestIndex, type Detection, type DecodeOptions, type FloatMap } from './decode.js';
export { OverlayRenderer, type OverlayOptions, type OverlayInput, type RgbFrame } from './overlay.js';
export { decodeFrame, type DecodedFrame, type DecodeFrameOptions } from './frame-result.js';
