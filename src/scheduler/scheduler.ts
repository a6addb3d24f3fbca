import { PerceptionError } from '../core/errors.js';
import { resolveConfig, rungKey, type ResolvedConfig } from './config.js';
import { CostModel } from './cost-model.js';
import { ResolutionLadder } from './ladder.js';
import { LoadTracker } from './load.js';
import { Mailbox } from './mailbox.js';
import { SchedulerMetrics, type SchedulerSnapshot } from './metrics.js';
import { plan } from './planner.js';
import { SlackBroker } from './slack.js';
import { ArrivalRates } from './arrivals.js';
import { Pump } from './pump.js';
import type {
  Clock,
  Dispatch,
  DropReason,
  ErrorSite,
  FrameMeta,
  InputSize,
  OfferOutcome,
  PendingFrame,
  RevokeReason,
  Rung,
  SchedulerOptions,
  SlackGrant,
} from './types.js';

/**
 * The real-time scheduler. Synchronous core: `offer` fills keep-latest mailboxes, `poll` takes
 * the next batch (dropping frames that can no longer make their deadline), `complete` / `fail`
 * hand it back. Tests drive that core directly under a fake clock; `start()` runs an async pump
 * that does the same against the `BatchRunner`. All calls must come from one thread (one event
 * loop); nothing here is re-entrant across threads.
 */
export class Scheduler<T, R> {
  private readonly cfg: ResolvedConfig;
  private readonly clock: Clock;
  private readonly opts: SchedulerOptions<T, R>;
  private readonly mailboxes = new Map<string, Mailbox<T>>();
  private readonly rates = new ArrivalRates();
  private readonly cost: CostModel;
  private readonly ladder: ResolutionLadder;
  private readonly load: LoadTracker;
  private readonly slack: SlackBroker;
  private readonly metrics: SchedulerMetrics;
  private readonly inFlight = new Map<number, Dispatch<T>>();
  // Cameras with a frame in flight (only matters when maxInFlight > 1): one at a time per camera
  // keeps each camera's results in stamp order.
  private readonly busy = new Set<string>();
  // Cameras whose last frame was dropped for its deadline (see PlanInput.starving).
  private readonly starving = new Set<string>();
  private readonly pump: Pump<T, R>;
  // Reused by every poll: the pump polls once per dispatch and per wake-up.
  private readonly heads: PendingFrame<T>[] = [];
  private readonly minBudgetMs: number;
  private nextId = 1;
  private pendingCount = 0;
  private disposed = false;
  // Callers of `progress()` waiting for a frame to leave a mailbox or a dispatch to settle.
  private progressWaiters: Array<() => void> = [];

  constructor(options: SchedulerOptions<T, R>) {
    this.cfg = resolveConfig(options);
    this.opts = options;
    this.clock = options.clock;
    for (const name of this.cfg.cameras.keys()) this.mailboxes.set(name, new Mailbox<T>(name));
    this.cost = new CostModel(this.cfg.costModel, this.cfg.sizes[0]);
    this.ladder = new ResolutionLadder(this.cfg.rungs, this.cfg.ladder, this.cost);
    this.load = new LoadTracker(this.cfg.window.utilizationMs, this.cfg.window.outcomes);
    this.slack = new SlackBroker((err) => this.report(err, { phase: 'onRevoke' }));
    this.metrics = new SchedulerMetrics(this.cfg.cameras.keys());
    this.pump = new Pump<T, R>(this, options.runner, options.clock);
    this.minBudgetMs = Math.min(...[...this.cfg.cameras.values()].map((c) => c.budgetMs));
  }

  /** The model input size in use now (the current rung's size). */
  get inputSize(): InputSize {
    return this.ladder.current.size;
  }

  /** The rung in use now: input size and model variant. */
  get rung(): Rung {
    return this.ladder.current;
  }

  /** Every rung given, in order of preference (best first). */
  get rungs(): readonly Rung[] {
    return this.cfg.rungs;
  }

