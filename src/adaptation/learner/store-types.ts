import type { HeadName, InputSize, ServedExtra } from '../../model/manifest.js';

/**
 * The learner's data types: what a flagged frame carries into the sample store, and the labels
 * that arrive for it later. Plain data (typed arrays, bigint stamps) so that they cross a
 * process boundary (ZeroMQ) with a simple codec.
 */

/** One head's tail input for one frame, channel-major `[C, H, W]` (the ONNX output, batch dim dropped). */
export interface FeatureMap {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly data: Float32Array;
  /**
   * The float16 bits `data` was decoded from, where a store read asked for them (SampleStore.get
   * `keepHalf`): the trainer caches these rather than encoding `data` again (~6 ms a sample).
   */
  readonly half?: Uint16Array;
}

/**
 * A frame's tail inputs, and where the package merges a second detector into its detections
 * (manifest `coco_heat` / `coco_box` outputs), that detector's peaks on the detection grid: the
 * gate scores a candidate detection tail merged with them, as perception serves it.
 */
export type SampleFeatures = Readonly<Record<HeadName, FeatureMap>> & Readonly<Partial<Record<ServedExtra, FeatureMap>>>;

/** 'new' = a frame of the domain being adapted to; 'old' = a reference frame of the training domains. */
export type Domain = 'new' | 'old';

export type FlagReasonKind = 'uncertainty' | 'entropy' | 'temporal' | 'drift' | 'manual';

/** A flagged frame as perception hands it to the learner. */
export interface FlaggedSample {
  readonly camera: string;
  readonly stampNs: bigint;
  readonly domain: Domain;
  readonly reasons: readonly FlagReasonKind[];
  /** Trigger scores at flag time (ambiguous fraction, entropy, flicker count, drift z…). */
  readonly scores: Readonly<Record<string, number>>;
  /** Model-input size the features were computed at. */
  readonly inputSize: InputSize;
  /** Camera image size: ground-truth boxes and label images are in camera pixels. */
  readonly cameraSize: { readonly width: number; readonly height: number };
  readonly features: SampleFeatures;
  /** JPEG bytes of the frame, optional (for review and re-labelling). */
  readonly image?: Uint8Array;
  /** A small summary of what the model predicted (numbers only). */
  readonly predictions?: Readonly<Record<string, number>>;
  /**
   * What the serving model made of the frame, for label-free cues (teacher/ground-plane.ts);
   * sent with the picture when a teacher labels, never stored.
   */
  readonly view?: ModelView;
}

/**
 * The serving model's metric depth and segmentation of one frame (its output grid), with the
 * camera's intrinsics in camera pixels and the factor that made the model's depth metric
 * (src/pipeline/depth-focal.ts: a depth label in the model's units is metres ÷ `depthScale`).
 */
export interface ModelView {
  readonly depth: LabelImage<Float32Array>;
  /** 0 background, 1 lane marking, 2 drivable (seg_mask's classes). */
  readonly seg: LabelImage<Uint8Array>;
  /** The camera's image size: the intrinsics' frame. */
  readonly cameraSize: { readonly width: number; readonly height: number };
  /** fx, fy, cx, cy (camera pixels): from camera_info, else what the package's depth assumes. */
  readonly k: readonly [number, number, number, number];
  readonly depthScale: number;
  /** The camera's height above the ground (m), where perception knows it (the robot's TF); else the learner's told height. */
  readonly heightM?: number;
  /** With it, its optical axis's angle below the ground plane (rad, + down) from the same TF. */
  readonly pitchRad?: number;
}

/** A ground-truth box in camera pixels (`x1`, `y1` exclusive). */
export interface GtBox {
  readonly classIndex: number;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  /** Visible share 0..1 where the annotation says (a hidden or tiny box is an ignore region: eval/ignore.ts); absent: fully visible. */
  readonly visibility?: number;
}

/**
 * Who labelled a frame's boxes: an annotator (a person, or a bag's ground truth) or a teacher
 * model. Annotator boxes override teacher boxes; teacher boxes are positives the learner trusts
 * and weak negatives (a teacher misses objects).
 */
export type LabelSource = 'annotator' | 'teacher';

/** A label image at the annotation's own resolution (usually the camera's). */
export interface LabelImage<T extends Uint8Array | Float32Array> {
  readonly width: number;
  readonly height: number;
  readonly data: T;
}

/**
 * The labels of one frame. Each part is optional: annotations arrive per part (boxes, lane
 * mask, depth) and each head trains only on samples that have its part.
 * `lane`: 0 background, 1 lane marking, 2 drivable road, 255 ignore (the seg_mask values).
 * `depth`: metres; ≤ 0, non-finite or ≥ the model's max_m is invalid.
 */
export interface SampleLabels {
  readonly boxes?: readonly GtBox[];
  /** Who labelled the boxes (default annotator). */
  readonly boxSource?: LabelSource;
  readonly lane?: LabelImage<Uint8Array>;
  /** Who labelled the lane mask (default annotator); a package teacher's never replaces an annotator's. */
  readonly laneSource?: LabelSource;
  readonly depth?: LabelImage<Float32Array>;
  /** Who labelled the depth (default annotator). */
  readonly depthSource?: LabelSource;
}

export type Split = 'train' | 'val';

/** A sample as read back from the store (checksum verified). */
export interface StoredSample extends FlaggedSample {
  readonly id: number;
  readonly split: Split;
  readonly labels: SampleLabels;
  /** Insertion order (monotonic), for eviction. */
  readonly seq: number;
}

export const sampleKey = (camera: string, stampNs: bigint): string => `${camera}@${stampNs}`;
