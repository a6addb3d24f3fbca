import type { BatchRunner, Clock, Dispatch } from './types.js';

/** The synchronous core the pump drives (implemented by `Scheduler`). */
export interface PumpCore<T, R> {
  poll(): Dispatch<T> | null;
  complete(d: Dispatch<T>, results: readonly R[]): void;
  fail(d: Dispatch<T>, error: unknown): void;
}

/**
 * The async loop: poll until nothing can start, hand each dispatch to the runner, sleep until
 * woken (an offer, a completion, stop). Runs on the caller's event loop; at most the core's
 * `maxInFlight` dispatches are ever outstanding because `poll` refuses more.
 */
export class Pump<T, R> {
  private active = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private cancelYield: (() => void) | undefined;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly core: PumpCore<T, R>,
    private readonly runner: BatchRunner<T, R>,
    private readonly clock: Clock,
  ) {}

  start(): void {
    if (this.active) return;
    this.active = true;
    this.loop = this.run();
  }

  /** Stops polling; resolves when the loop has exited and every runner call has settled. */
  async stop(): Promise<void> {
    this.halt();
    await this.loop;
    this.loop = undefined;
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** Stops polling now, without waiting (dispose). */
  halt(): void {
    this.active = false;
    this.cancelYield?.();
    this.cancelYield = undefined;
    this.signal();
  }

  /** Something changed (a frame arrived, a dispatch settled): poll again. */
  signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async run(): Promise<void> {
    while (this.active) {
      for (let d = this.core.poll(); d !== null && this.active; d = this.active ? this.core.poll() : null) this.launch(d);
      if (!this.active) break;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private launch(d: Dispatch<T>): void {
    let call: Promise<readonly R[]>;
    try {
      call = this.runner.run(
        d.frames.map((f) => f.payload),
        d.size,
        d.variant,
      );
    } catch (err) {
      call = Promise.reject(err);
    }
    const done = call.then(
      (results) => this.core.complete(d, results),
      (err: unknown) => this.core.fail(d, err),
    );
    this.running.add(done);
    void done.finally(() => {
      this.running.delete(done);
      if (!this.active) return;
      // Wake on the next turn, not now: a runner that blocked the event loop leaves frames queued
      // as I/O, and they must reach their mailboxes before the next batch is chosen.
      this.cancelYield?.();
      this.cancelYield = this.clock.setTimer(0, () => {
        this.cancelYield = undefined;
        this.signal();
      });
    });
  }
}
