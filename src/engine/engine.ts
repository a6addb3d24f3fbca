import { PerceptionError } from '../core/errors.js';
import { OUTPUT_NAMES, PRECISIONS, SERVED_EXTRAS, precisionVariants, tailTensorSpecs, type InputSize, type Manifest, type OutputName, type Precision } from '../model/manifest.js';
import { loadModelPackage, type ModelPackage, type TailWeights } from '../model/package.js';
import { PROVIDERS, type LogFn, type ModelRunner, type Provider, type RunnerTensor } from './runner.js';
import { createSession, type OpenFn } from './session.js';
import type { CameraImage, InferOptions, RawOutputs } from './types.js';
import { WeightSet } from './weights.js';
import { checkOutputDims } from './output-shapes.js';
import { narrowTailGraph } from './narrow-tail.js';
import { encodeModel, readModel } from '../model/quantize/onnx.js';

/** Everything but the tail features: those are big and only the learner wants them. */
export const DEFAULT_OUTPUTS: readonly OutputName[] = ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth', 'feat_mean'];

export interface EngineOptions {
  readonly modelDir: string;
  /** Highest priority first (default: tensorrt, cuda, cpu). */
  readonly providers?: readonly Provider[];
  readonly threads?: number;
  /** Default model-input size: an entry of the ladder (default: its first, largest). */
  readonly inputSize?: InputSize;
  /**
   * Outputs fetched when `infer` is not told otherwise (default: DEFAULT_OUTPUTS). The narrow
   * graph keeps only these (see `narrowTail`): list here every output the runs will fetch (the
   * learner's features with adaptation), or those runs take the wide graph.
   */
  readonly outputs?: readonly OutputName[];
  readonly log?: LogFn;
  /** Replaces ONNX Runtime (tests, fakes). */
  readonly open?: OpenFn;
  /**
   * Precision variant of the package to run: fp32, int8, fp16 (manifest `precisions`).
   * Default: the `ADAPTIVE_PERCEPTION_PRECISION` environment variable when set (how the
   * CLI's `--precision` reaches engines opened in worker threads), else the manifest's default.
   */
  readonly precision?: string;
  /**
   * Further precision variants of the package to open beside `precision`, each in its own
   * session, opened once (on the provider the main one chose) and kept for the engine's life:
   * the ladder's rungs run on them (`InferOptions.variant`). Weight swaps apply to every
   * variant: the tails are graph inputs of each. Names not in the manifest's
   * `precisions.variants`: INVALID_CONFIG naming the field `variants`. Default none.
   */
  readonly variants?: readonly string[];
  /**
   * With a widened tail (a first layer k×k, manifest `tails.<head>.layers[0].kernel`), also open the narrow copy of the graph
   * and run weight sets that read only the trunk's centre tap (the shipped ones) on it: same
   * outputs, the cost of the tail before widening (src/engine/narrow-tail.ts). It keeps only the
   * engine's `outputs` and what they need: a run fetching others takes the wide graph. Default true.
   */
  readonly narrowTail?: boolean;
}

/** Environment variable naming the precision variant when `EngineOptions.precision` is not given. */
export const PRECISION_ENV = 'ADAPTIVE_PERCEPTION_PRECISION';

/**
 * Runs a model package on batches of camera frames. Built by `Engine.create` (or
 * `Engine.fromRunner` with any ModelRunner), never half-initialised.
 */
export class Engine {
  readonly manifest: Manifest;
  readonly inputSize: InputSize;
  private weights: WeightSet;
  /** The package's own tails: what a routed set falls back to. */
  readonly shipped: WeightSet;
  private readonly outputs: readonly OutputName[];
  // int64 [H, W] feeds, one per ladder size, built once: they never change.
  private readonly sizeTensors = new Map<string, RunnerTensor>();
  // Batch > 1 needs the frames in one contiguous buffer: grown on demand and kept, so steady
  // batched inference copies the pixels once and allocates nothing. Costs N×H×W×3 bytes held.
  private batchBuf = new Uint8Array(0);
  private batchBusy = false;
  private disposed: Promise<void> | undefined;
  private readonly pkgPrecision: Precision;
  // Sessions of the other precision variants opened (EngineOptions.variants), by name.
  private readonly others = new Map<Precision, ModelRunner>();
  // The narrow graph's session (weights that read only the narrow part of widened tails run there).
  private narrow: ModelRunner | undefined;