  /**
   * Teaches the cost model a measured run (batch `batch` at `size`, model variant `variant`,
   * took `ms`), as if a dispatch had taken it: e.g. warm-up runs on a real frame before
   * `start()`, so that the first frames are planned on real costs rather than the prior. Throws
   * INVALID_ARGUMENT for a rung not given, a batch outside 1..maxBatch or a negative or
   * non-finite time.
   */
  learnCost(batch: number, size: InputSize, ms: number, variant?: string): void {
    const rung = this.cfg.rungs.find((r) => r.size[0] === size?.[0] && r.size[1] === size?.[1] && r.variant === variant);
    if (!rung) {
      const what = variant === undefined ? `size ${JSON.stringify(size)}` : `size ${JSON.stringify(size)} with variant '${variant}'`;
      throw new PerceptionError('INVALID_ARGUMENT', `${what} is not on the ladder (${this.cfg.rungs.map(rungKey).join(', ')})`, { field: variant === undefined ? 'size' : 'variant' });
    }
    if (!(Number.isInteger(batch) && batch >= 1 && batch <= Math.max(1, this.cfg.batching.maxBatch))) {
      throw new PerceptionError('INVALID_ARGUMENT', `batch must be an integer in 1..${Math.max(1, this.cfg.batching.maxBatch)}, got ${batch}`, { field: 'batch' });
    }
    if (!(Number.isFinite(ms) && ms >= 0)) throw new PerceptionError('INVALID_ARGUMENT', `a run's time must be a finite number ≥ 0, got ${ms}`, { field: 'ms' });
    this.cost.record(batch, rung, ms);
  }

