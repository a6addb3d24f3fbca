import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/** Garbage-collection pauses of one kind: how many, their total and longest (ms). */
export interface GcKindSummary {
  count: number;
  total_ms: number;
  max_ms: number;
}

/** The replay thread's garbage collections while frames ran, by kind (as V8 reports them to perf_hooks). */
export interface GcSummary {
  /** Mark-compact: whole-heap collections. */
  major: GcKindSummary;
  /** Scavenges of the young generation. */
  minor: GcKindSummary;
  /** Steps of incremental marking on this thread (its helpers mark concurrently, on other cores). */
  incremental: GcKindSummary;
  /** Weak-callback processing (e.g. freeing ArrayBuffers' external memory). */
  weak_callbacks: GcKindSummary;
}

const KINDS: ReadonlyArray<[number, keyof GcSummary]> = [
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weak_callbacks'],
];

const empty = (): GcKindSummary => ({ count: 0, total_ms: 0, max_ms: 0 });

/**
 * Counts this thread's garbage collections between `start` and `stop`, through perf_hooks' `gc`
 * entries (no flags needed). A replay's frames hand this thread their result buffers; its
 * collections take CPU (and helper threads) from the inference worker, so the summary shows them
 * beside the latency they can explain.
 */
export class GcRecorder {
  private readonly totals: GcSummary = { major: empty(), minor: empty(), incremental: empty(), weak_callbacks: empty() };
  private observer: PerformanceObserver | undefined;

  start(): void {
    if (this.observer) return;
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.add(e);
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  /** Stops observing (entries still buffered are counted) and returns the totals. */
  stop(): GcSummary {
    if (this.observer) {
      for (const e of this.observer.takeRecords()) this.add(e);
      this.observer.disconnect();
      this.observer = undefined;
    }
    const round = (k: GcKindSummary): GcKindSummary => ({ count: k.count, total_ms: Math.round(k.total_ms * 10) / 10, max_ms: Math.round(k.max_ms * 10) / 10 });
    return { major: round(this.totals.major), minor: round(this.totals.minor), incremental: round(this.totals.incremental), weak_callbacks: round(this.totals.weak_callbacks) };
  }

  private add(e: PerformanceEntry): void {
    const kind = ((e as PerformanceEntry & { detail?: unknown }).detail as { kind?: number } | undefined)?.kind;
    const name = KINDS.find(([k]) => k === kind)?.[1];
    if (!name) return;
    const t = this.totals[name];
    t.count++;
    t.total_ms += e.duration;
    t.max_ms = Math.max(t.max_ms, e.duration);
  }
}
