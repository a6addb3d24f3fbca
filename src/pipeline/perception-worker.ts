import { Worker } from 'node:worker_threads';
import type { Engine } from '../engine/engine.js';
import type { Provider } from '../engine/runner.js';
import type { WeightSet } from '../engine/weights.js';
import { PerceptionError } from '../core/errors.js';
import { fromWireError, spawnModuleWorker, type WireError } from '../core/worker-thread.js';
import type { InputSize, Manifest, OutputName } from '../model/manifest.js';
import type { RunnerTensor } from '../engine/runner.js';
import type { TailWeights } from '../model/package.js';
import type { BatchRunner } from '../scheduler/index.js';
import type { FrameOutcome, FramePayload } from './frame-runner.js';
import type { EncodedImage, RgbImage } from './image-decode.js';
import type { FrameResult, PerceptionOptions } from './perception.js';

// ------------------------------------------------------------------ protocol (both sides)

/** workerData: what the worker needs to build its Engine and Perception. */
export interface WorkerInit {
  modelDir: string;
  providers?: readonly Provider[];
  inputSize?: InputSize;
  /** See PerceptionWorkerOptions.variants. */
  variants?: readonly string[];
  threads: number;
  perception: PerceptionOptions;
  /** See PerceptionWorkerOptions.returnTensors (undefined: all). */
  returnTensors?: readonly OutputName[];
  /** See PerceptionWorkerOptions.hold. */
  hold?: HeldOutputs;
}

/** Raw outputs the worker keeps for the newest `frames` frames of each camera instead of sending them. */
export interface HeldOutputs {
  tensors: readonly OutputName[];
  frames: number;
}

/** Raw engine outputs of one frame, by name. */
export type FrameTensors = Partial<Record<OutputName, RunnerTensor>>;

export interface WireFrame {
  camera: string;
  topic: string;
  index: number;
  stampNs: bigint;
  logTimeNs: bigint;
  encoded: EncodedImage;
  /** Render the overlay in the worker (the main thread decided from the overlay rate). */
  overlay: boolean;
  /** The bytes were moved, not copied (FramePayload.owned): the result's image must bring them back. */
  moved?: boolean;
}

export type ToWorker =
  | { type: 'run'; id: number; frames: WireFrame[]; size: InputSize; variant?: string }
  | { type: 'swap'; id: number; tails: TailWeights; weightsId: string }
  | { type: 'probe'; id: number; frames: RgbImage[]; tails: TailWeights; weightsId: string; size?: InputSize }
  | { type: 'take'; id: number; camera: string; stampNs: bigint }
  | { type: 'dispose'; id: number };

export type { WireError };

export type WireOutcome = { ok: true; result: FrameResult; image?: RgbImage } | { ok: false; error: WireError };

export type FromWorker =
  | { type: 'ready'; manifest: Manifest; inputSize: InputSize; provider: Provider; weights: string; variants: readonly string[] }
  | { type: 'fatal'; error: WireError }
  | { type: 'log'; line: string }
  | { type: 'reply'; id: number; error?: WireError; outcomes?: WireOutcome[]; results?: FrameResult[]; previous?: string; tensors?: FrameTensors };

// ------------------------------------------------------------------ main-thread side

/**
 * replay's default for `inference`: the worker. At the recorded rate it wins (the event loop
 * stays free for bag reading, publishing and scoring); with `--fast` the two are a draw, since
 * fast mode waits for each frame before reading the next and the worker's one ORT thread is
 * slower than the main thread's two (`npm run -s bench -- --json --no-peers --inference
 * main|worker`; docs/experiments/2026-11-28-threads-and-bag-reading.md).
 */
export const DEFAULT_INFERENCE: 'worker' | 'main' = 'worker';