  private constructor(
    pkg: ModelPackage,
    private readonly runner: ModelRunner,
    opts: Omit<EngineOptions, 'modelDir'>,
  ) {
    this.manifest = pkg.manifest;
    this.pkgPrecision = pkg.precision ?? 'fp32';
    const m = pkg.manifest;
    for (const [h, w] of m.input.sizes) {
      this.sizeTensors.set(key([h, w]), Object.freeze({ type: 'int64', dims: [2], data: BigInt64Array.of(BigInt(h), BigInt(w)) }));
    }
    this.inputSize = opts.inputSize ? this.ladderSize(opts.inputSize, 'inputSize', 'INVALID_CONFIG') : m.input.sizes[0];
    this.outputs = checkOutputNames(opts.outputs ?? DEFAULT_OUTPUTS, runner, 'outputs', 'INVALID_CONFIG');
    checkInputs(runner, m);
    this.weights = WeightSet.fromTails(pkg.tails, m, `${modelId(m)}/shipped`);
    this.shipped = this.weights;
  }

  static async create(options: EngineOptions): Promise<Engine> {
    const fromEnv = process.env[PRECISION_ENV];
    const precision = options.precision ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined);
    const pkg = await loadModelPackage(options.modelDir, { precision });
    const others = otherVariants(pkg.manifest, options.variants, pkg.precision ?? 'fp32', options.modelDir);
    let engine: Engine | undefined;
    await createSession(pkg.modelPath, {
      providers: options.providers ?? PROVIDERS,
      threads: options.threads,
      log: options.log,
      open: options.open,
      // A provider counts as working once it has run the model at every ladder size.
      verify: async (runner) => {
        const e = new Engine(pkg, runner, options);
        await e.warmUp();
        engine = e;
      },
    });
    const e = engine as Engine;
    try {
      if (options.narrowTail !== false) await e.openNarrow(pkg.modelPath, options);
      await e.openVariants(others, options);
    } catch (err) {
      await e.dispose();
      throw err;
    }
    return e;
  }

  /** An engine over an already-open runner (fake runners in tests, a shared session). Takes ownership. */
  static fromRunner(pkg: ModelPackage, runner: ModelRunner, options: Omit<EngineOptions, 'modelDir'> = {}): Engine {
    return new Engine(pkg, runner, options);
  }

  get provider(): Provider {
    return this.runner.provider;
  }

  /** The precision variant running (manifest `precisions`). */
  get precision(): Precision {
    return this.pkgPrecision;
  }

  /** Every precision variant this engine has a session for: `precision` first, then those of `EngineOptions.variants`. */
  get variants(): readonly Precision[] {
    return [this.pkgPrecision, ...this.others.keys()];
  }

  /**
   * Opens sessions of more precision variants of the package (see EngineOptions.variants), on
   * the provider in use, each warmed up at every ladder size; variants already open are skipped.
   * INVALID_CONFIG (field `variants`) for a name the manifest does not list.
   */
  async openVariants(names: readonly string[], options: Pick<EngineOptions, 'modelDir' | 'threads' | 'log' | 'open'>): Promise<void> {
    for (const v of otherVariants(this.manifest, names, this.pkgPrecision, options.modelDir)) {
      if (this.others.has(v)) continue;
      const vp = await loadModelPackage(options.modelDir, { precision: v });
      await createSession(vp.modelPath, {
        providers: [this.provider],
        threads: options.threads,
        log: options.log,
        open: options.open,
        verify: async (runner) => {
          this.attachVariant(v, runner);
          try {
            await this.warmUp(undefined, v);
          } catch (err) {
            this.others.delete(v); // createSession disposes the runner it verified
            throw err;
          }
        },
      });
    }
  }

  /** Whether weight sets that allow it run on the narrow graph of widened tails. */
  get hasNarrowTail(): boolean {
    return this.narrow !== undefined;
  }

  private async openNarrow(modelPath: string, options: Pick<EngineOptions, 'threads' | 'log' | 'open'>): Promise<void> {
    let graph;
    try {
      const model = readModel(modelPath);
      // Outputs a package lacks (the COCO head's, asked of every package by the learner) are fetched in vain, not kept.
      const has = new Set(model.graph.output.map((o) => o.name));
      graph = narrowTailGraph(model, this.manifest, this.outputs.filter((o) => has.has(o)));
    } catch (err) {
      // e.g. a quantized variant whose det_feat passes a QuantizeLinear pair first: the wide graph serves every set
      options.log?.(`engine: no narrow tails for ${modelPath} (${(err as Error).message}); every weight set runs the widened tails`);
      return;
    }
    if (graph === undefined) return;
    // An optimisation: if its session cannot open, every weight set runs the wide graph.
    await createSession(`${modelPath} (narrow tails)`, {
      providers: [this.provider],
      threads: options.threads,
      log: options.log,
      open: options.open,
      modelBytes: encodeModel(graph),
      verify: async (runner) => {
        checkOutputNames(this.outputs, runner, 'outputs', 'INVALID_CONFIG');
        checkInputs(runner, this.manifest);
        this.narrow = runner;
        try {
          await this.warmUp();
        } catch (err) {
          this.narrow = undefined; // createSession disposes the runner it verified
          throw err;
        }
      },
    }).catch((err: unknown) => {
      this.narrow = undefined;
      options.log?.(`engine: the narrow tails did not open (${(err as Error).message}); every weight set runs the widened tails`);
    });
  }

  /**
   * Adds a session of another precision variant (Engine.create does this for
   * `EngineOptions.variants`; tests hand in fake runners). Checked against the contract like
   * the main one; the engine owns it from now on.
   */
  attachVariant(precision: string, runner: ModelRunner): void {
    if (!(PRECISIONS as readonly string[]).includes(precision)) {
      throw new PerceptionError('INVALID_ARGUMENT', `variant '${precision}' is not one of ${PRECISIONS.join(', ')}`, { model: modelId(this.manifest), field: 'variant' });
    }
    if (precision === this.pkgPrecision || this.others.has(precision as Precision)) {
      throw new PerceptionError('INVALID_ARGUMENT', `variant '${precision}' already has a session`, { model: modelId(this.manifest), field: 'variant' });
    }
    checkOutputNames(this.outputs, runner, 'outputs', 'INVALID_CONFIG');
    checkInputs(runner, this.manifest);
    this.others.set(precision as Precision, runner);
  }

  /** The outputs `infer` fetches when not told otherwise. */
  get defaultOutputs(): readonly OutputName[] {
    return this.outputs;
  }

  /** The weight set new runs will use. */
  get currentWeights(): WeightSet {
    return this.weights;
  }

  /** A weight set for this model from tail weights (checked against the tails spec). */
  makeWeightSet(tails: TailWeights, id: string): WeightSet {
    // A routed update (tails + router) routes between itself and the shipped set.
    return WeightSet.fromTails(tails, this.manifest, id, this.shipped);
  }

  /**
   * Makes `next` the set for runs that start from now on and returns the previous one. Runs
   * already started keep the set they captured. Synchronous: no frame waits for a swap.
   */
  swapWeights(next: WeightSet): WeightSet {
    if (!(next instanceof WeightSet) || !next.matches(this.weights)) {
      throw new PerceptionError('INVALID_ARGUMENT', `weight set '${String((next as WeightSet)?.id)}' does not match this model's tails`, { model: modelId(this.manifest), field: 'weights' });
    }
    const prev = this.weights;
    this.weights = next;
    return prev;
  }

  /**
   * Runs a batch of same-size frames at one ladder size. Resolves to one RawOutputs per frame,
   * whose tensors are views into the batch output. Throws BAD_IMAGE / INVALID_ARGUMENT on bad
   * input (before running anything), MODEL_RUNTIME if the runner fails.
   * The frames' bytes must not change until the promise settles (batch 1 hands them to the
   * runtime without a copy). Output arrays are fresh per run and belong to the caller: reusing
   * them would save an allocation but make every consumer that queues results copy them.
   */
  async infer(frames: readonly CameraImage[], options: InferOptions = {}): Promise<RawOutputs[]> {
    if (this.disposed) throw new PerceptionError('MODEL_RUNTIME', 'infer() after dispose()', { model: modelId(this.manifest) });
    const size = options.size ? this.ladderSize(options.size, 'size', 'INVALID_ARGUMENT') : this.inputSize;
    const main = this.runnerFor(options.variant);
    const fetches = options.outputs ? checkOutputNames(options.outputs, main, 'outputs', 'INVALID_ARGUMENT') : this.outputs;
    const { width, height } = checkFrames(frames);
    // Captured now: a swap during the run does not affect it.
    const weights = options.weights ?? this.weights;
    if (options.weights && !(options.weights instanceof WeightSet && options.weights.matches(this.weights))) {
      throw new PerceptionError('INVALID_ARGUMENT', `weight set '${String(options.weights.id)}' does not match this model's tails`, { model: modelId(this.manifest), field: 'weights' });
    }
    // The narrow graph keeps only the engine's outputs (narrowTailGraph): a run that fetches more takes the wide one.
    const runner = main === this.runner && this.narrow !== undefined && weights.narrow && fetches.every((f) => this.outputs.includes(f)) ? this.narrow : main;
    const n = frames.length;
    const bytes = width * height * 3;
    let ownsBatch = false;
    let image: Uint8Array;
    if (n === 1) {
      // The caller's bytes go to the runtime as they are (a view, never a copy).
      image = frames[0].data.length === bytes ? frames[0].data : frames[0].data.subarray(0, bytes);
    } else {
      // A second batched call while one is in flight gets its own buffer rather than
      // overwriting pixels the first run has not read yet (rare; the scheduler runs one at a time).
      ownsBatch = !this.batchBusy;
      if (ownsBatch && this.batchBuf.length < n * bytes) this.batchBuf = new Uint8Array(n * bytes);
      image = ownsBatch ? this.batchBuf.subarray(0, n * bytes) : new Uint8Array(n * bytes);
      frames.forEach((f, i) => image.set(f.data.subarray(0, bytes), i * bytes));
      this.batchBusy ||= ownsBatch;
    }
    const feeds: Record<string, RunnerTensor> = {
      image: { type: 'uint8', dims: [n, height, width, 3], data: image },
      size: this.sizeTensors.get(key(size)) as RunnerTensor,
    };
    for (const [name, t] of weights.tensors) feeds[name] = t;
    let out: Record<string, RunnerTensor>;
    try {
      out = await runner.run(feeds, fetches);
    } catch (cause) {
      if (cause instanceof PerceptionError) throw cause;
      throw new PerceptionError('MODEL_RUNTIME', `inference failed: ${(cause as Error)?.message ?? String(cause)}`, { model: modelId(this.manifest), provider: this.provider }, { cause });
    } finally {
      if (ownsBatch) this.batchBusy = false;
    }
    for (const name of fetches) checkOutputDims(name, out[name], n, size, this.manifest);
    const meta = { size, camera: { width, height }, weights: weights.id, ...(main !== this.runner ? { variant: options.variant } : {}) };
    return splitBatch(out, fetches, n, meta);
  }

  /**
   * Runs a small grey frame at each ladder size (or the given ones), on `variant` (default the
   * main one): first runs allocate and, on GPU providers, build kernels/engines per shape,
   * which should not hit a live frame.
   */
  async warmUp(sizes: readonly InputSize[] = this.manifest.input.sizes, variant?: string): Promise<void> {
    const frame = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(128) };
    for (const size of sizes) await this.infer([frame], { size, variant });
  }

  /** Releases the runners. Idempotent: later calls return the same promise. */
  dispose(): Promise<void> {
    this.disposed ??= Promise.all([this.runner.dispose(), ...(this.narrow ? [this.narrow.dispose()] : []), ...[...this.others.values()].map((r) => r.dispose())]).then(() => undefined);
    return this.disposed;
  }

  /** The session of `variant`: the main one when absent or when it names the main precision. */
  private runnerFor(variant: string | undefined): ModelRunner {
    if (variant === undefined || variant === this.pkgPrecision) return this.runner;
    const r = this.others.get(variant as Precision);
    if (r === undefined) {
      const has = this.variants.join(', ');
      throw new PerceptionError('INVALID_ARGUMENT', `variant '${variant}' has no session in this engine (open: ${has}; EngineOptions.variants opens more)`, { model: modelId(this.manifest), field: 'variant' });
    }
    return r;
  }

  private ladderSize(s: InputSize, field: string, code: 'INVALID_ARGUMENT' | 'INVALID_CONFIG'): InputSize {
    const found = this.manifest.input.sizes.find(([h, w]) => h === s?.[0] && w === s?.[1]);
    if (!found) {
      const ladder = this.manifest.input.sizes.map(([h, w]) => `[${h}, ${w}]`).join(', ');
      throw new PerceptionError(code, `${field} ${JSON.stringify(s)} is not on the model's size ladder (${ladder})`, { model: modelId(this.manifest), field });
    }
    return found;
  }
}

