/**
 * Pairs each camera frame's prediction with its ground truth, matched by camera and stamp.
 * Ground truth may arrive before or after the frame (a bag's order for equal log times is
 * the writer's choice; annotations may come late), and some parts may never arrive.
 *
 * Memory stays bounded: at most `maxPending` stamps wait per camera; the oldest is scored
 * with what it has (or dropped if it has no prediction) when a newer one would exceed that.
 */
export type TruthPart = 'detections' | 'lane' | 'depth';

export interface PairingOptions<P, T> {
  /** Which truth parts exist for a camera (from the bag's topics); a frame waits for these. */
  expected(camera: string): ReadonlySet<TruthPart>;
  /** Called once per frame that has a prediction and at least one truth part. */
  score(camera: string, stampNs: bigint, prediction: P, truth: Partial<Record<TruthPart, T>>): void;
  /** Copies a prediction that must wait (the engine reuses its output buffers). */
  retain(prediction: P): P;
  maxPending?: number;
}

interface Entry<P, T> {
  prediction?: P;
  truth: Partial<Record<TruthPart, T>>;
}

export class Pairing<P, T> {
  private readonly pending = new Map<string, Map<bigint, Entry<P, T>>>();
  private readonly maxPending: number;
  scored = 0;
  unmatched = 0;

  constructor(private readonly opts: PairingOptions<P, T>) {
    this.maxPending = opts.maxPending ?? 64;
  }

  addPrediction(camera: string, stampNs: bigint, prediction: P): void {
    const expected = this.opts.expected(camera);
    if (expected.size === 0) return; // nothing to score against
    const entry = this.entry(camera, stampNs);
    if (this.complete(entry, expected, true)) {
      this.remove(camera, stampNs);
      this.finish(camera, stampNs, prediction, entry.truth);
    } else {
      entry.prediction = this.opts.retain(prediction);
    }
  }

  addTruth(camera: string, stampNs: bigint, part: TruthPart, truth: T): void {
    const entry = this.entry(camera, stampNs);
    entry.truth[part] = truth;
    if (entry.prediction !== undefined && this.complete(entry, this.opts.expected(camera), false)) {
      this.remove(camera, stampNs);
      this.finish(camera, stampNs, entry.prediction, entry.truth);
    }
  }

  /** Scores everything still waiting that has a prediction; call at the end of a replay. */
  flush(): void {
    for (const [camera, entries] of this.pending) {
      for (const [stamp, entry] of entries) this.settle(camera, stamp, entry);
    }
    this.pending.clear();
  }

  private complete(entry: Entry<P, T>, expected: ReadonlySet<TruthPart>, withNewPrediction: boolean): boolean {
    if (!withNewPrediction && entry.prediction === undefined) return false;
    for (const part of expected) if (entry.truth[part] === undefined) return false;
    return true;
  }

  private entry(camera: string, stampNs: bigint): Entry<P, T> {
    let entries = this.pending.get(camera);
    if (!entries) {
      entries = new Map();
      this.pending.set(camera, entries);
    }
    let entry = entries.get(stampNs);
    if (!entry) {
      entry = { truth: {} };
      entries.set(stampNs, entry);
      if (entries.size > this.maxPending) {
        // Maps iterate in insertion order: the first key is the oldest stamp waiting.
        const [oldStamp, oldEntry] = entries.entries().next().value as [bigint, Entry<P, T>];
        entries.delete(oldStamp);
        this.settle(camera, oldStamp, oldEntry);
      }
    }
    return entry;
  }

  private settle(camera: string, stampNs: bigint, entry: Entry<P, T>): void {
    if (entry.prediction !== undefined && Object.keys(entry.truth).length > 0) {
      this.finish(camera, stampNs, entry.prediction, entry.truth);
    } else {
      this.unmatched++;
    }
  }

  private remove(camera: string, stampNs: bigint): void {
    this.pending.get(camera)?.delete(stampNs);
  }

  private finish(camera: string, stampNs: bigint, prediction: P, truth: Partial<Record<TruthPart, T>>): void {
    this.scored++;
    this.opts.score(camera, stampNs, prediction, truth);
  }
}