export interface PerceptionWorkerOptions {
  modelDir: string;
  providers?: readonly Provider[];
  inputSize?: InputSize;
  /**
   * Precision variants the worker's engine opens beside its main one (EngineOptions.variants),
   * once, for the ladder's rungs: `run(frames, size, variant)` picks one. Weight swaps reach
   * every variant (the tails are graph inputs of each).
   */
  variants?: readonly string[];
  /**
   * ONNX Runtime intra-op threads inside the worker (default 1): on a 2-core machine the
   * model gets one core and the main thread (bag I/O, result writing, scoring) keeps the other.
   */
  threads?: number;
  perception: PerceptionOptions;
  /**
   * Overlays at most this often per camera (Hz), rendered in the worker, with the rule replay's
   * outputs use (first frame, then a frame at least 1/rate after the last overlay). A payload's
   * own `overlay` flag wins. Default: none rendered in the worker (`Perception.overlay` renders
   * on the main thread when a result has none).
   */
  overlayRateHz?: number;
  /**
   * A main-thread Engine whose current weight set the worker follows: when it changes (an
   * adaptation hot-swap), the worker swaps to it before the next run, at that frame boundary.
   */
  follow?: Pick<Engine, 'currentWeights'>;
  /**
   * The raw engine outputs that come back with each result (default: every one fetched). The
   * worker decodes the frame itself, so the main thread needs few or none of them, and each
   * one it gets is a buffer the main thread's heap must take in and collect: with the tail
   * features `replay --adapt` fetches, 2.9 MB a frame at the default input size, of which only
   * `feat_mean` (256 bytes) is read for every frame.
   */
  returnTensors?: readonly OutputName[];
  /**
   * Raw outputs kept in the worker, for the newest `frames` frames of each camera, instead of
   * being sent; `takeHeld` fetches one frame's. `replay --adapt` holds the tails' features
   * (2.4 MB a frame) that only a flagged frame, at most a few a second, sends to the learner.
   */
  hold?: HeldOutputs;
  log?: (line: string) => void;
  /** How long `create` waits for the worker's engine (default 120 s). */
  startTimeoutMs?: number;
}

interface Pending {
  resolve: (msg: Extract<FromWorker, { type: 'reply' }>) => void;
  reject: (err: Error) => void;
}

/**
 * A BatchRunner that runs perception in a worker thread. onnxruntime-node executes
 * `session.run` natively on the calling thread's event loop (docs/architecture.md): on the main thread
 * that blocks bag reading, publishing and scoring for the whole inference. Here the worker
 * owns the Engine (ORT with `threads` intra-op threads, default 1), decodes the images, runs
 * `Perception.processBatch`, renders the overlays asked for, and sends the results back with
 * their buffers transferred (moved, not copied). The main thread's event loop stays free.
 *
 * Messages are handled in order, so `swapWeights` between two `run`s switches at exactly that
 * frame boundary. Worker errors come back as PerceptionErrors with their codes; a crashed or
 * exited worker rejects every pending and later call (the scheduler drops those frames with
 * reason `error`), never leaving a caller waiting.
 */
export class PerceptionWorker implements BatchRunner<FramePayload, FrameOutcome> {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: PerceptionError | undefined;
  private disposing: Promise<void> | undefined;
  private readonly lastOverlay = new Map<string, bigint>();
  private readonly overlayPeriodNs: bigint | undefined;
  private followed: WeightSet | undefined;
  private weightsId: string;