  /** Frames waiting in mailboxes (at most one per camera). */
  get pending(): number {
    return this.pendingCount;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Resolves the next time a frame leaves a mailbox (dispatched or dropped), a dispatch
   * settles, or the scheduler is disposed. For a producer that waits for room (replay --fast
   * offers a frame only once the one before it has been dispatched) without polling: a
   * `setImmediate` loop kept the replay thread spinning, taking a core from the model and
   * allocating a promise per turn (about a garbage collection every few frames).
   */
  progress(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    return new Promise<void>((resolve) => this.progressWaiters.push(resolve));
  }

  /** Expected cost (EWMA, or prior) and the high quantile for a batch at a rung (default: the current one). */
  expectedCost(batch: number, at: InputSize | Rung = this.ladder.current): { expectedMs: number; highMs: number; samples: number } {
    return this.cost.estimate(batch, at);
  }

  offer(camera: string, payload: T, meta: FrameMeta): OfferOutcome {
    const cam = this.cfg.cameras.get(camera);
    if (cam === undefined) throw new PerceptionError('INVALID_ARGUMENT', `unknown camera "${camera}"`, { camera, field: 'camera' });
    if (typeof meta?.stampNs !== 'bigint') throw new PerceptionError('INVALID_ARGUMENT', 'stampNs must be a bigint', { camera, field: 'stampNs' });
    const now = this.clock.now();
    const arrivalMs = meta.arrivalMs ?? now;
    if (!Number.isFinite(arrivalMs)) throw new PerceptionError('INVALID_ARGUMENT', 'arrivalMs must be finite', { camera, field: 'arrivalMs' });
    this.metrics.offered(camera);
    if (this.disposed) {
      this.drop(camera, payload, 'shutdown');
      return 'shutdown';
    }
    this.load.touch(now);
    const box = this.mailboxes.get(camera) as Mailbox<T>;
    if (!box.sample(cam.sampleEvery)) {
      this.drop(camera, payload, 'sampled_out');
      return 'sampled_out';
    }
    const frame: PendingFrame<T> = {
      camera,
      payload,
      arrivalMs,
      deadlineMs: arrivalMs + cam.budgetMs,
      stampNs: meta.stampNs,
      priority: cam.priority,
      sourceSize: meta.sourceSize,
    };
    const loser = box.put(frame);
    if (loser === frame) {
      // Older than a frame already taken: a transport reorder, not load, so no load outcome.
      this.drop(camera, payload, 'superseded');
      return 'superseded';
    }
    this.rates.note(camera, arrivalMs);
    // The frame needs the CPU now: the trainer must stop before anything else happens.
    this.slack.revoke('arrival', now);
    if (loser === undefined) this.pendingCount += 1;
    else this.dropLoad(loser, 'superseded');
    this.pump.signal();
    return 'queued';
  }

  /**
   * A frame the source never offered because it could not be served before its deadline (a bag
   * read behind its rate skips such frames unread): counted as offered and dropped for its deadline,
   * and as load, like a deadline drop at `poll` (the miss rate, the ladder, slack). `onDrop` is
   * not called: there is no payload, and the source accounts for the frame itself.
   */
  skipped(camera: string): void {
    if (!this.cfg.cameras.has(camera)) throw new PerceptionError('INVALID_ARGUMENT', `unknown camera "${camera}"`, { camera, field: 'camera' });
    if (this.disposed) return;
    const now = this.clock.now();
    this.metrics.offered(camera);
    this.load.touch(now);
    // The camera delivers (its frames are skipped, not absent): it counts in the ladder's round.
    this.rates.note(camera, now);
    this.load.addOutcome('dropped');
    this.slack.revoke('backlog', now);
    this.metrics.dropped(camera, 'deadline');
    this.observeLoad(now);
  }

  /**
   * Takes the next batch, or null when nothing can run (empty, or `maxInFlight` reached).
   * Frames that can no longer meet their deadline are dropped here, before the batch is formed.
   */
  poll(): Dispatch<T> | null {
    if (this.disposed || this.inFlight.size >= this.cfg.maxInFlight || this.pendingCount === 0) return null;
    const now = this.clock.now();
    const rung = this.ladder.current;
    this.heads.length = 0;
    for (const box of this.mailboxes.values()) {
      const f = box.peek();
      if (f !== undefined) this.heads.push(f);
    }
    const { late, batch, rescue } = plan({
      pending: this.heads,
      busy: this.busy,
      nowMs: now,
      size: rung,
      cost: this.cost,
      maxBatch: this.cfg.batching.enabled ? this.cfg.batching.maxBatch : 1,
      threshold: this.cfg.batching.threshold,
      starving: (camera) => this.starving.has(camera),
      idle: this.inFlight.size === 0,
      admission: this.cfg.admission,
    });
    // Take every frame out before any callback runs: a callback may offer, and a new frame must
    // land in an empty slot, not replace one this poll already decided about.
    for (const f of late) this.takeFrom(f);
    let d: Dispatch<T> | null = null;
    if (batch.length > 0) {
      for (const f of batch) {
        this.takeFrom(f);
        this.busy.add(f.camera);
      }
      d = { id: this.nextId++, frames: batch, size: rung.size, ...(rung.variant !== undefined ? { variant: rung.variant } : {}), startMs: now, expectedMs: this.cost.expected(batch.length, rung), ...(rescue ? { lateStart: true } : {}) };
      this.inFlight.set(d.id, d);
      this.metrics.dispatched(batch.length);
    }
    for (const f of late) {
      this.starving.add(f.camera);
      this.dropLoad(f, 'deadline');
    }
    // Deadline drops are overload the ladder must see even when nothing gets to run: a size too
    // slow for every budget would otherwise drop every frame and never step down.
    if (late.length > 0) this.observeLoad(now);
    return d;
  }

  /** Hands a dispatch's results back (one per frame, in order); emits them and learns the cost. */
  complete(d: Dispatch<T>, results: readonly R[]): void {
    if (!this.inFlight.has(d.id)) return;
    if (!Array.isArray(results) || results.length !== d.frames.length) {
      const got = Array.isArray(results) ? results.length : typeof results;
      this.fail(d, new PerceptionError('MODEL_RUNTIME', `runner returned ${got} results for ${d.frames.length} frames`, { field: 'results' }));
      return;
    }
    this.settle(d);
    const end = this.clock.now();
    const n = d.frames.length;
    const rung: Rung = d.variant === undefined ? { size: d.size } : { size: d.size, variant: d.variant };
    this.cost.record(n, rung, end - d.startMs);
    this.load.addBusy(d.startMs, end);
    let missed = false;
    for (let i = 0; i < n; i++) {
      const f = d.frames[i];
      this.starving.delete(f.camera);
      const miss = end > f.deadlineMs;
      missed ||= miss;
      this.metrics.served(f.camera, end - f.arrivalMs, miss, d.lateStart === true);
      this.load.addOutcome(miss ? 'miss' : 'ok');
      const timing = { arrivalMs: f.arrivalMs, deadlineMs: f.deadlineMs, startMs: d.startMs, endMs: end, size: d.size, variant: d.variant, batch: n, stampNs: f.stampNs };
      this.guard(() => this.opts.onResult?.(f.camera, f.payload, results[i], timing), { phase: 'onResult', camera: f.camera });
    }
    if (missed) this.slack.revoke('backlog', end);
    this.observeLoad(end);
    this.pump.signal();
  }

  /** The runner failed a dispatch: its frames are dropped (`error`) and the error reported. */
  fail(d: Dispatch<T>, error: unknown): void {
    if (!this.inFlight.has(d.id)) return;
    this.settle(d);
    this.load.addBusy(d.startMs, this.clock.now());
    this.metrics.error();
    this.report(error, { phase: 'run' });
    for (const f of d.frames) this.drop(f.camera, f.payload, 'error');
    this.pump.signal();
  }

  /**
   * Lends `ms` of inference time to the trainer, or null. Granted only when nothing waits or
   * runs, the recent window has no miss or drop, and no camera is expected to deliver a frame
   * within `ms` (from its measured frame period). Any accepted frame revokes the grant at once.
   * With `minMs` (≤ `ms`), the grant is the time until the next frame is expected, up to `ms`,
   * if that is at least `minMs`: the whole gap between two frames rather than a fixed slice of it.
   */
  requestSlack(ms: number, onRevoke?: (reason: RevokeReason) => void, minMs = ms): SlackGrant | null {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new PerceptionError('INVALID_ARGUMENT', `slack ms must be a positive finite number, got ${String(ms)}`, { field: 'ms' });
    }
    if (typeof minMs !== 'number' || !Number.isFinite(minMs) || minMs <= 0 || minMs > ms) {
      throw new PerceptionError('INVALID_ARGUMENT', `slack minMs must be a positive finite number no larger than ms (${ms}), got ${String(minMs)}`, { field: 'minMs' });
    }
    const now = this.clock.now();
    if (this.disposed || this.slack.current(now) !== undefined) return this.slack.refuse();
    if (this.pendingCount > 0 || this.inFlight.size > 0 || this.load.hasRecentTrouble()) return this.slack.refuse();
    const idle = this.rates.idleMs(now);
    if (idle < minMs) return this.slack.refuse();
    const g = this.slack.grant(Math.min(ms, idle), now);
    if (onRevoke !== undefined) g.onRevoke(onRevoke);
    return g;
  }

