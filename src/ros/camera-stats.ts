import type { ErrorCode } from '../core/errors.js';
import type { CameraStatus } from './diagnostics.js';
import type { CameraSnapshot, InputSize } from '../scheduler/index.js';

/**
 * What the node knows about one camera across scheduler rebuilds (a budget or priority change
 * builds a new scheduler, whose counters start at zero): frames received and processed, misses,
 * drops by reason, and the input problems since the last diagnostics report.
 */
export class CameraStats {
  received = 0;
  processed = 0;
  deadlineMisses = 0;
  readonly drops: Record<string, number> = {};
  lastArrivalMs: number | undefined;
  input: { width: number; height: number; encoding: string } | undefined;
  modelInput: InputSize | undefined;
  /** Depth's factor for the camera's lens (set by the node; undefined: the model states no focal). */
  depthScale: { factor: number; fromCameraInfo: boolean } | undefined;
  readonly #problems = new Map<ErrorCode, { message: string; count: number }>();

  constructor(
    readonly camera: string,
    readonly topic: string,
  ) {}

  arrived(nowMs: number): void {
    this.received++;
    this.lastArrivalMs = nowMs;
  }

  drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  problem(code: ErrorCode, message: string): void {
    const p = this.#problems.get(code);
    this.#problems.set(code, { message, count: (p?.count ?? 0) + 1 });
    this.drop(code === 'UNSUPPORTED_ENCODING' ? 'unsupported_encoding' : 'bad_image');
  }

  /** Problems are reported once per diagnostics period (diagnostic_updater style), then forgotten. */
  resetProblems(): void {
    this.#problems.clear();
  }

  status(nowMs: number, budgetMs: number, snap: CameraSnapshot | undefined): CameraStatus {
    return {
      camera: this.camera,
      topic: this.topic,
      received: this.received,
      processed: this.processed,
      lastFrameAgeMs: this.lastArrivalMs === undefined ? undefined : nowMs - this.lastArrivalMs,
      latencyMs: snap?.latency ? { p50: snap.latency.p50_ms, p99: snap.latency.p99_ms } : undefined,
      budgetMs,
      deadlineMisses: this.deadlineMisses,
      drops: { ...this.drops },
      input: this.input,
      modelInput: this.modelInput ? { height: this.modelInput[0], width: this.modelInput[1] } : undefined,
      depthScale: this.depthScale,
      problems: [...this.#problems].map(([code, p]) => ({ code, message: p.message, count: p.count })),
    };
  }
}
