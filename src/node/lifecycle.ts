import { PerceptionError } from '../errors.js';
import { CALLBACK_RETURN, type RclLifecycleNodeLike } from '../transport/rcl-like.js';
import type { LifecycleState, NodeLog } from './types.js';

type Transition = 'configure' | 'activate' | 'deactivate' | 'cleanup' | 'shutdown';

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

  get state(): LifecycleState {
    return this.#state;
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

  #run(_t: Transition, fn: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(fn);
    this.#chain = next.catch(() => {});
    return next;
  }
}

/**
 * Drives a ManagedNode from an rclnodejs LifecycleNode (`ros2 lifecycle set /perception …`).
 * rclnodejs calls transition callbacks synchronously, while ours are async: the callback starts
 * the transition and answers SUCCESS; a failure is logged (and shows in /diagnostics), and the
 * node stays in its previous state — so rcl's state may run ahead of ours until the next
 * transition. `settled()` waits for the transitions started so far.
 */
export function bindRclLifecycle(rclNode: RclLifecycleNodeLike, node: ManagedNode, log: NodeLog): { settled(): Promise<void> } {
  let pending: Promise<unknown> = Promise.resolve();
  const start = (t: Transition) => () => {
    const p = node[t]().catch((err: unknown) => log('error', `${t} failed: ${(err as Error).message}`));
    pending = Promise.all([pending, p]);
    return CALLBACK_RETURN.SUCCESS;
  };
  rclNode.registerOnConfigure(start('configure'));
  rclNode.registerOnActivate(start('activate'));
  rclNode.registerOnDeactivate(start('deactivate'));
  rclNode.registerOnCleanup(start('cleanup'));
  rclNode.registerOnShutdown(start('shutdown'));
  return { settled: async () => void (await pending) };
}
