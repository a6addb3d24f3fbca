/**
 * Calibration for static quantization: the FP32 graph runs in onnxruntime-node on real frames
 * with the tensors to be quantized added as graph outputs, and each tensor's value range is
 * collected — min/max, or a percentile of a histogram (a second pass over the same frames).
 */
import * as ort from 'onnxruntime-node';
import { PerceptionError } from '../../core/errors.js';
import { encodeModel, cloneModel, type ModelProto } from './onnx.js';

export interface Range {
  readonly lo: number;
  readonly hi: number;
}

/**
 * - minmax: the observed range;
 * - percentile: the range that keeps `percentile` % of the values on each side;
 * - mse: the range (the observed one shrunk by a factor, searched) whose uint8 quantization
 *   has the least expected squared error, clipping and rounding together, over the histogram.
 */
export type CalibrationMethod = 'minmax' | 'percentile' | 'mse';

/** Feeds for one calibration run (every graph input: image, size, tail weights). */
export type CalibrationFeeds = Record<string, ort.Tensor>;

export interface CalibrateOptions {
  readonly method?: CalibrationMethod;
  /** For 'percentile': the share of values kept inside the range on each side (default 99.999). */
  readonly percentile?: number;
  /** Progress lines (one per pass). */
  readonly log?: (line: string) => void;
  readonly threads?: number;
}

const BINS = 2048;

/**
 * The value range of every tensor in `tensors` over the frames in `batches` (each one set of
 * feeds). Tensors that turn out not to be float32 are left out of the result.
 */
export async function calibrate(model: ModelProto, tensors: readonly string[], batches: readonly CalibrationFeeds[], options: CalibrateOptions = {}): Promise<Map<string, Range>> {
  if (batches.length === 0) throw new PerceptionError('INVALID_ARGUMENT', 'calibration needs at least one frame', { field: 'frames' });
  const method = options.method ?? 'minmax';
  if (tensors.length === 0) return new Map();
  const log = options.log ?? (() => {});
  const m = cloneModel(model);
  const outputs = new Set(m.graph.output.map((o) => o.name));
  const wanted = [...new Set(tensors)];
  for (const t of wanted) if (!outputs.has(t)) m.graph.output.push({ name: t, type: { tensorType: { elemType: 1 } } });
  const session = await ort.InferenceSession.create(encodeModel(m), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'basic',
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  });
  try {
    const lo = new Map<string, number>();
    const hi = new Map<string, number>();
    const t0 = performance.now();
    for (const feeds of batches) {
      const out = await session.run(feeds, wanted);
      for (const name of wanted) {
        const t = out[name];
        if (t?.type !== 'float32') continue;
        const d = t.data as Float32Array;
        let a = lo.get(name) ?? Infinity;
        let b = hi.get(name) ?? -Infinity;
        for (let i = 0; i < d.length; i++) {
          const v = d[i];
          if (v < a) a = v;
          if (v > b) b = v;
        }
        lo.set(name, a);
        hi.set(name, b);
      }
    }
    log(`calibrate: min/max of ${lo.size} tensors over ${batches.length} run(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const ranges = new Map<string, Range>();
    if (method === 'minmax') {
      for (const [name, a] of lo) ranges.set(name, { lo: a, hi: hi.get(name)! });
      return ranges;
    }
    const pct = options.percentile ?? 99.999;
    if (method === 'percentile' && !(pct > 50 && pct <= 100)) throw new PerceptionError('INVALID_ARGUMENT', `percentile must be in (50, 100], got ${pct}`, { field: 'percentile' });
    const hist = new Map<string, Float64Array>();
    for (const name of lo.keys()) hist.set(name, new Float64Array(BINS));
    const t1 = performance.now();
    for (const feeds of batches) {
      const out = await session.run(feeds, wanted);
      for (const [name, h] of hist) {
        const d = out[name].data as Float32Array;
        const a = lo.get(name)!;
        const w = (hi.get(name)! - a) / BINS || 1;
        for (let i = 0; i < d.length; i++) h[Math.min(BINS - 1, Math.floor((d[i] - a) / w))]++;
      }
    }
    if (method === 'mse') {
      for (const [name, h] of hist) ranges.set(name, mseRange(h, lo.get(name)!, hi.get(name)!));
      log(`calibrate: least-squared-error ranges in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
      return ranges;
    }
    for (const [name, h] of hist) {
      const a = lo.get(name)!;
      const b = hi.get(name)!;
      const w = (b - a) / BINS;
      const total = h.reduce((x, y) => x + y, 0);
      const cut = (total * (100 - pct)) / 100;
      let i = 0;
      for (let acc = 0; i < BINS - 1 && acc + h[i] <= cut; i++) acc += h[i];
      let j = BINS - 1;
      for (let acc = 0; j > 0 && acc + h[j] <= cut; j--) acc += h[j];
      // A range that starts at exactly 0 (after ReLU) stays there: zero must stay exact.
      ranges.set(name, { lo: a >= 0 ? a : a + i * w, hi: b <= 0 ? b : a + (j + 1) * w });
    }
    log(`calibrate: ${pct} % percentile ranges in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    return ranges;
  } finally {
    await session.release();
  }
}

/**
 * The range [f·lo, f·hi] (f searched over 0.3..1; lo and hi include 0) whose 256-level
 * quantization has the least expected squared error over the histogram `h` of [lo, hi]:
 * values inside cost step²/12 (rounding), values outside their distance to the clip squared.
 */
export function mseRange(h: Float64Array, lo: number, hi: number): Range {
  const a = Math.min(0, lo);
  const b = Math.max(0, hi);
  const bins = h.length;
  const w = (hi - lo) / bins;
  if (!(w > 0)) return { lo, hi };
  let best = { lo: a, hi: b };
  let bestErr = Infinity;
  for (let f = 1; f >= 0.3; f -= 0.01) {
    const l = a * f;
    const u = b * f;
    const step = (u - l) / 255;
    let err = 0;
    for (let i = 0; i < bins; i++) {
      if (h[i] === 0) continue;
      const x = lo + (i + 0.5) * w;
      const d = x < l ? l - x : x > u ? x - u : 0;
      err += h[i] * (d > 0 ? d * d : (step * step) / 12);
    }
    if (err < bestErr) {
      bestErr = err;
      best = { lo: l, hi: u };
    }
  }
  return best;
}
