/**
 * Adds precision variants to a model package: INT8 (static QDQ quantization calibrated on bag
 * frames) and FP16 (for GPU providers). Writes `model.int8.onnx` / `model.fp16.onnx` beside
 * `model.onnx` and a `precisions` section (with sha256 of each file) into manifest.json; the
 * FP32 graph, the tails and every contract input and output stay as they were.
 *
 * Why the quantizer is TypeScript over the ONNX protobuf (src/model/quantize/) rather than
 * Python: calibration must run the graph, and the only ONNX runtime here is onnxruntime-node
 * (no onnxruntime Python package; PyTorch 1.13's FX quantization exports a different graph,
 * without our in-graph preprocessing and tail inputs); bag frames are read by our TypeScript
 * bag reader; and a user can quantize their own package, calibrated on their own bags, with
 * the product alone. Measurements: docs/experiments/2026-12-06-int8-and-students.md.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PerceptionError } from '../core/errors.js';
import { PRECISIONS, type Precision } from '../model/manifest.js';
import { loadModelPackage, type ModelPackage } from '../model/package.js';
import { calibrate, type CalibrationMethod } from '../model/quantize/calibrate.js';
import { probeTypes, toFloat16 } from '../model/quantize/fp16.js';
import { cloneModel, encodeModel, readModel } from '../model/quantize/onnx.js';
import { resizeFirst } from '../model/quantize/preprocess.js';
import { applyQdq, planQdq, type QdqOptions } from '../model/quantize/qdq.js';
import type { RgbImage } from '../pipeline/image-decode.js';

export interface BuildVariantsOptions {
  /** The package to read (its FP32 graph is the source of every variant). */
  readonly modelDir: string;
  /** Where to write the package with its variants (default: in place). */
  readonly outDir?: string;
  /** Camera frames for calibration (any size; fed as the engine feeds them). */
  readonly calibration: readonly RgbImage[];
  readonly precisions: readonly Exclude<Precision, 'fp32'>[];
  /** The variant the engine runs when not told otherwise (default: unchanged, else fp32). */
  readonly defaultPrecision?: Precision;
  /** QDQ options; default here: the first 5 Convs kept FP32 (see DEFAULT_KEEP_FIRST). */
  readonly qdq?: QdqOptions;
  /** Calibration method (default 'mse'). */
  readonly method?: CalibrationMethod;
  readonly percentile?: number;
  /** Resize the camera image as uint8 before casting it (INT8 variant; default true). */
  readonly resizeFirst?: boolean;
  readonly log?: (line: string) => void;
}

export interface VariantCheck {
  /** Frames compared with FP32 (the first calibration frames, at the default size). */
  frames: number;
  /** Share of seg_mask pixels equal to FP32's. */
  seg_mask_agreement: number;
  /** Mean |depth − FP32 depth| / FP32 depth. */
  depth_mean_rel_diff: number;
  /** Largest |det_heat − FP32 det_heat|. */
  det_heat_max_abs_diff: number;
}

export interface BuildVariantsResult {
  readonly dir: string;
  readonly files: Readonly<Record<string, string>>;
  readonly checks: Readonly<Record<string, VariantCheck>>;
  readonly quantization?: Record<string, unknown>;
}

/**
 * Convs kept FP32 at the start of the graph. On the bundled model (docs/experiments/2026-12-06-
 * int8-and-students.md, bench/int8-sensitivity.ts) quantizing one op at a time showed the
 * early high-resolution layers put the most noise into every head (the first DS block alone
 * half of depth's); with 1 / 3 / 5 kept, δ<1.25 lost 1.65 / 0.32 / -0.26 points on 120
 * held-out frames for a single-thread speed-up of 1.22 / 1.15 / 1.17. Re-measure on a new model.
 */
export const DEFAULT_KEEP_FIRST = 5;
export const DEFAULT_METHOD: CalibrationMethod = 'mse';

export const VARIANT_FILES: Readonly<Record<Exclude<Precision, 'fp32'>, string>> = { int8: 'model.int8.onnx', fp16: 'model.fp16.onnx' };

