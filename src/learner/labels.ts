import { PerceptionError } from '../errors.js';
import { sampleKey, type SampleLabels } from './store-types.js';

/**
 * Labels reach the learner as events for one frame (camera + stamp), each with one or more
 * parts. Two pure components, both driven by an explicit time:
 * - `Annotator` plays the human annotator in bag replays: it sees every `/gt/...` message but
 *   releases labels only for flagged frames, after a configurable delay;
 * - `LabelMatcher` (learner side) matches labels to stored samples, holding labels that come
 *   before their sample for a while, and drops labels of frames that never get stored.
 */

export interface LabelEvent {
  readonly camera: string;
  readonly stampNs: bigint;
  readonly labels: SampleLabels;
}

/** A FIFO of items released `delayMs` after they were pushed. */
export class DelayQueue<T> {
  private readonly items: { at: number; item: T }[] = [];
  constructor(readonly delayMs: number) {
    if (!(delayMs >= 0)) throw new PerceptionError('INVALID_CONFIG', `delayMs must be ≥ 0, got ${delayMs}`, { field: 'delayMs' });
  }
  push(nowMs: number, item: T): void {
    const at = nowMs + this.delayMs;
    let i = this.items.length;
    while (i > 0 && this.items[i - 1].at > at) i--; // keeps release order if pushes come out of time order
    this.items.splice(i, 0, { at, item });
  }
  /** Items due at `nowMs`, in release order. */
  drain(nowMs: number): T[] {
    let n = 0;
    while (n < this.items.length && this.items[n].at <= nowMs) n++;
    return this.items.splice(0, n).map((e) => e.item);
  }
  get size(): number {
    return this.items.length;
  }
}

export interface AnnotatorOptions {
  /** Annotation latency after both the frame's flag and its ground truth exist (default 2000 ms). */
  readonly delayMs?: number;
  /** Ground truth of a frame not flagged within this time is dropped (default 10 s). */
  readonly ttlMs?: number;
  /** Frames whose ground truth is held at most (default 4096); beyond, the oldest is dropped. */
  readonly maxHeld?: number;
}

/**
 * The bag's annotator. Ground truth may come before or after the flag; parts of one frame are
 * merged. A frame that is never flagged never produces a label: its ground truth is dropped.
 */
export class Annotator {
  readonly stats = { released: 0, dropped: 0 };
  private readonly queue: DelayQueue<LabelEvent>;
  private readonly held = new Map<string, { at: number; ev: LabelEvent }>();
  private readonly flagged = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly maxHeld: number;

  constructor(options: AnnotatorOptions = {}) {
    this.queue = new DelayQueue(options.delayMs ?? 2000);
    this.ttlMs = options.ttlMs ?? 10_000;
    this.maxHeld = options.maxHeld ?? 4096;
  }

  onGroundTruth(nowMs: number, ev: LabelEvent): void {
    const k = sampleKey(ev.camera, ev.stampNs);
    if (this.flagged.has(k)) {
      this.queue.push(nowMs, ev);
      return;
    }
    const prev = this.held.get(k);
    this.held.set(k, { at: prev?.at ?? nowMs, ev: { ...ev, labels: { ...prev?.ev.labels, ...ev.labels } } });
    while (this.held.size > this.maxHeld) {
      const oldest = this.held.keys().next().value as string;
      this.held.delete(oldest);
      this.stats.dropped++;
    }
  }

  onFlag(nowMs: number, camera: string, stampNs: bigint): void {
    const k = sampleKey(camera, stampNs);
    this.flagged.set(k, nowMs);
    const h = this.held.get(k);
    if (h) {
      this.held.delete(k);
      this.queue.push(nowMs, h.ev);
    }
  }

  /** Labels due at `nowMs` (flagged frames only); also expires unflagged ground truth. */
  poll(nowMs: number): LabelEvent[] {
    for (const [k, h] of this.held) {
      if (nowMs - h.at <= this.ttlMs) continue;
      this.held.delete(k);
      this.stats.dropped++;
    }
    for (const [k, at] of this.flagged) if (nowMs - at > this.ttlMs) this.flagged.delete(k);
    const out = this.queue.drain(nowMs);
    this.stats.released += out.length;
    return out;
  }
}

export interface LabelMatcherOptions {
  /** A label waits this long for its sample (default 30 s). */
  readonly waitMs?: number;
  readonly maxPending?: number;
}

/** Ports of the matcher: is a frame stored, and store its labels. */
export interface LabelSink {
  has(camera: string, stampNs: bigint): boolean;
  setLabels(camera: string, stampNs: bigint, labels: SampleLabels): boolean;
}

export class LabelMatcher {
  readonly stats = { matched: 0, early: 0, dropped: 0 };
  private readonly pending = new Map<string, { at: number; ev: LabelEvent }>();
  private readonly waitMs: number;
  private readonly maxPending: number;

  constructor(
    private readonly sink: LabelSink,
    options: LabelMatcherOptions = {},
  ) {
    this.waitMs = options.waitMs ?? 30_000;
    this.maxPending = options.maxPending ?? 1024;
  }

  /** True if the label reached a stored sample now; otherwise it waits (or is dropped later). */
  onLabel(nowMs: number, ev: LabelEvent): boolean {
    this.expire(nowMs);
    if (this.sink.has(ev.camera, ev.stampNs) && this.sink.setLabels(ev.camera, ev.stampNs, ev.labels)) {
      this.stats.matched++;
      return true;
    }
    const k = sampleKey(ev.camera, ev.stampNs);
    const prev = this.pending.get(k);
    if (!prev) this.stats.early++;
    this.pending.set(k, { at: prev?.at ?? nowMs, ev: { ...ev, labels: { ...prev?.ev.labels, ...ev.labels } } });
    while (this.pending.size > this.maxPending) {
      this.pending.delete(this.pending.keys().next().value as string);
      this.stats.dropped++;
    }
    return false;
  }

  /** A sample was stored: apply labels that came before it. */
  onSample(nowMs: number, camera: string, stampNs: bigint): boolean {
    this.expire(nowMs);
    const k = sampleKey(camera, stampNs);
    const p = this.pending.get(k);
    if (!p) return false;
    this.pending.delete(k);
    if (!this.sink.setLabels(camera, stampNs, p.ev.labels)) return false;
    this.stats.matched++;
    return true;
  }

  expire(nowMs: number): void {
    for (const [k, p] of this.pending) {
      if (nowMs - p.at <= this.waitMs) continue;
      this.pending.delete(k);
      this.stats.dropped++;
    }
  }

  get pendingCount(): number {
    return this.pending.size;
  }
}
