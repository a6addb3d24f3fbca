import type { PendingFrame } from './types.js';

/**
 * One camera's keep-latest slot: at most one undispatched frame, so memory is bounded whatever
 * the input rate. Stamps only move forward: a frame no newer than the last one accepted (held or
 * already taken) is refused, so a camera's frames are served in stamp order even when the
 * transport reorders them.
 */
export class Mailbox<T> {
  private frame: PendingFrame<T> | undefined;
  private lastStampNs: bigint | undefined;
  private arrivals = 0;

  constructor(readonly camera: string) {}

  /** Counts an arrival and says whether `sampleEvery` keeps it (the first, then every k-th). */
  sample(every: number): boolean {
    const keep = this.arrivals % every === 0;
    this.arrivals += 1;
    return keep;
  }

  /**
   * Puts `frame` in the slot. Returns the frame that lost: the replaced older one, `frame` itself
   * when it is not newer than the last accepted stamp, or undefined when the slot was empty.
   */
  put(frame: PendingFrame<T>): PendingFrame<T> | undefined {
    if (this.lastStampNs !== undefined && frame.stampNs <= this.lastStampNs) return frame;
    const replaced = this.frame;
    this.frame = frame;
    this.lastStampNs = frame.stampNs;
    return replaced;
  }

  peek(): PendingFrame<T> | undefined {
    return this.frame;
  }

  take(): PendingFrame<T> | undefined {
    const f = this.frame;
    this.frame = undefined;
    return f;
  }
}
