import * as ort from 'onnxruntime-node';
import { PerceptionError } from '../core/errors.js';
import { PROVIDERS, type Feeds, type LogFn, type ModelRunner, type Provider, type RunnerTensor, type SessionOptions } from './runner.js';

/** Opens a session on one provider; injectable so that fall-through is testable without GPUs. */
export type OpenFn = (modelPath: string, provider: Provider, opts: SessionOptions) => Promise<ModelRunner>;

/**
 * Creates a runner on the first execution provider (in `providers` order) that loads the
 * model. Each provider that fails gets one log line saying why; the one in use gets one
 * line too. If none works: MODEL_RUNTIME listing every provider's cause.
 */
export async function createSession(
  modelPath: string,
  options: SessionOptions & {
    open?: OpenFn;
    /**
     * Runs on each opened runner before it is accepted (e.g. a warm-up inference): some
     * providers load a model and only fail on the first run (TensorRT engine build, CUDA out
     * of memory). A MODEL_RUNTIME failure falls through to the next provider; any other
     * PerceptionError (the model itself is wrong) is thrown at once.
     */
    verify?: (runner: ModelRunner) => Promise<void>;
  },
): Promise<ModelRunner> {
  const { providers, open = openOrtSession, verify } = options;
  const log: LogFn = options.log ?? (() => {});
  if (!Array.isArray(providers) || providers.length === 0) {
    throw new PerceptionError('INVALID_CONFIG', `providers must list at least one of ${PROVIDERS.join(', ')}`, { field: 'providers' });
  }
  for (const p of providers) {
    if (!PROVIDERS.includes(p)) {
      throw new PerceptionError('INVALID_CONFIG', `unknown execution provider '${String(p)}' (allowed: ${PROVIDERS.join(', ')})`, { field: 'providers' });
    }
  }
  if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1 && options.threads <= 256)) {
    throw new PerceptionError('INVALID_CONFIG', `threads must be an integer in 1..256, got ${options.threads}`, { field: 'threads' });
  }
  const causes: { provider: Provider; error: unknown }[] = [];
  const failed = (provider: Provider, error: unknown) => {
    causes.push({ provider, error });
    const next = providers[providers.indexOf(provider) + 1];
    log(`engine: execution provider '${provider}' unavailable: ${messageOf(error)}${next ? ` — trying '${next}'` : ''}`);
  };
  for (const provider of providers) {
    let runner: ModelRunner;
    try {
      runner = await open(modelPath, provider, options);
    } catch (error) {
      failed(provider, error);
      continue;
    }
    try {
      await verify?.(runner);
    } catch (error) {
      await runner.dispose().catch(() => {});
      if (error instanceof PerceptionError && error.code !== 'MODEL_RUNTIME') throw error;
      failed(provider, error);
      continue;
    }
    log(`engine: execution provider '${provider}' active for ${modelPath}`);
    return runner;
  }
  const list = causes.map((c) => `${c.provider}: ${messageOf(c.error)}`).join('; ');
  throw new PerceptionError(
    'MODEL_RUNTIME',
    `no execution provider could load the model (${list})`,
    { file: modelPath },
    { cause: new AggregateError(causes.map((c) => c.error), list) },
  );
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Opens an onnxruntime-node session on exactly one execution provider. */
export async function openOrtSession(modelPath: string, provider: Provider, opts: SessionOptions): Promise<ModelRunner> {
  ort.env.logLevel = opts.ortLogLevel ?? 'fatal';
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    ...(opts.threads !== undefined ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    graphOptimizationLevel: 'all',
  };
  const session = opts.modelBytes ? await ort.InferenceSession.create(opts.modelBytes, sessionOptions) : await ort.InferenceSession.create(modelPath, sessionOptions);
  return new OrtRunner(session, provider);
}

/** ModelRunner over an onnxruntime-node InferenceSession. */
class OrtRunner implements ModelRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private session: ort.InferenceSession | undefined;
  private inFlight = new Set<Promise<unknown>>();
  private disposing: Promise<void> | undefined;
  // Weight and size tensors are long-lived objects fed on every frame: wrapping them once
  // saves an allocation per tensor per frame. Weakly keyed, so a swapped-out set is freed.
  private readonly wrapped = new WeakMap<RunnerTensor, ort.Tensor>();

  constructor(
    session: ort.InferenceSession,
    readonly provider: Provider,
  ) {
    this.session = session;
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
  }

  async run(feeds: Feeds, fetches: readonly string[]): Promise<Record<string, RunnerTensor>> {
    const session = this.session;
    if (session === undefined || this.disposing) throw new PerceptionError('MODEL_RUNTIME', 'run() after dispose()');
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name in feeds) ortFeeds[name] = this.wrap(feeds[name]);
    const p = session.run(ortFeeds, fetches as string[]);
    this.inFlight.add(p);
    try {
      const out = await p;
      const result: Record<string, RunnerTensor> = {};
      for (const name of fetches) result[name] = unwrap(name, out[name]);
      return result;
    } finally {
      this.inFlight.delete(p);
    }
  }

  private wrap(t: RunnerTensor): ort.Tensor {
    let w = this.wrapped.get(t);
    if (w === undefined) {
      // ort.Tensor keeps a reference to `t.data` (no copy), so the caller's bytes go to native.
      w = new ort.Tensor(t.type, t.data, t.dims);
      this.wrapped.set(t, w);
    }
    return w;
  }

  dispose(): Promise<void> {
    // Releasing the native session while a run is queued (ORT runs it in a later
    // setImmediate) would free memory that run is about to use: wait for runs to settle.
    this.disposing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      const s = this.session;
      this.session = undefined;
      await s?.release();
    })();
    return this.disposing;
  }
}

function unwrap(name: string, t: ort.Tensor | undefined): RunnerTensor {
  if (t === undefined) throw new PerceptionError('MODEL_RUNTIME', `the model did not return output '${name}'`, { field: name });
  const dims = t.dims as readonly number[];
  switch (t.type) {
    case 'uint8':
      return { type: 'uint8', dims, data: t.data as Uint8Array };
    case 'float32':
      return { type: 'float32', dims, data: t.data as Float32Array };
    case 'int64':
      return { type: 'int64', dims, data: t.data as BigInt64Array };
    default:
      throw new PerceptionError('MODEL_RUNTIME', `output '${name}' has type ${t.type}; the contract allows uint8, float32, int64`, { field: name });
  }
}
