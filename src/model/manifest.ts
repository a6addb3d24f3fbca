import { PerceptionError } from '../core/errors.js';

/**
 * The model package manifest (models/README.md, format `adaptive-perception/model@1`).
 * Validated once at the boundary by `validateManifest`; everything downstream trusts it.
 */
export const MODEL_FORMAT = 'adaptive-perception/model@1';

export const HEADS = ['det', 'seg', 'depth'] as const;
export type HeadName = (typeof HEADS)[number];

export const OUTPUT_NAMES = [
  'det_heat',
  'det_box',
  'seg_mask',
  'seg_entropy',
  'depth',
  'det_feat',
  'seg_feat',
  'depth_feat',
  'feat_mean',
  'coco_heat',
  'coco_box',
] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/**
 * A package that merges a second detector into `det_heat` / `det_box` (training/coco_head.py)
 * also outputs that detector's own peaks on the same grid, so that the learner can score a
 * candidate detection tail as perception will serve it: merged with them.
 */
export const SERVED_EXTRAS = ['coco_heat', 'coco_box'] as const;
export type ServedExtra = (typeof SERVED_EXTRAS)[number];

/** The served extras a manifest's graph outputs (both, or none). */
export function servedExtras(m: Pick<Manifest, 'outputs'>): readonly ServedExtra[] {
  return SERVED_EXTRAS.every((n) => m.outputs.includes(n)) ? SERVED_EXTRAS : [];
}

export type Activation = 'relu' | 'linear';

export interface TailLayerSpec {
  readonly out: number;
  readonly act: Activation;
  /**
   * Square kernel size of the layer's convolution, odd, default 1 (a dense layer over each
   * pixel's feature vector). Only the first layer may be wider: it then reads each pixel's
   * k×k neighbourhood of the feature map (zero-padded by (k−1)/2), which the learner turns into
   * longer feature rows (`tailRows`), so training stays a matMul.
   */
  readonly kernel?: number;
}

export interface TailSpec {
  /** The graph output that feeds this tail (cached by the learner). */
  readonly feature: string;
  readonly in: number;
  readonly layers: readonly TailLayerSpec[];
  /**
   * A widened tail (training/widen_tail.py): the last `channels` of the feature are a backbone
   * tap (`tensor`, informative) appended to the head's own channels. The shipped weights read
   * none of them; the engine then runs a narrow copy of the graph (src/engine/narrow-tail.ts).
   */
  readonly tap?: { readonly tensor: string; readonly channels: number };
  /**
   * The kernel of the narrow copy's first layer (odd, ≤ the first layer's; default 1: the
   * centre tap). A tail whose shipped k×k weights are trained (not a widened 1×1) keeps its
   * kernel there and drops only the tap's channels: `"narrow_kernel": 3`.
   */
  readonly narrow_kernel?: number;
}

export type InputSize = readonly [height: number, width: number];

