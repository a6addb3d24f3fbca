/** A camera is taken as silent after this many of its periods without a frame… */
const SILENT_PERIODS = 10;
/** …and never sooner than this. */
const SILENT_MIN_MS = 500;

interface Rate {
  lastMs: number;
  periodMs: number | undefined;
}

/**
 * Each camera's frame period (EWMA of accepted inter-arrival times), to predict when the next
 * frame is due: the idle time the scheduler may lend to training.
 */
export class ArrivalRates {
  private readonly rates = new Map<string, Rate>();

  note(camera: string, arrivalMs: number): void {
    const r = this.rates.get(camera);
    if (r === undefined) {
      this.rates.set(camera, { lastMs: arrivalMs, periodMs: undefined });
      return;
    }
    const dt = arrivalMs - r.lastMs;
    if (dt > 0) r.periodMs = r.periodMs === undefined ? dt : r.periodMs + 0.2 * (dt - r.periodMs);
    r.lastMs = Math.max(r.lastMs, arrivalMs);
  }

  /** Cameras delivering now: seen, and not silent (see `idleMs`). At least one once any has delivered. */
  active(nowMs: number): number {
    let n = 0;
    for (const r of this.rates.values()) {
      const silentAfter = r.periodMs === undefined ? SILENT_MIN_MS : Math.max(SILENT_PERIODS * r.periodMs, SILENT_MIN_MS);
      if (nowMs - r.lastMs <= silentAfter) n += 1;
    }
    return n;
  }

  /**
   * Time until the first camera is next expected to deliver; Infinity while no period is known.
   * A camera silent for SILENT_PERIODS of its periods (and at least SILENT_MIN_MS) is not
   * expected any more (a bag that ended, a camera that stopped): otherwise a camera with a
   * period shorter than a slack slice, once silent, would refuse all training time for good.
   * If it comes back, its first frame revokes any grant at once (Scheduler.offer).
   */
  idleMs(nowMs: number): number {
    let idle = Infinity;
    for (const r of this.rates.values()) {
      if (r.periodMs === undefined || r.periodMs <= 0) continue;
      if (nowMs - r.lastMs > Math.max(SILENT_PERIODS * r.periodMs, SILENT_MIN_MS)) continue;
      // A camera that is overdue is expected at its next period boundary, not "now".
      const k = Math.max(1, Math.floor((nowMs - r.lastMs) / r.periodMs) + 1);
      idle = Math.min(idle, r.lastMs + k * r.periodMs - nowMs);
    }
    return idle;
  }
}
