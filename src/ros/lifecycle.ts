import { PerceptionError } from '../core/errors.js';
import type { LifecycleState } from './node-types.js';

export type Transition = 'configure' | 'activate' | 'deactivate' | 'cleanup' | 'shutdown';

/**
 * The managed-node life cycle (unconfigured → inactive → active and back, finalized at the end),
 * transport-agnostic. Transitions are async (opening a model takes a while) and serialised: a
 * second call waits for the first. Deactivate, cleanup and shutdown are idempotent and walk the
 * states in between (shutdown of an active node deactivates and cleans up first), because a
 * signal handler, a lifecycle manager and a `finally` may all ask for them.
 */
export abstract class ManagedNode {
  #state: LifecycleState = 'unconfigured';
  #chain: Promise<unknown> = Promise.resolve();
  #running: Transition | undefined;
  #lastFailure: { transition: Transition; reason: string } | undefined;

  get state(): LifecycleState {
    return this.#state;
  }

  /** The transition running now (ROS shows its transition state, e.g. `configuring`), if any. */
  get transitioning(): Transition | undefined {
    return this.#running;
  }

  /** The last transition that failed and why (cleared by the next one that succeeds). */
  get lastFailure(): { readonly transition: Transition; readonly reason: string } | undefined {
    return this.#lastFailure;
  }

  configure(): Promise<void> {
    return this.#run('configure', async () => {
      this.#expect('configure', ['unconfigured']);
      try {
        await this.onConfigure();
      } catch (err) {
        await this.onCleanup(); // release what the failed configure opened
        throw err;
      }
      this.#state = 'inactive';
    });
  }

  activate(): Promise<void> {
    return this.#run('activate', async () => {
      this.#expect('activate', ['inactive']);
      try {
        await this.onActivate();
      } catch (err) {
        await this.onDeactivate();
        throw err;
      }
      this.#state = 'active';
    });
  }

  deactivate(): Promise<void> {
    return this.#run('deactivate', () => this.#deactivate());
  }

  cleanup(): Promise<void> {
    return this.#run('cleanup', async () => {
      await this.#deactivate();
      await this.#cleanup();
    });
  }

  shutdown(): Promise<void> {
    return this.#run('shutdown', async () => {
      await this.#deactivate();
      await this.#cleanup();
      this.#state = 'finalized';
    });
  }

  protected abstract onConfigure(): Promise<void>;
  protected abstract onActivate(): Promise<void>;
  /** Must be idempotent: it also runs after a failed activate. */
  protected abstract onDeactivate(): Promise<void>;
  /** Must be idempotent: it also runs after a failed configure. */
  protected abstract onCleanup(): Promise<void>;

  async #deactivate(): Promise<void> {
    if (this.#state !== 'active') return;
    await this.onDeactivate();
    this.#state = 'inactive';
  }

  async #cleanup(): Promise<void> {
    if (this.#state !== 'inactive') return;
    await this.onCleanup();
    this.#state = 'unconfigured';
  }

  #expect(t: Transition, from: LifecycleState[]): void {
    if (!from.includes(this.#state)) {
      throw new PerceptionError('INVALID_ARGUMENT', `cannot ${t} a node that is ${this.#state} (needs ${from.join(' or ')})`, { field: 'lifecycle' });
    }
  }

  #run(t: Transition, fn: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(async () => {
      this.#running = t;
      try {
        await fn();
        this.#lastFailure = undefined;
      } catch (err) {
        this.#lastFailure = { transition: t, reason: (err as Error).message };
        throw err;
      } finally {
        this.#running = undefined;
      }
    });
    this.#chain = next.catch(() => {});
    return next;
  }
}