  snapshot(): SchedulerSnapshot {
    const now = this.clock.now();
    return this.metrics.snapshot({
      nowMs: now,
      size: this.ladder.current.size,
      rung: rungKey(this.ladder.current),
      ladderRungs: this.ladder.active().map((i) => rungKey(this.cfg.rungs[i])),
      ladderRung: this.ladder.index,
      ladderChanges: this.ladder.changeCount,
      utilization: this.load.utilization(now, this.earliestRunningStart()),
      inFlight: this.inFlight.size,
      pending: this.pendingCount,
      slack: this.slack.stats,
      cost: this.cost.snapshot(),
      admission: this.cfg.admission,
    });
  }

  /**
   * The queue ahead of a frame offered now: `freeInMs` until the runs in flight end (at their
   * expected cost) and the frames already waiting have run (one by one, at the current rung),
   * and `runMs`, one frame's expected run. A source that can skip frames cheaply (a bag read
   * behind its rate) uses it to leave unread the frames that could only be dropped.
   */
  expectedQueue(): { freeInMs: number; runMs: number } {
    const now = this.clock.now();
    const runMs = this.cost.expected(1, this.ladder.current);
    let busyFor = 0;
    for (const d of this.inFlight.values()) busyFor = Math.max(busyFor, d.startMs + d.expectedMs - now);
    return { freeInMs: Math.max(0, busyFor) + this.pendingCount * runMs, runMs };
  }

  /** Starts the async pump: poll, run on the `BatchRunner`, complete, repeat. Idempotent. */
  start(): void {
    if (this.disposed) throw new PerceptionError('INVALID_ARGUMENT', 'scheduler is disposed', { field: 'start' });
    this.pump.start();
  }

  /** Stops the pump and waits for inferences in flight to finish (their results are emitted). */
  async stop(): Promise<void> {
    await this.pump.stop();
  }

