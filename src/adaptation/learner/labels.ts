import { PerceptionError } from '../../core/errors.js';
import { IGNORE_LABEL } from '../../eval/segmentation.js';
import { sampleKey, type LabelImage, type SampleLabels } from './store-types.js';

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

/** Lane-mask values a label may hold: background, lane marking, drivable road, or ignore. */
const LANE_VALUES = new Set([0, 1, 2, IGNORE_LABEL]);
/** Largest label image side accepted (a 8K camera is 7680 wide). */
const MAX_LABEL_SIDE = 16384;

/**
 * Checks a label event before it can reach the store: one bad annotation (a lane value 4, a
 * mask whose size and data disagree, a box with NaN corners) would otherwise fail every later
 * training slice that reads it. Throws PerceptionError('INVALID_ARGUMENT') naming the part,
 * the pixel or box, and the value; the caller logs, counts and drops the event.
 */
export function validateLabels(ev: LabelEvent, classCount: number): void {
  const where = `label for ${ev.camera} at ${ev.stampNs} ns`;
  const { boxes, lane, depth } = ev.labels;
  boxes?.forEach((b, i) => {
    if (!Number.isInteger(b.classIndex) || b.classIndex < 0 || b.classIndex >= classCount) {
      throw new PerceptionError('INVALID_ARGUMENT', `${where}: box ${i} has class index ${b.classIndex}, not one of 0..${classCount - 1}`, { field: 'boxes', index: i });
    }
    const corners = [b.x0, b.y0, b.x1, b.y1];
    if (!corners.every(Number.isFinite) || b.x1 < b.x0 || b.y1 < b.y0) {
      throw new PerceptionError('INVALID_ARGUMENT', `${where}: box ${i} has corners ${corners.join(', ')} (finite, x1 ≥ x0, y1 ≥ y0 needed)`, { field: 'boxes', index: i });
    }
  });
  if (lane) {
    checkImage(where, 'lane', lane);
    for (let i = 0; i < lane.data.length; i++) {
      if (!LANE_VALUES.has(lane.data[i])) {
        throw new PerceptionError('INVALID_ARGUMENT', `${where}: lane mask value ${lane.data[i]} at pixel ${i} is not 0 (background), 1 (lane marking), 2 (drivable) or ${IGNORE_LABEL} (ignore)`, { field: 'lane', index: i });
      }
    }
  }
  // Depth values that are not finite and positive are unknown pixels (the targets mask them).
  if (depth) checkImage(where, 'depth', depth);
}

function checkImage(where: string, part: 'lane' | 'depth', img: LabelImage<Uint8Array | Float32Array>): void {
  const { width: w, height: h } = img;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1 || w > MAX_LABEL_SIDE || h > MAX_LABEL_SIDE) {
    throw new PerceptionError('INVALID_ARGUMENT', `${where}: ${part} image is ${w}x${h} (1..${MAX_LABEL_SIDE} per side)`, { field: part });
  }
  if (img.data.length !== w * h) throw new PerceptionError('INVALID_ARGUMENT', `${where}: ${part} image has ${img.data.length} values, ${w}x${h} needs ${w * h}`, { field: part });
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
