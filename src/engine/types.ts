import type { InputSize, OutputName } from '../model/manifest.js';
import type { RunnerTensor } from './runner.js';
import type { WeightSet } from './weights.js';

/** A camera frame as the engine takes it: packed RGB, HWC, 3 bytes a pixel (step = width × 3). */
export interface CameraImage {
  readonly width: number;
  readonly height: number;
  /** At least width × height × 3 bytes; only that prefix is read. Not copied for batch 1. */
  readonly data: Uint8Array;
}

/** One frame's outputs: each tensor is a view into the batch's output (no copy), batch dim dropped. */
export interface RawOutputs {
  /** Model-input size the frame ran at. */
  readonly size: InputSize;
  readonly camera: { readonly width: number; readonly height: number };
  /** Id of the WeightSet this run used. */
  readonly weights: string;
  /** The precision variant it ran on, when not the engine's main one (`InferOptions.variant`). */
  readonly variant?: string;
  readonly tensors: Partial<Record<OutputName, RunnerTensor>>;
}

export interface InferOptions {
  /** One entry of the manifest's `input.sizes` (default: the engine's input size). */
  readonly size?: InputSize;
  /** Outputs to fetch (default: the engine's `outputs`). */
  readonly outputs?: readonly OutputName[];
  /**
   * Run with this weight set instead of the current one (a candidate's warm-up probe before a
   * swap, a validation run). Must match the model's tails.
   */
  readonly weights?: WeightSet;
  /**
   * Run on this precision variant's session (one of `Engine.variants`; default the main one).
   * The current weight set applies as to any run.
   */
  readonly variant?: string;
}