  /**
   * Stops at once: revokes slack, drops waiting and in-flight frames (`shutdown`) and ignores
   * late completions. Idempotent: a node's shutdown hook and a `finally` may both call it, and a
   * second pass must not report the same frames twice.
   */
  dispose(): void {
    if (this.disposed) return;
    const now = this.clock.now();
    this.disposed = true;
    this.pump.halt();
    this.slack.revoke('shutdown', now);
    for (const box of this.mailboxes.values()) {
      const f = box.take();
      if (f !== undefined) this.drop(f.camera, f.payload, 'shutdown');
    }
    this.pendingCount = 0;
    const dispatches = [...this.inFlight.values()];
    this.inFlight.clear();
    this.busy.clear();
    for (const d of dispatches) for (const f of d.frames) this.drop(f.camera, f.payload, 'shutdown');
    this.wakeProgress();
  }

  private settle(d: Dispatch<T>): void {
    this.inFlight.delete(d.id);
    for (const f of d.frames) this.busy.delete(f.camera);
    this.wakeProgress();
  }

  private takeFrom(f: PendingFrame<T>): void {
    (this.mailboxes.get(f.camera) as Mailbox<T>).take();
    this.pendingCount -= 1;
    this.wakeProgress();
  }

  private wakeProgress(): void {
    if (this.progressWaiters.length === 0) return;
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const w of waiters) w();
  }

  /** A drop that says the scheduler is behind: it counts toward the miss rate and ends slack. */
  private dropLoad(f: PendingFrame<T>, reason: 'superseded' | 'deadline'): void {
    this.load.addOutcome('dropped');
    this.slack.revoke('backlog', this.clock.now());
    this.drop(f.camera, f.payload, reason);
  }

  private drop(camera: string, payload: T, reason: DropReason): void {
    this.metrics.dropped(camera, reason);
    this.guard(() => this.opts.onDrop?.(camera, reason, payload), { phase: 'onDrop', camera });
  }

  private guard(fn: () => void, site: ErrorSite): void {
    try {
      fn();
    } catch (err) {
      this.report(err, site);
    }
  }

  private report(error: unknown, site: ErrorSite): void {
    if (site.phase !== 'run') this.metrics.error();
    try {
      this.opts.onError?.(error, site);
    } catch {
      // An error handler that throws has nowhere left to report to; the count above remains.
    }
  }

  private earliestRunningStart(): number | undefined {
    let s: number | undefined;
    for (const d of this.inFlight.values()) s = s === undefined ? d.startMs : Math.min(s, d.startMs);
    return s;
  }

  private observeLoad(now: number): void {
    // Too little history (just started, or just changed size) says nothing about sustained load.
    if (this.load.observedMs(now) < this.cfg.window.utilizationMs / 4) return;
    const cur = this.ladder.current;
    const up = this.ladder.larger;
    // Cameras that deliver together share the engine: in the worst case a frame waits for one
    // frame of every other camera, so "a frame fits the budget" means a round of them does.
    // (Judging one frame alone kept a two-camera node at a rung where the second camera's frame
    // was always dropped: it fit alone, so the drops never stepped the ladder down.)
    const cameras = Math.max(1, this.rates.active(now));
    let upCostRatio = 1;
    let upFits = false;
    if (up !== undefined) {
      // The intrinsic ratio (lowest runs): the two rungs' recent runs saw different loads, and
      // utilization already carries today's.
      upCostRatio = Math.max(1, this.cost.low(1, up) / this.cost.low(1, cur));
      upFits = this.roundHigh(cameras, up) <= this.minBudgetMs;
    }
    const change = this.ladder.observe({
      utilization: this.load.utilization(now, this.earliestRunningStart()),
      badRate: this.load.badRate(),
      upCostRatio,
      upFits,
      fits: this.roundHigh(cameras, cur) <= this.cfg.ladder.fitShare * this.minBudgetMs,
    });
    if (change !== undefined) this.load.reset(now);
  }

  /** High-quantile time to run one frame of each of `cameras` at `rung`: one by one, or batched where batching is on. */
  private roundHigh(cameras: number, rung: Rung): number {
    const oneByOne = cameras * this.cost.high(1, rung);
    const maxBatch = this.cfg.batching.enabled ? Math.max(1, this.cfg.batching.maxBatch) : 1;
    if (maxBatch === 1 || cameras === 1) return oneByOne;
    const per = Math.min(cameras, maxBatch);
    return Math.min(oneByOne, Math.ceil(cameras / per) * this.cost.high(per, rung));
  }
}
