import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PerceptionError } from '../core/errors.js';
import { PRECISIONS, precisionVariants, routerTensorSpecs, tailTensorSpecs, validateManifest, type Manifest, type Precision } from './manifest.js';

/** One tail weight tensor: `[out, in, k, k]` weights (k = the layer's kernel, usually 1) or `[out]` bias, row-major float32. */
export interface TailTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Tail weights by graph-input name (`det_w0`, `det_b0`, …). */
export type TailWeights = ReadonlyMap<string, TailTensor>;

export interface ModelPackage {
  readonly dir: string;
  readonly manifest: Manifest;
  /** Absolute or dir-relative path of the ONNX graph: the selected precision's file. */
  readonly modelPath: string;
  /** The precision variant `modelPath` holds (absent in hand-built packages: fp32). */
  readonly precision?: Precision;
  readonly tails: TailWeights;
}

export interface LoadOptions {
  /**
   * Which precision variant to run (manifest `precisions.variants`); default the manifest's
   * `precisions.default`, else fp32 (`files.model`). Unknown or absent: INVALID_CONFIG
   * naming the field `precision` and what the package has.
   */
  readonly precision?: string;
}

/** The variant `requested` (or the manifest's default) of a validated manifest; its file name. */
export function selectPrecision(manifest: Manifest, requested?: string, file = 'manifest.json'): { precision: Precision; file: string } {
  const { default: dflt, variants } = precisionVariants(manifest);
  const has = Object.keys(variants).join(', ');
  const want = requested ?? dflt;
  if (!(PRECISIONS as readonly string[]).includes(want)) {
    throw new PerceptionError('INVALID_CONFIG', `precision '${want}' is not one of ${PRECISIONS.join(', ')} (this package has: ${has})`, { field: 'precision', file });
  }
  const v = variants[want as Precision];
  if (v === undefined) {
    throw new PerceptionError('INVALID_CONFIG', `precision '${want}' is not in the package's manifest field 'precisions.variants' (this package has: ${has})`, {
      field: 'precision',
      file,
      model: `${manifest.name}@${manifest.version}`,
    });
  }
  return { precision: want as Precision, file: v.file };
}

/**
 * Loads and verifies a model package folder: the manifest against the contract, every named
 * file's sha256, and the shipped tail weights against the manifest's tails spec.
 * Throws MODEL_INVALID naming the file (and field or tensor) at fault.
 */
export async function loadModelPackage(dir: string, options: LoadOptions = {}): Promise<ModelPackage> {
  const manifestFile = join(dir, 'manifest.json');
  const manifest = validateManifest(parseJson(await readOrFail(manifestFile), manifestFile), manifestFile);
  const ctx = { model: `${manifest.name}@${manifest.version}` };
  const selected = selectPrecision(manifest, options.precision, manifestFile);

  let tailsBytes: Buffer | undefined;
  // Every file in `files`, and the selected variant's graph (other variants are not read).
  for (const name of new Set([...Object.values(manifest.files), selected.file])) {
    const file = join(dir, name);
    const expected = manifest.sha256[name];
    let found: string;
    if (name === manifest.files.tails) {
      tailsBytes = await readOrFail(file, ctx);
      found = createHash('sha256').update(tailsBytes).digest('hex');
    } else {
      found = await hashFile(file, ctx);
    }
    if (found !== expected) {
      throw new PerceptionError('MODEL_INVALID', `sha256 of ${name} does not match the manifest: expected ${expected}, found ${found}`, {
        ...ctx,
        file,
        expected,
        found,
      });
    }
  }
  const tailsFile = join(dir, manifest.files.tails);
  const tails = checkTailWeights(parseJson(tailsBytes as Buffer, tailsFile), manifest, tailsFile);
  return { dir, manifest, modelPath: join(dir, selected.file), precision: selected.precision, tails };
}

/**
 * Turns `{ name: { shape, data } }` JSON into TailWeights, checking that exactly the tensors
 * the manifest's tails spec implies are present, with the right shapes and finite values.
 * Also the entry point for weight updates (same format).
 */
export function checkTailWeights(json: unknown, manifest: Pick<Manifest, 'tails'>, file: string, options: { router?: 'allowed' | 'forbidden' } = {}): TailWeights {
  const bad = (message: string, tensor?: string) => new PerceptionError('MODEL_INVALID', message, { file, field: tensor });
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('tail weights must be an object { name: { shape, data } }');
  const src = json as Record<string, unknown>;
  const specs = tailTensorSpecs(manifest.tails);
  // A weight update may carry a domain router (all of its tensors or none); a package may not.
  const router = routerTensorSpecs(manifest.tails);
  const routed = options.router === 'allowed' && router.some((r) => src[r.name] !== undefined);
  if (routed) specs.push(...router);
  const expected = new Set(specs.map((s) => s.name));
  for (const name of Object.keys(src)) {
    if (!expected.has(name)) throw bad(`tail weights hold '${name}', which the manifest's tails spec does not define`, name);
  }
  const out = new Map<string, TailTensor>();
  for (const { name, shape } of specs) {
    const t = src[name] as { shape?: unknown; data?: unknown } | undefined;
    if (t === undefined) throw bad(`${routed && name.startsWith('router_') ? 'router' : 'tail'} weight '${name}' is missing (expected shape [${shape.join(', ')}])`, name);
    const got = Array.isArray(t.shape) ? t.shape : undefined;
    if (got === undefined || got.length !== shape.length || got.some((v, i) => v !== shape[i])) {
      throw bad(`tail weight '${name}' has shape ${JSON.stringify(t.shape)}, expected [${shape.join(', ')}]`, name);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    const values = t.data;
    if (!Array.isArray(values) && !(values instanceof Float32Array)) throw bad(`tail weight '${name}' has no data array`, name);
    if (values.length !== n) throw bad(`tail weight '${name}' has ${values.length} values, expected ${n}`, name);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw bad(`tail weight '${name}' value [${i}] is ${String(v)}: every value must be a finite number`, name);
      }
      data[i] = v;
    }
    out.set(name, { shape: Object.freeze([...shape]), data });
  }
  return out;
}

async function readOrFail(file: string, ctx: Record<string, string> = {}): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new PerceptionError('MODEL_INVALID', `cannot read ${file}: ${(cause as Error).message}`, { ...ctx, file }, { cause });
  }
}

function parseJson(bytes: Buffer, file: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new PerceptionError('MODEL_INVALID', `${file} is not valid JSON: ${(cause as Error).message}`, { file }, { cause });
  }
}

// Streamed so that a large ONNX file is never held twice in memory just to be hashed.
function hashFile(file: string, ctx: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => h.update(chunk))
      .on('error', (cause) =>
        reject(new PerceptionError('MODEL_INVALID', `cannot read ${file}: ${cause.message}`, { ...ctx, file }, { cause })),
      )
      .on('end', () => resolve(h.digest('hex')));
  });
}