const key = (s: InputSize) => `${s[0]}x${s[1]}`;

function checkInputs(runner: ModelRunner, m: Manifest): void {
  const needed = ['image', 'size', ...tailTensorSpecs(m.tails).map((s) => s.name)];
  const missing = needed.filter((n) => !runner.inputNames.includes(n));
  if (missing.length > 0) {
    throw new PerceptionError('MODEL_INVALID', `the model graph lacks input(s) ${missing.join(', ')} required by the contract`, { model: modelId(m) });
  }
}

/** `EngineOptions.variants` checked against the manifest, without the main precision and repeats. */
function otherVariants(m: Manifest, asked: readonly string[] | undefined, main: Precision, file: string): Precision[] {
  if (asked === undefined) return [];
  if (!Array.isArray(asked)) throw new PerceptionError('INVALID_CONFIG', 'variants must be an array of precision names', { field: 'variants', file });
  const { variants } = precisionVariants(m);
  const out: Precision[] = [];
  for (const v of asked) {
    if (!(typeof v === 'string' && v in variants)) {
      throw new PerceptionError('INVALID_CONFIG', `variants: '${String(v)}' is not a precision variant of ${modelId(m)} (it has: ${Object.keys(variants).join(', ')})`, { field: 'variants', file, model: modelId(m) });
    }
    if (v !== main && !out.includes(v as Precision)) out.push(v as Precision);
  }
  return out;
}
const modelId = (m: Manifest) => `${m.name}@${m.version}`;

