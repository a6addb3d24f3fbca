/**
 * A perception package of this product's format as a teacher: another, larger or more robust
 * model with the same classes (e.g. the real-roads candidate, `models/candidates/real`, whose
 * COCO-pretrained backbone loses less at night and labels lanes better in every domain measured:
 * docs/experiments/2026-12-06-package-teacher.md). Unlike the COCO detectors it speaks this
 * product's conventions (our classes, our box extents, our lane and drivable masks, metric depth),
 * so it can label every head, not boxes only.
 *
 * Runs the package's own Engine (ONNX Runtime, one thread, CPU) at its top rung; boxes come in
 * camera pixels, the lane mask and depth at the model's output resolution (a label image covers
 * the whole frame at any resolution: the learner resamples it to each tail's grid).
 */
import type { Engine as EngineT } from '../../../engine/engine.js';
import { PerceptionError } from '../../../core/errors.js';
import type { OutputName } from '../../../model/manifest.js';
import type { TeacherClass, TeacherFrame } from './types.js';
import { TEACHER_CLASSES } from './types.js';
import { iou } from './coco.js';

export interface PackageLabels {
  readonly boxes: { cls: TeacherClass; score: number; x0: number; y0: number; x1: number; y1: number }[];
  readonly lane?: { width: number; height: number; data: Uint8Array };
  readonly depth?: { width: number; height: number; data: Float32Array };
}

/** The lane label's "ignore" value (SampleLabels.lane). */
const IGNORE = 255;
/** Depths of the two runs within this share of the nearer one agree. */
const DEPTH_AGREE = 0.2;

function mirrorRgb(rgb: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let x = 0; x < w; x++) {
      const s = row + x * 3, d = row + (w - 1 - x) * 3;
      out[d] = rgb[s];
      out[d + 1] = rgb[s + 1];
      out[d + 2] = rgb[s + 2];
    }
  }
  return out;
}


export class PackageTeacher {
  private constructor(
    private readonly engine: EngineT,
    private readonly decode: typeof import('../../../engine/frame-result.js').decodeFrame,
  ) {}

  /** Opens the package in `dir`; refuses one whose classes are not this product's four. */
  static async load(dir: string): Promise<PackageTeacher> {
    const { Engine } = await import('../../../engine/engine.js');
    const { decodeFrame } = await import('../../../engine/frame-result.js');
    let engine: EngineT;
    try {
      // fp32 whatever precision the student runs at (replay's --precision reaches this process
      // through the environment): a teacher's labels are worth its full precision.
      engine = await Engine.create({ modelDir: dir, providers: ['cpu'], threads: 1, precision: 'fp32' });
    } catch (err) {
      throw new PerceptionError('MODEL_RUNTIME', `cannot load the teacher package ${dir}: ${(err as Error).message}`, { file: dir }, { cause: err });
    }
    const classes = engine.manifest.classes;
    const unknown = classes.filter((c) => !(TEACHER_CLASSES as readonly string[]).includes(c));
    if (unknown.length > 0) {
      await engine.dispose();
      throw new PerceptionError('INVALID_ARGUMENT', `teacher package ${dir} has classes this product does not know: ${unknown.join(', ')}`, { field: 'weights', file: dir });
    }
    return new PackageTeacher(engine, decodeFrame);
  }

  /** The package's name and version, for logs. */
  get id(): string {
    return `${this.engine.manifest.name}@${this.engine.manifest.version}`;
  }

  /**
   * Labels one frame. With `flip`, the package also runs on the mirrored frame and only what the
   * two runs agree on is kept: a box the mirrored run finds too (same class, IoU ≥ 0.5), a mask
   * pixel of the same class (else 255, ignore), a depth within 20 % (else 0, invalid). Mirror
   * agreement is a cheap confidence for an argmax mask: on synthetic drives it raised the
   * teacher's lane IoU on the pixels kept by 0.04–0.06 while leaving 1–5 % out
   * (docs/experiments/2026-12-06-package-teacher.md).
   */
  async run(frame: TeacherFrame, threshold: number, dense: { lane: boolean; depth: boolean }, flip = true): Promise<PackageLabels> {
    const a = await this.once(frame, threshold, dense);
    if (!flip) return a;
    const W = frame.width;
    const b = await this.once({ width: W, height: frame.height, rgb: mirrorRgb(frame.rgb, W, frame.height) }, threshold, dense);
    const mirrored = b.boxes.map((x) => ({ ...x, x0: W - x.x1, x1: W - x.x0 }));
    const boxes = a.boxes.filter((x) => mirrored.some((y) => y.cls === x.cls && iou(x, y) >= 0.5));
    let lane = a.lane;
    if (lane && b.lane) {
      const { width: w, height: h } = lane;
      const data = lane.data.slice();
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (data[y * w + x] !== b.lane.data[y * w + (w - 1 - x)]) data[y * w + x] = IGNORE;
      lane = { width: w, height: h, data };
    }
    let depth = a.depth;
    if (depth && b.depth) {
      const { width: w, height: h } = depth;
      const data = depth.data.slice();
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        const p = data[y * w + x], q = b.depth.data[y * w + (w - 1 - x)];
        if (!(Math.abs(p - q) <= DEPTH_AGREE * Math.min(p, q))) data[y * w + x] = 0;
      }
      depth = { width: w, height: h, data };
    }
    return { boxes, ...(lane ? { lane } : {}), ...(depth ? { depth } : {}) };
  }

  private async once(frame: TeacherFrame, threshold: number, dense: { lane: boolean; depth: boolean }): Promise<PackageLabels> {
    const outputs: OutputName[] = ['det_heat', 'det_box'];
    if (dense.lane) outputs.push('seg_mask');
    if (dense.depth) outputs.push('depth');
    const [raw] = await this.engine.infer([{ width: frame.width, height: frame.height, data: frame.rgb }], { outputs });
    const d = this.decode(raw, this.engine.manifest, { threshold });
    const boxes = d.detections.map((b) => ({ cls: b.cls as TeacherClass, score: b.score, x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 }));
    return {
      boxes,
      ...(dense.lane && d.mask ? { lane: { width: d.mask.width, height: d.mask.height, data: d.mask.data.slice() } } : {}),
      ...(dense.depth && d.depth ? { depth: { width: d.depth.width, height: d.depth.height, data: d.depth.data.slice() } } : {}),
    };
  }

  async dispose(): Promise<void> {
    await this.engine.dispose();
  }
}
