/**
 * FastestDet (BSD-3, COCO, 1 MB ONNX; models/teachers/fastestdet/) on ONNX Runtime.
 * Input `input.1` float [1, 3, 352, 352]: the frame stretched to 352x352 (as it was trained,
 * no letterbox), BGR, 0..1. Output `758` [1, 85, 22, 22]: per cell, objectness (sigmoid in the
 * graph), centre offsets (tanh), width and height as a share of the image (sigmoid), then 80
 * class scores (softmax in the graph); score = obj^0.6 · cls^0.4 — decoding as in the model's
 * own example (example/onnx-runtime/runtime.py of dog-qiuqiu/FastestDet).
 */
import type * as Ort from 'onnxruntime-node';
import sharp from 'sharp';
import { PerceptionError } from '../../../core/errors.js';
import { cocoKind, type RawBox } from './coco.js';
import type { TeacherFrame } from './types.js';

const SIZE = 352;

export class FastestDet {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static async load(file: string): Promise<FastestDet> {
    const ort = await import('onnxruntime-node');
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
    } catch (err) {
      throw new PerceptionError('MODEL_RUNTIME', `cannot load FastestDet from ${file}: ${(err as Error).message}`, { file }, { cause: err });
    }
    return new FastestDet(ort, session, session.inputNames[0], session.outputNames[0]);
  }

  /**
   * COCO boxes of the kinds the teacher keeps, score ≥ `threshold`, in camera pixels. With
   * `tiles`, a wide frame is also run as ⌈W/H⌉ overlapping square crops (full height, spread
   * evenly), so that small objects reach the model at about their own size instead of squashed
   * into 352x352 with the rest; the caller's NMS merges what both passes found.
   */
  async detect(frame: TeacherFrame, threshold: number, tiles = false): Promise<RawBox[]> {
    const { width: W, height: H } = frame;
    const regions = [{ x: 0, y: 0, w: W, h: H }];
    if (tiles && W > H) {
      const n = Math.ceil(W / H);
      for (let i = 0; i < n; i++) regions.push({ x: Math.round(((W - H) * i) / (n - 1)), y: 0, w: H, h: H });
    }
    const boxes: RawBox[] = [];
    for (const r of regions) boxes.push(...(await this.detectRegion(frame, r, threshold)));
    return boxes;
  }

  private async detectRegion(frame: TeacherFrame, reg: { x: number; y: number; w: number; h: number }, threshold: number): Promise<RawBox[]> {
    const W = reg.w, H = reg.h;
    let img = sharp(frame.rgb, { raw: { width: frame.width, height: frame.height, channels: 3 } });
    if (W !== frame.width || H !== frame.height) img = img.extract({ left: reg.x, top: reg.y, width: W, height: H });
    const small = await img
      .resize(SIZE, SIZE, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    const plane = SIZE * SIZE;
    const input = new Float32Array(3 * plane);
    for (let p = 0, o = 0; p < plane; p++, o += 3) {
      input[p] = small[o + 2] / 255; // B
      input[plane + p] = small[o + 1] / 255; // G
      input[2 * plane + p] = small[o] / 255; // R
    }
    const feeds = { [this.inputName]: new this.ort.Tensor('float32', input, [1, 3, SIZE, SIZE]) };
    const out = (await this.session.run(feeds))[this.outputName];
    const data = out.data as Float32Array;
    const [, C, GH, GW] = out.dims as number[];
    const cells = GH * GW;
    const boxes: RawBox[] = [];
    for (let cell = 0; cell < cells; cell++) {
      const obj = data[cell];
      if (obj <= 0) continue;
      let best = 0, cls = -1;
      for (let c = 5; c < C; c++) {
        const s = data[c * cells + cell];
        if (s > best) { best = s; cls = c - 5; }
      }
      const kind = cocoKind(cls);
      if (kind === null) continue;
      const score = Math.pow(obj, 0.6) * Math.pow(best, 0.4);
      if (score < threshold) continue;
      const gy = Math.floor(cell / GW), gx = cell - gy * GW;
      const cx = (gx + Math.tanh(data[cells + cell])) / GW, cy = (gy + Math.tanh(data[2 * cells + cell])) / GH;
      const bw = sigmoid(data[3 * cells + cell]), bh = sigmoid(data[4 * cells + cell]);
      boxes.push({ kind, score, x0: reg.x + (cx - bw / 2) * W, y0: reg.y + (cy - bh / 2) * H, x1: reg.x + (cx + bw / 2) * W, y1: reg.y + (cy + bh / 2) * H });
    }
    return boxes;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
