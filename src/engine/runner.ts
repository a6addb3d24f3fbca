/**
 * The model-runner port: what the engine, scheduler and tests need from an inference backend.
 * No ONNX Runtime import here; `session.ts` implements it over onnxruntime-node, and tests
 * and the scheduler can supply fakes.
 */

/** A tensor as the engine hands it to a runner and gets it back: plain typed arrays, row-major. */
export type RunnerTensor =
  | { readonly type: 'uint8'; readonly dims: readonly number[]; readonly data: Uint8Array }
  | { readonly type: 'float32'; readonly dims: readonly number[]; readonly data: Float32Array }
  | { readonly type: 'int64'; readonly dims: readonly number[]; readonly data: BigInt64Array };

export type Feeds = Readonly<Record<string, RunnerTensor>>;

/** Execution providers in the order the product prefers them. */
export const PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface ModelRunner {
  /** The execution provider actually running the model. */
  readonly provider: Provider;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Runs the model once. Only `fetches` are copied out (others may still be computed).
   * Contract for callers: feed tensors must not be modified until the promise settles
   * (a runner may read them after `run` returns, e.g. in a later tick).
   */
  run(feeds: Feeds, fetches: readonly string[]): Promise<Record<string, RunnerTensor>>;
  /** Releases native resources. Idempotent; waits for in-flight runs. */
  dispose(): Promise<void>;
}

export type LogFn = (line: string) => void;

export interface SessionOptions {
  /** Providers to try, highest priority first; the first that loads the model wins. */
  readonly providers: readonly Provider[];
  /** Intra-op threads (default: ONNX Runtime's choice). */
  readonly threads?: number;
  /** One line per provider tried, and one naming the provider in use. */
  readonly log?: LogFn;
  /**
   * ONNX Runtime's own native log level (process-wide). Default 'fatal': a failing provider
   * is reported once by our log line carrying ORT's message, not again by ORT on stderr.
   */
  readonly ortLogLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
  /** The graph itself, when it is not the file at the model path (a graph derived in memory; the path then only names it in logs). */
  readonly modelBytes?: Uint8Array;
}