/** Numeric precisions a package may ship its graph in (see `precisions` below). */
export const PRECISIONS = ['fp32', 'int8', 'fp16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** One precision variant of the graph: same inputs and outputs as `files.model`. */
export interface PrecisionVariant {
  /** ONNX file inside the package (its sha256 is in `sha256`). */
  readonly file: string;
  /** Execution providers this variant is meant for (informative; e.g. fp16 → cuda, tensorrt). */
  readonly providers?: readonly string[];
  /** How it was made and what it scored (informative; written by `quantize`). */
  readonly [key: string]: unknown;
}

/**
 * Optional `precisions` section: `{ "default": "int8", "variants": { "fp32": { "file":
 * "model.onnx" }, "int8": { "file": "model.int8.onnx" }, "fp16": { ... } } }`. Without it a
 * package has one variant, fp32 = `files.model`, the default.
 */
export interface Precisions {
  /** Default fp32. */
  readonly default?: Precision;
  readonly variants: Readonly<Partial<Record<Precision, PrecisionVariant>>>;
}

export interface Manifest {
  readonly format: typeof MODEL_FORMAT;
  readonly name: string;
  readonly version: string;
  readonly input: {
    /** The resolution ladder, largest (the default) first. */
    readonly sizes: readonly InputSize[];
    readonly mean: readonly [number, number, number];
    readonly std: readonly [number, number, number];
  };
  readonly classes: readonly string[];
  readonly strides: Readonly<Record<HeadName, number>>;
  readonly outputs: readonly string[];
  readonly files: { readonly model: string; readonly tails: string } & Readonly<Record<string, string>>;
  readonly sha256: Readonly<Record<string, string>>;
  readonly tails: Readonly<Record<HeadName, TailSpec>>;
  readonly depth?: {
    readonly min_m: number;
    readonly max_m: number;
    /**
     * The focal length the depth head assumes (fx ÷ image width) and how strongly its depth
     * follows a camera's own (exponent, default 1): with a camera's camera_info, depth is scaled
     * by (fx/width ÷ fx_over_width) ^ exponent; where the package states the shape of the frames
     * that focal was fitted on (`aspect`, width ÷ height, square pixels), by the vertical focal instead,
     * (fy/height ÷ (fx_over_width × aspect)) ^ exponent, and a camera without camera_info by
     * its frames' shape (src/pipeline/depth-focal.ts). `camera_height_m` is the camera height
     * above the road the head learned and `height_exponent` how strongly its depth follows a
     * camera's own (default 1): a camera whose height the robot's TF gives has depth × (height ÷
     * camera_height_m)^height_exponent. Absent: depth is not rescaled.
     */
    readonly focal?: { readonly fx_over_width: number; readonly exponent?: number; readonly aspect?: number; readonly camera_height_m?: number; readonly height_exponent?: number };
  };
  readonly feature_stats?: { readonly mean: readonly number[]; readonly std: readonly number[] };
  readonly training?: Readonly<Record<string, unknown>>;
  readonly precisions?: Precisions;
}

/**
 * The precision variants of a package, with the implicit fp32 = `files.model` filled in
 * (a package without `precisions`, or whose `precisions.variants` has no fp32).
 */
export function precisionVariants(m: Pick<Manifest, 'files' | 'precisions'>): { default: Precision; variants: Readonly<Partial<Record<Precision, PrecisionVariant>>> } {
  const variants: Partial<Record<Precision, PrecisionVariant>> = { fp32: { file: m.files.model }, ...(m.precisions?.variants ?? {}) };
  return { default: m.precisions?.default ?? 'fp32', variants };
}

/** Output channels each head's last tail layer must produce (contract): det K+4, seg 3, depth 1. */
export function tailOutChannels(head: HeadName, numClasses: number): number {
  switch (head) {
    case 'det':
      return numClasses + 4;
    case 'seg':
      return 3;
    case 'depth':
      return 1;
  }
}

/** Length of one pixel's input row of a tail's first layer: `in` × k × k. */
export function tailRowWidth(tail: TailSpec): number {
  const k = tail.layers[0]?.kernel ?? 1;
  return tail.in * k * k;
}

/** Name and shape of every tail weight tensor the manifest implies, in graph-input order. */
export function tailTensorSpecs(tails: Manifest['tails']): { name: string; shape: readonly number[] }[] {
  const specs: { name: string; shape: readonly number[] }[] = [];
  for (const head of HEADS) {
    let cin = tails[head].in;
    tails[head].layers.forEach((layer, i) => {
      const k = layer.kernel ?? 1;
      specs.push({ name: `${head}_w${i}`, shape: [layer.out, cin, k, k] });
      specs.push({ name: `${head}_b${i}`, shape: [layer.out] });
      cin = layer.out;
    });
  }
  return specs;
}

/**
 * The optional tensors of a domain router that a weight update may carry beside its tails
 * (see src/engine/router.ts): `router_w` scores the pooled tail features (mean and standard
 * deviation of every input channel of every head's tail), `router_b` is its bias.
 */
export function routerTensorSpecs(tails: Manifest['tails']): { name: string; shape: readonly number[] }[] {
  return [
    { name: 'router_w', shape: [routerDim(tails)] },
    { name: 'router_b', shape: [1] },
  ];
}

/** Length of the pooled feature vector a router scores: 2 values per tail input channel. */
export function routerDim(tails: Manifest['tails']): number {
  return 2 * HEADS.reduce((a, h) => a + tails[h].in, 0);
}

const SEMVER = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/;
const HEX64 = /^[0-9a-f]{64}$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
const isFiniteNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Checks parsed manifest JSON against the contract. Throws MODEL_INVALID naming the field at
 * fault (dotted path, also in `context.field`) and the allowed range; returns the value typed.
 */
export function validateManifest(json: unknown, file: string): Manifest {
  const fail = (field: string, message: string): never => {
    throw new PerceptionError('MODEL_INVALID', `manifest field '${field}' ${message}`, { file, field });
  };
  const obj = (v: unknown, field: string): Obj => (isObj(v) ? v : fail(field, 'must be an object'));
  const str = (v: unknown, field: string): string =>
    typeof v === 'string' && v.length > 0 ? v : fail(field, 'must be a non-empty string');
  const arr = (v: unknown, field: string, len?: number): unknown[] => {
    if (!Array.isArray(v)) return fail(field, len === undefined ? 'must be an array' : `must be an array of ${len}`);
    if (len !== undefined && v.length !== len) fail(field, `must have exactly ${len} entries, has ${v.length}`);
    return v;
  };
  const posInt = (v: unknown, field: string): number =>
    isPosInt(v) ? v : fail(field, `must be a positive integer, got ${JSON.stringify(v)}`);

  const m = obj(json, '(root)');
  if (m.format !== MODEL_FORMAT) fail('format', `must be "${MODEL_FORMAT}", got ${JSON.stringify(m.format)}`);
  str(m.name, 'name');
  if (typeof m.version !== 'string' || !SEMVER.test(m.version)) {
    fail('version', `must be a version like 1.2.3, got ${JSON.stringify(m.version)}`);
  }

  const input = obj(m.input, 'input');
  const sizes = arr(input.sizes, 'input.sizes');
  if (sizes.length === 0) fail('input.sizes', 'must list at least one [H, W] size');
  sizes.forEach((s, i) => {
    const hw = arr(s, `input.sizes[${i}]`, 2);
    hw.forEach((v, j) => {
      if (!isPosInt(v) || v % 32 !== 0 || v > 8192) {
        fail(`input.sizes[${i}][${j}]`, `must be a positive multiple of 32 up to 8192, got ${JSON.stringify(v)}`);
      }
    });
  });
  arr(input.mean, 'input.mean', 3).forEach((v, i) => {
    if (!isFiniteNum(v) || v < 0 || v > 255) fail(`input.mean[${i}]`, `must be a number in 0..255, got ${JSON.stringify(v)}`);
  });
  arr(input.std, 'input.std', 3).forEach((v, i) => {
    if (!isFiniteNum(v) || v <= 0) fail(`input.std[${i}]`, `must be a number > 0, got ${JSON.stringify(v)}`);
  });

  const classes = arr(m.classes, 'classes');
  if (classes.length === 0) fail('classes', 'must name at least one class');
  const seen = new Set<string>();
  classes.forEach((c, i) => {
    const name = str(c, `classes[${i}]`);
    if (seen.has(name)) fail(`classes[${i}]`, `must be unique, "${name}" appears twice`);
    seen.add(name);
  });

  const strides = obj(m.strides, 'strides');
  for (const head of HEADS) posInt(strides[head], `strides.${head}`);

  const outputs = arr(m.outputs, 'outputs');
  outputs.forEach((o, i) => {
    const name = str(o, `outputs[${i}]`);
    if (!(OUTPUT_NAMES as readonly string[]).includes(name)) fail(`outputs[${i}]`, `must be one of ${OUTPUT_NAMES.join(', ')}, got "${name}"`);
  });
  for (const required of REQUIRED_OUTPUTS) {
    if (!outputs.includes(required)) fail('outputs', `must include "${required}" (required: ${REQUIRED_OUTPUTS.join(', ')})`);
  }

  const files = obj(m.files, 'files');
  str(files.model, 'files.model');
  str(files.tails, 'files.tails');
  const sha = obj(m.sha256, 'sha256');
  for (const [key, f] of Object.entries(files)) {
    const name = str(f, `files.${key}`);
    if (name.includes('..') || name.startsWith('/')) fail(`files.${key}`, `must be a plain path inside the package, got "${name}"`);
    const h = sha[name];
    if (typeof h !== 'string' || !HEX64.test(h)) {
      fail(`sha256["${name}"]`, `must be 64 lowercase hex digits (sha256 of ${name}), got ${JSON.stringify(h)}`);
    }
  }

  const tails = obj(m.tails, 'tails');
  for (const head of HEADS) {
    validateTail(tails[head], head, classes.length, fail);
    const feature = (tails[head] as Obj).feature as string;
    if (!outputs.includes(feature)) fail(`tails.${head}.feature`, `names "${feature}", which is not in 'outputs' (the learner fetches it)`);
  }

  if (m.depth !== undefined) {
    const d = obj(m.depth, 'depth');
    if (!isFiniteNum(d.min_m) || d.min_m <= 0) fail('depth.min_m', `must be a number > 0, got ${JSON.stringify(d.min_m)}`);
    if (!isFiniteNum(d.max_m) || d.max_m <= (d.min_m as number)) {
      fail('depth.max_m', `must be a number > depth.min_m, got ${JSON.stringify(d.max_m)}`);
    }
    if (d.focal !== undefined) {
      const f = obj(d.focal, 'depth.focal');
      if (!isFiniteNum(f.fx_over_width) || f.fx_over_width <= 0 || f.fx_over_width > 10) {
        fail('depth.focal.fx_over_width', `must be a number in (0, 10] (fx ÷ image width), got ${JSON.stringify(f.fx_over_width)}`);
      }
      if (f.exponent !== undefined && (!isFiniteNum(f.exponent) || f.exponent < 0 || f.exponent > 2)) {
        fail('depth.focal.exponent', `must be a number in 0..2, got ${JSON.stringify(f.exponent)}`);
      }
      if (f.camera_height_m !== undefined && (!isFiniteNum(f.camera_height_m) || f.camera_height_m <= 0 || f.camera_height_m > 20)) {
        fail('depth.focal.camera_height_m', `must be a number in (0, 20] (metres above the road), got ${JSON.stringify(f.camera_height_m)}`);
      }
      if (f.height_exponent !== undefined && (!isFiniteNum(f.height_exponent) || f.height_exponent < 0 || f.height_exponent > 2)) {
        fail('depth.focal.height_exponent', `must be a number in 0..2, got ${JSON.stringify(f.height_exponent)}`);
      }
      if (f.aspect !== undefined && (!isFiniteNum(f.aspect) || f.aspect <= 0 || f.aspect > 20)) {
        fail('depth.focal.aspect', `must be a number in (0, 20] (width ÷ height of the frames the focal was fitted on), got ${JSON.stringify(f.aspect)}`);
      }
    }
  }
  if (m.feature_stats !== undefined) {
    const fs = obj(m.feature_stats, 'feature_stats');
    const mean = arr(fs.mean, 'feature_stats.mean');
    const std = arr(fs.std, 'feature_stats.std', mean.length);
    mean.forEach((v, i) => isFiniteNum(v) || fail(`feature_stats.mean[${i}]`, `must be a finite number, got ${JSON.stringify(v)}`));
    std.forEach((v, i) => (isFiniteNum(v) && v >= 0) || fail(`feature_stats.std[${i}]`, `must be a finite number ≥ 0, got ${JSON.stringify(v)}`));
  }
  if (m.precisions !== undefined) validatePrecisions(m.precisions, sha, fail);
  return m as unknown as Manifest;
}

function validatePrecisions(v: unknown, sha: Obj, fail: (field: string, message: string) => never): void {
  if (!isObj(v)) fail('precisions', 'must be an object { default, variants }');
  const p = v as Obj;
  const allowed = `one of ${PRECISIONS.join(', ')}`;
  for (const key of Object.keys(p)) if (key !== 'default' && key !== 'variants') fail(`precisions.${key}`, 'is not a field of precisions (allowed: default, variants)');
  if (!isObj(p.variants)) fail('precisions.variants', 'must be an object { <precision>: { file } }');
  const variants = p.variants as Obj;
  for (const [name, entry] of Object.entries(variants)) {
    const at = `precisions.variants.${name}`;
    if (!(PRECISIONS as readonly string[]).includes(name)) fail(at, `names an unknown precision "${name}" (${allowed})`);
    if (!isObj(entry)) fail(at, 'must be an object { file }');
    const file = (entry as Obj).file;
    if (typeof file !== 'string' || file.length === 0) fail(`${at}.file`, 'must be a non-empty string');
    const f = file as string;
    if (f.includes('..') || f.startsWith('/')) fail(`${at}.file`, `must be a plain path inside the package, got "${f}"`);
    const h = sha[f];
    if (typeof h !== 'string' || !HEX64.test(h)) fail(`sha256["${f}"]`, `must be 64 lowercase hex digits (sha256 of ${f}, ${at}), got ${JSON.stringify(h)}`);
    const providers = (entry as Obj).providers;
    if (providers !== undefined && (!Array.isArray(providers) || providers.some((x) => typeof x !== 'string'))) fail(`${at}.providers`, 'must be an array of provider names');
  }
  if (p.default !== undefined) {
    if (typeof p.default !== 'string' || !(PRECISIONS as readonly string[]).includes(p.default)) {
      fail('precisions.default', `must be ${allowed}, got ${JSON.stringify(p.default)}`);
    }
    if (p.default !== 'fp32' && variants[p.default as string] === undefined) {
      fail('precisions.default', `names "${String(p.default)}", which is not in precisions.variants (has: fp32${Object.keys(variants).filter((k) => k !== 'fp32').map((k) => `, ${k}`).join('')})`);
    }
  }
}

/** Outputs every package must provide; the feature maps and feat_mean serve the learner. */
export const REQUIRED_OUTPUTS: readonly OutputName[] = ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth'];

function validateTail(v: unknown, head: HeadName, numClasses: number, fail: (field: string, message: string) => never): void {
  const at = `tails.${head}`;
  if (!isObj(v)) fail(at, 'must be an object { feature, in, layers }');
  const t = v as Obj;
  if (typeof t.feature !== 'string' || t.feature.length === 0) fail(`${at}.feature`, 'must name the graph output feeding the tail');
  if (!isPosInt(t.in)) fail(`${at}.in`, `must be a positive integer, got ${JSON.stringify(t.in)}`);
  if (!Array.isArray(t.layers) || t.layers.length === 0) fail(`${at}.layers`, 'must be a non-empty array');
  const layers = t.layers as unknown[];
  layers.forEach((l, i) => {
    const f = `${at}.layers[${i}]`;
    if (!isObj(l)) fail(f, 'must be an object { out, act }');
    const layer = l as Obj;
    if (!isPosInt(layer.out)) fail(`${f}.out`, `must be a positive integer, got ${JSON.stringify(layer.out)}`);
    if (layer.act !== 'relu' && layer.act !== 'linear') fail(`${f}.act`, `must be "relu" or "linear", got ${JSON.stringify(layer.act)}`);
    if (layer.kernel !== undefined) {
      if (!isPosInt(layer.kernel) || layer.kernel % 2 === 0) fail(`${f}.kernel`, `must be an odd positive integer, got ${JSON.stringify(layer.kernel)}`);
      if (i > 0 && layer.kernel !== 1) fail(`${f}.kernel`, `only the first layer of a tail may have a kernel wider than 1, got ${String(layer.kernel)}`);
    }
  });
  if (t.tap !== undefined) {
    if (!isObj(t.tap)) fail(`${at}.tap`, 'must be an object { tensor, channels }');
    const tap = t.tap as Obj;
    if (!isPosInt(tap.channels) || (tap.channels as number) >= (t.in as number)) fail(`${at}.tap.channels`, `must be a positive integer below in (${String(t.in)}), got ${JSON.stringify(tap.channels)}`);
  }
  if (t.narrow_kernel !== undefined) {
    const k = (layers[0] as Obj).kernel ?? 1;
    if (!isPosInt(t.narrow_kernel) || (t.narrow_kernel as number) % 2 === 0 || (t.narrow_kernel as number) > (k as number)) {
      fail(`${at}.narrow_kernel`, `must be an odd positive integer no wider than the first layer's kernel (${String(k)}), got ${JSON.stringify(t.narrow_kernel)}`);
    }
  }
  const want = tailOutChannels(head, numClasses);
  const last = layers[layers.length - 1] as Obj;
  if (last.out !== want) {
    const why = head === 'det' ? `K+4 = ${numClasses}+4` : head === 'seg' ? '3 classes' : '1 depth value';
    fail(`${at}.layers[${layers.length - 1}].out`, `must be ${want} (${why}), got ${String(last.out)}`);
  }
}
