import type { RevokeReason, SlackGrant } from './types.js';

export interface SlackStats {
  grants: number;
  refusals: number;
  revocations: number;
  granted_ms: number;
  /** The unused remainder of revoked grants. */
  revoked_ms: number;
}

type ReportError = (error: unknown) => void;

class Grant implements SlackGrant {
  private listeners: ((reason: RevokeReason) => void)[] = [];
  private state: 'active' | 'revoked' | 'released' = 'active';
  private reason: RevokeReason | undefined;

  constructor(
    readonly id: number,
    readonly ms: number,
    readonly startMs: number,
    private readonly owner: SlackBroker,
    private readonly report: ReportError,
  ) {}

  get endMs(): number {
    return this.startMs + this.ms;
  }

  get revoked(): boolean {
    return this.state === 'revoked';
  }

  isActive(nowMs: number): boolean {
    return this.state === 'active' && nowMs < this.endMs;
  }

  onRevoke(listener: (reason: RevokeReason) => void): void {
    if (this.state === 'revoked') this.call(listener, this.reason ?? 'shutdown');
    else if (this.state === 'active') this.listeners.push(listener);
  }

  release(): void {
    if (this.state !== 'active') return;
    this.state = 'released';
    this.listeners = [];
    this.owner.forget(this);
  }

  revoke(reason: RevokeReason): void {
    if (this.state !== 'active') return;
    this.state = 'revoked';
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const l of listeners) this.call(l, reason);
  }

  private call(listener: (reason: RevokeReason) => void, reason: RevokeReason): void {
    try {
      listener(reason);
    } catch (err) {
      this.report(err);
    }
  }
}

/**
 * Lends idle inference time to the trainer, one grant at a time. The scheduler decides whether a
 * grant is safe (see `Scheduler.requestSlack`); the broker keeps the grant's life cycle and counts.
 */
export class SlackBroker {
  private active: Grant | undefined;
  private nextId = 1;
  readonly stats: SlackStats = { grants: 0, refusals: 0, revocations: 0, granted_ms: 0, revoked_ms: 0 };

  constructor(private readonly report: ReportError) {}

  /** The live grant, if any (an expired one is forgotten here). */
  current(nowMs: number): SlackGrant | undefined {
    if (this.active !== undefined && !this.active.isActive(nowMs)) this.active = undefined;
    return this.active;
  }

  grant(ms: number, nowMs: number): SlackGrant {
    const g = new Grant(this.nextId++, ms, nowMs, this, this.report);
    this.active = g;
    this.stats.grants += 1;
    this.stats.granted_ms += ms;
    return g;
  }

  refuse(): null {
    this.stats.refusals += 1;
    return null;
  }

  /** Revokes the live grant synchronously; its listeners have run when this returns. */
  revoke(reason: RevokeReason, nowMs: number): void {
    const g = this.current(nowMs);
    if (g === undefined) return;
    this.active = undefined;
    this.stats.revocations += 1;
    this.stats.revoked_ms += Math.max(0, g.endMs - nowMs);
    (g as Grant).revoke(reason);
  }

  forget(g: Grant): void {
    if (this.active === g) this.active = undefined;
  }
}