function checkOutputNames(names: readonly OutputName[], runner: ModelRunner, field: string, code: 'INVALID_ARGUMENT' | 'INVALID_CONFIG'): readonly OutputName[] {
  if (!Array.isArray(names) || names.length === 0) throw new PerceptionError(code, `${field} must list at least one output`, { field });
  for (const n of names) {
    if (!OUTPUT_NAMES.includes(n)) throw new PerceptionError(code, `${field}: unknown output '${String(n)}' (allowed: ${OUTPUT_NAMES.join(', ')})`, { field });
    if (!runner.outputNames.includes(n) && !isServedExtra(n)) throw new PerceptionError('MODEL_INVALID', `the model graph has no output '${n}'`, { field });
  }
  // The served extras (a merged second detector's peaks) are fetched where the graph has them:
  // the learner's features ask for them whatever the package.
  const kept = names.filter((n) => runner.outputNames.includes(n));
  if (kept.length === 0) throw new PerceptionError(code, `${field} must list at least one output the graph has`, { field });
  return Object.freeze(kept);
}

function checkFrames(frames: readonly CameraImage[]): { width: number; height: number } {
  if (!Array.isArray(frames) || frames.length === 0) throw new PerceptionError('INVALID_ARGUMENT', 'infer() needs at least one frame', { field: 'frames' });
  const { width, height } = frames[0] ?? {};
  frames.forEach((f, i) => {
    if (!(Number.isInteger(f?.width) && Number.isInteger(f?.height) && f.width > 0 && f.height > 0 && f.width <= 16384 && f.height <= 16384)) {
      throw new PerceptionError('BAD_IMAGE', `frame ${i} size ${f?.width}x${f?.height} is outside 1..16384`, { index: i, field: 'frames' });
    }
    if (!(f.data instanceof Uint8Array) || f.data.length < f.width * f.height * 3) {
      throw new PerceptionError('BAD_IMAGE', `frame ${i} has ${f.data?.length} bytes, ${f.width}x${f.height} rgb8 needs ${f.width * f.height * 3}`, { index: i, field: 'frames' });
    }
    if (f.width !== width || f.height !== height) {
      throw new PerceptionError('INVALID_ARGUMENT', `frame ${i} is ${f.width}x${f.height}, frame 0 is ${width}x${height}: a batch needs one size`, { index: i, field: 'frames' });
    }
  });
  return { width, height };
}

function splitBatch(out: Record<string, RunnerTensor>, fetches: readonly OutputName[], n: number, meta: Omit<RawOutputs, 'tensors'>): RawOutputs[] {
  const res: RawOutputs[] = [];
  for (let i = 0; i < n; i++) {
    const tensors: RawOutputs['tensors'] = {};
    for (const name of fetches) {
      const t = out[name];
      const per = t.data.length / n;
      const dims = t.dims.slice(1);
      const view = n === 1 ? t.data : t.data.subarray(i * per, (i + 1) * per);
      tensors[name] = { type: t.type, dims, data: view } as RunnerTensor;
    }
    res.push({ ...meta, tensors });
  }
  return res;
}

const isServedExtra = (n: OutputName): boolean => (SERVED_EXTRAS as readonly string[]).includes(n);