/** Feeds for one frame at one ladder size: the engine's (image, size, shipped tails). */
export function feedsFor(pkg: ModelPackage, img: RgbImage, size: readonly [number, number]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {
    image: new ort.Tensor('uint8', img.data.subarray(0, img.width * img.height * 3), [1, img.height, img.width, 3]),
    size: new ort.Tensor('int64', BigInt64Array.of(BigInt(size[0]), BigInt(size[1])), [2]),
  };
  for (const [name, t] of pkg.tails) feeds[name] = new ort.Tensor('float32', t.data, [...t.shape]);
  return feeds;
}

export async function buildPrecisionVariants(o: BuildVariantsOptions): Promise<BuildVariantsResult> {
  const log = o.log ?? (() => {});
  for (const p of o.precisions) {
    if (!(PRECISIONS as readonly string[]).includes(p) || p === ('fp32' as string)) {
      throw new PerceptionError('INVALID_CONFIG', `cannot build precision '${p}' (buildable: int8, fp16)`, { field: 'precisions' });
    }
  }
  if (o.calibration.length === 0) throw new PerceptionError('INVALID_CONFIG', 'no calibration frames (give a bag with camera frames)', { field: 'calibration' });
  const pkg = await loadModelPackage(o.modelDir, { precision: 'fp32' });
  const out = resolve(o.outDir ?? o.modelDir);
  mkdirSync(out, { recursive: true });
  const manifestPath = join(o.modelDir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown> & {
    files: Record<string, string>;
    sha256: Record<string, string>;
    precisions?: { default?: Precision; variants?: Record<string, Record<string, unknown>> };
  };
  if (resolve(o.modelDir) !== out) for (const f of new Set(Object.values(manifest.files))) copyFileSync(join(o.modelDir, f), join(out, f));

  const fp32 = readModel(pkg.modelPath);
  const sizes = pkg.manifest.input.sizes;
  // Calibration cycles through the ladder so that every size the scheduler may pick is seen.
  const calib = o.calibration.map((img, i) => feedsFor(pkg, img, sizes[i % sizes.length]));
  const variants: Record<string, Record<string, unknown>> = { ...(manifest.precisions?.variants ?? {}) };
  variants.fp32 = { ...(variants.fp32 ?? {}), file: manifest.files.model };
  const files: Record<string, string> = {};
  const checks: Record<string, VariantCheck> = {};
  let quantization: Record<string, unknown> | undefined;

  for (const precision of o.precisions) {
    const t0 = performance.now();
    let bytes: Uint8Array;
    let info: Record<string, unknown>;
    if (precision === 'int8') {
      const src = cloneModel(fp32);
      const rf = (o.resizeFirst ?? true) && resizeFirst(src, log);
      const qdq: QdqOptions = { keepFirstConvs: DEFAULT_KEEP_FIRST, ...o.qdq };
      const method = o.method ?? DEFAULT_METHOD;
      const plan = planQdq(src, qdq);
      if (plan.quantized.length === 0) {
        throw new PerceptionError('MODEL_INVALID', `nothing in ${pkg.modelPath} can be quantized (no Conv with constant weights outside the exclusions)`, { file: pkg.modelPath, field: 'int8' });
      }
      log(`quantize: ${plan.quantized.length} ops to integer kernels, ${plan.foldedRelu.length} ReLUs folded, ${plan.keptFp32.length} Convs kept FP32 (${plan.keptFp32.map((k) => k.why.split(' (')[0]).filter((v, i, a) => a.indexOf(v) === i).join('; ')})`);
      const ranges = await calibrate(src, [...plan.tensors, ...plan.observe], calib, { method, percentile: o.percentile, log });
      bytes = encodeModel(applyQdq(src, plan, ranges, qdq).model);
      quantization = {
        format: 'QDQ',
        weights: `int8 symmetric, ${qdq.perChannel === false ? 'per tensor' : 'per output channel'}`,
        activations: `${qdq.activations ?? 'uint8'} asymmetric, per tensor`,
        calibration: { method, ...(method === 'percentile' ? { percentile: o.percentile ?? 99.999 } : {}), frames: calib.length },
        keep_first_convs: qdq.keepFirstConvs,
        quantized_ops: plan.quantized.length,
        folded_relu: plan.foldedRelu.length,
        kept_fp32: plan.keptFp32,
        preprocessing: rf ? 'resize-first (uint8 resize, then cast)' : 'as in the FP32 graph',
      };
      info = { providers: ['cpu'], quantization };
    } else {
      const types = await probeTypes(fp32, calib[0]);
      const { model, report } = toFloat16(fp32, types);
      bytes = encodeModel(model);
      info = { providers: ['cuda', 'tensorrt'], note: 'float16 compute for GPU providers; on CPU it runs in float32 behind casts (no speed-up)', fp16_nodes: report.fp16Nodes };
    }
    const file = VARIANT_FILES[precision];
    writeFileSync(join(out, file), bytes);
    const check = await compareWithFp32(pkg.modelPath, bytes, calib.slice(0, 8).map((_, i) => feedsFor(pkg, o.calibration[i], sizes[0])));
    checks[precision] = check;
    variants[precision] = { file, ...info, check };
    files[precision] = file;
    manifest.sha256[file] = createHash('sha256').update(bytes).digest('hex');
    log(`${precision}: wrote ${join(out, file)} (${(bytes.length / 1024).toFixed(0)} KiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s; against FP32 on ${check.frames} frames: seg_mask ${(check.seg_mask_agreement * 100).toFixed(2)} % equal, depth ${(check.depth_mean_rel_diff * 100).toFixed(2)} % mean rel. diff, det_heat max |diff| ${check.det_heat_max_abs_diff.toFixed(3)}`);
  }
  manifest.precisions = { default: o.defaultPrecision ?? manifest.precisions?.default ?? 'fp32', variants };
  const tmp = join(out, `manifest.json.tmp-${process.pid}`);
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(tmp, join(out, 'manifest.json'));
  // The result must load as a package at every precision it names.
  for (const p of Object.keys(variants)) await loadModelPackage(out, { precision: p });
  return { dir: out, files, checks, quantization };
}

/** Runs FP32 and a variant on the same feeds and says how far apart their outputs are. */
export async function compareWithFp32(fp32Path: string, variant: Uint8Array | string, feeds: readonly Record<string, ort.Tensor>[]): Promise<VariantCheck> {
  const a = await ort.InferenceSession.create(fp32Path, { graphOptimizationLevel: 'all' });
  const b = await ort.InferenceSession.create(variant as Uint8Array, { graphOptimizationLevel: 'all' });
  let eq = 0;
  let px = 0;
  let rel = 0;
  let dpx = 0;
  let heat = 0;
  try {
    for (const f of feeds) {
      const fetch = ['seg_mask', 'depth', 'det_heat'];
      const x = await a.run(f, fetch);
      const y = await b.run(f, fetch);
      const ma = x.seg_mask.data as Uint8Array;
      const mb = y.seg_mask.data as Uint8Array;
      for (let i = 0; i < ma.length; i++) eq += ma[i] === mb[i] ? 1 : 0;
      px += ma.length;
      const da = x.depth.data as Float32Array;
      const db = y.depth.data as Float32Array;
      for (let i = 0; i < da.length; i++) rel += Math.abs(db[i] - da[i]) / da[i];
      dpx += da.length;
      const ha = x.det_heat.data as Float32Array;
      const hb = y.det_heat.data as Float32Array;
      for (let i = 0; i < ha.length; i++) heat = Math.max(heat, Math.abs(ha[i] - hb[i]));
    }
  } finally {
    await a.release();
    await b.release();
  }
  const r4 = (v: number) => Math.round(v * 1e4) / 1e4;
  return { frames: feeds.length, seg_mask_agreement: r4(eq / px), depth_mean_rel_diff: r4(rel / dpx), det_heat_max_abs_diff: r4(heat) };
}