  private constructor(
    private readonly worker: Worker,
    ready: Extract<FromWorker, { type: 'ready' }>,
    private readonly options: PerceptionWorkerOptions,
  ) {
    this.manifest = ready.manifest;
    this.inputSize = ready.inputSize;
    this.provider = ready.provider;
    this.variants = ready.variants;
    this.weightsId = ready.weights;
    this.overlayPeriodNs = options.overlayRateHz && options.overlayRateHz > 0 ? BigInt(Math.round(1e9 / options.overlayRateHz)) : undefined;
    this.followed = options.follow?.currentWeights;
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (err) => this.fail(new PerceptionError('MODEL_RUNTIME', `perception worker crashed: ${err.message}`, {}, { cause: err })));
    worker.on('exit', (code) => this.fail(new PerceptionError('MODEL_RUNTIME', `perception worker exited (code ${code})`)));
    // Idle, the worker does not keep the process alive; a call in flight does.
    worker.unref();
  }

  readonly manifest: Manifest;
  readonly inputSize: InputSize;
  readonly provider: Provider;
  /** ONNX Runtime intra-op threads of the worker's engine. */
  get threads(): number {
    return this.options.threads ?? 1;
  }
  /** The precision variants the worker's engine has sessions for, its main one first. */
  readonly variants: readonly string[];

  /** Id of the weight set the worker's engine runs with (as of the last swap). */
  get currentWeightsId(): string {
    return this.weightsId;
  }

  /** Starts the worker and resolves once its engine has loaded and warmed up. */
  static async create(options: PerceptionWorkerOptions): Promise<PerceptionWorker> {
    const threads = options.threads ?? 1;
    if (!(Number.isInteger(threads) && threads >= 1 && threads <= 256)) {
      throw new PerceptionError('INVALID_CONFIG', `threads must be an integer in 1..256, got ${threads}`, { field: 'threads' });
    }
    const hold = options.hold;
    if (hold && !(Number.isInteger(hold.frames) && hold.frames >= 1 && hold.frames <= 1000)) {
      throw new PerceptionError('INVALID_CONFIG', `hold.frames must be an integer in 1..1000, got ${hold.frames}`, { field: 'hold.frames' });
    }
    const init: WorkerInit = {
      modelDir: options.modelDir,
      providers: options.providers,
      inputSize: options.inputSize,
      variants: options.variants,
      threads,
      perception: options.perception,
      returnTensors: options.returnTensors,
      hold: hold && hold.tensors.length > 0 ? { tensors: [...hold.tensors], frames: hold.frames } : undefined,
    };
    const worker = spawnWorker(init);
    const log = options.log ?? (() => {});
    let onMessage: (m: FromWorker) => void = () => {};
    const ready = await new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PerceptionError('MODEL_RUNTIME', `perception worker did not load the model within ${options.startTimeoutMs ?? 120_000} ms`, { file: options.modelDir })), options.startTimeoutMs ?? 120_000);
      const done = () => {
        clearTimeout(timer);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onError = (err: Error) => {
        done();
        reject(new PerceptionError('MODEL_RUNTIME', `perception worker failed to start: ${err.message}`, { file: options.modelDir }, { cause: err }));
      };
      const onExit = (code: number) => {
        done();
        reject(new PerceptionError('MODEL_RUNTIME', `perception worker exited (code ${code}) before its engine loaded`, { file: options.modelDir }));
      };
      onMessage = (m: FromWorker) => {
        if (m.type === 'log') log(m.line);
        else if (m.type === 'ready') {
          done();
          resolve(m);
        } else if (m.type === 'fatal') {
          done();
          reject(toError(m.error));
        }
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (err: unknown) => {
      worker.off('message', onMessage);
      await worker.terminate();
      throw err;
    });
    worker.off('message', onMessage);
    return new PerceptionWorker(worker, ready, options);
  }

  /**
   * Runs a batch in the worker. A frame that owns its bytes (`FramePayload.owned`: intake's
   * copy in the ROS node) is moved to the worker and back with its result: no copy either way.
   * Other encoded bytes are copied into a fresh buffer that is transferred, not
   * structured-cloned: a bag message's `data` is a view into its whole decompressed chunk
   * (other messages, ground truth), so transferring it would detach the rest of the chunk, and
   * cloning a view clones its entire ArrayBuffer. One memcpy of the frame (~0.3 ms for 1280x720
   * rgb8) is the cheapest safe move there, and the main thread keeps its bytes, so a packed
   * rgb8 frame's image needs nothing sent back. (Moving saved two such copies a frame in the
   * node: docs/experiments/2026-12-06-ladder-and-per-frame-path.md.)
   */
  async run(frames: readonly FramePayload[], size: InputSize, variant?: string): Promise<readonly FrameOutcome[]> {
    this.syncFollowed();
    const transfer: ArrayBuffer[] = [];
    const wire: WireFrame[] = frames.map((f) => {
      const own = f.encoded.data;
      const movable = f.owned === true && own.buffer instanceof ArrayBuffer && own.byteOffset === 0 && own.byteLength === own.buffer.byteLength && !transfer.includes(own.buffer);
      // new Uint8Array(view) always copies (a Node Buffer's slice() would be a view of the chunk).
      const data = movable ? own : new Uint8Array(own);
      transfer.push(data.buffer as ArrayBuffer);
      return { camera: f.camera, topic: f.topic, index: f.index, stampNs: f.stampNs, logTimeNs: f.logTimeNs, encoded: { ...f.encoded, data }, overlay: this.wantOverlay(f), ...(movable ? { moved: true } : {}) };
    });
    const reply = await this.call({ type: 'run', id: 0, frames: wire, size, ...(variant !== undefined ? { variant } : {}) }, transfer);
    const outcomes = reply.outcomes ?? [];
    return frames.map((f, i): FrameOutcome => {
      const o = outcomes[i];
      if (!o) return { ok: false, error: new PerceptionError('MODEL_RUNTIME', 'perception worker returned no outcome for a frame', { camera: f.camera, topic: f.topic, index: f.index }) };
      if (!o.ok) return { ok: false, error: toError(o.error) };
      if (wire[i].overlay) this.lastOverlay.set(f.camera, f.stampNs);
      if (!o.image && wire[i].moved) return { ok: false, error: new PerceptionError('MODEL_RUNTIME', 'perception worker kept a moved frame', { camera: f.camera, topic: f.topic, index: f.index }) };
      return { ok: true, result: o.result, image: o.image ?? mainImage(f.encoded) };
    });
  }

  /** Makes `tails` the worker engine's weight set from its next run on; resolves to the previous set's id. */
  async swapWeights(tails: TailWeights, id: string): Promise<string> {
    const reply = await this.call({ type: 'swap', id: 0, tails, weightsId: id });
    this.weightsId = id;
    return reply.previous ?? '';
  }

  /** Runs frames with candidate tails without swapping them in (a warm-up probe before a swap). */
  async probe(frames: readonly RgbImage[], tails: TailWeights, opts: { id?: string; size?: InputSize } = {}): Promise<FrameResult[]> {
    // Copies (not transfers): the caller keeps its frames.
    const copies = frames.map((f) => ({ width: f.width, height: f.height, data: new Uint8Array(f.data) }));
    const reply = await this.call(
      { type: 'probe', id: 0, frames: copies, tails, weightsId: opts.id ?? 'probe', size: opts.size },
      copies.map((c) => c.data.buffer),
    );
    return reply.results ?? [];
  }

  /**
   * The held outputs (see `hold`) of `camera`'s frame at `stampNs`, moved out of the worker:
   * a second call for the same frame, or one for a frame already pushed out by newer ones, gets
   * undefined. Answered after the runs posted before it.
   */
  async takeHeld(camera: string, stampNs: bigint): Promise<FrameTensors | undefined> {
    return (await this.call({ type: 'take', id: 0, camera, stampNs })).tensors;
  }

  /** Stops the worker (idempotent). Pending calls reject; resolves once the thread has exited. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      // Ask the worker to release its ONNX Runtime session itself first (it waits for a run in
      // flight): tearing a thread down under a native session can take the process with it.
      // terminate() is the fallback for a worker that does not answer in time.
      const graceful = this.failure ? Promise.resolve() : this.call({ type: 'dispose', id: 0 }).catch(() => undefined);
      await Promise.race([graceful, new Promise((r) => setTimeout(r, 2000).unref())]);
      this.fail(new PerceptionError('MODEL_RUNTIME', 'perception worker disposed'));
      await this.worker.terminate();
    })();
    return this.disposing;
  }

  private wantOverlay(f: FramePayload): boolean {
    if (f.overlay !== undefined) return f.overlay;
    if (this.overlayPeriodNs === undefined) return false;
    const last = this.lastOverlay.get(f.camera);
    return last === undefined || f.stampNs - last >= this.overlayPeriodNs;
  }

  private syncFollowed(): void {
    const ws = this.options.follow?.currentWeights;
    if (!ws || ws === this.followed) return;
    this.followed = ws;
    const tails = ws.toTails(); // router tensors included: the worker routes as the main engine would
    // Posted before the run that follows it, so the swap lands at that frame boundary. A
    // rejected swap (cannot happen for a set the main engine accepted) is logged, not thrown.
    this.swapWeights(tails, ws.id).catch((err: unknown) => this.options.log?.(`perception worker: swap to '${ws.id}' failed: ${(err as Error).message}`));
  }

  private call(msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<Extract<FromWorker, { type: 'reply' }>> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      try {
        this.worker.postMessage({ ...msg, id }, transfer);
      } catch (err) {
        this.settle(id);
        reject(err as Error);
      }
    });
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
    return p;
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'log') this.options.log?.(m.line);
    else if (m.type === 'reply') {
      const p = this.settle(m.id);
      if (!p) return;
      if (m.error) p.reject(toError(m.error));
      else p.resolve(m);
    } else if (m.type === 'fatal') this.fail(toError(m.error));
  }

  private fail(err: PerceptionError): void {
    this.failure ??= err;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(this.failure);
  }
}

/** A worker error as a PerceptionError with its code and context (not re-formatted). */
const toError = (w: WireError): PerceptionError => fromWireError(w, 'MODEL_RUNTIME', 'perception worker');

/** The RgbImage of a packed rgb8 raw frame: a view of the main thread's own bytes. */
function mainImage(encoded: EncodedImage): RgbImage {
  if (encoded.kind !== 'raw') throw new PerceptionError('MODEL_RUNTIME', 'perception worker sent no image for a compressed frame');
  return { width: encoded.width, height: encoded.height, data: encoded.data.subarray(0, encoded.width * encoded.height * 3) };
}

/**
 * Starts the worker on the entry beside this file: compiled JavaScript in dist/ runs as is;
 * TypeScript sources (tsx, vitest) are loaded in the worker through tsx's `tsImport`, as
 * bin/adaptive-perception.js does (Node 20 does not apply `--import tsx` loader hooks to a
 * worker's entry module).
 */
function spawnWorker(init: WorkerInit): Worker {
  return spawnModuleWorker(new URL('./perception-worker-entry.ts', import.meta.url), init);
}
