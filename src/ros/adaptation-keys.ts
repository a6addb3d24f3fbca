import { homedir } from 'node:os';
import { join } from 'node:path';
import { PerceptionError } from '../core/errors.js';
import { loadOrCreateIdentity, loadPublicIdentity, type Identity, type PublicIdentity } from '../adaptation/protocol/keys.js';
import type { NodeLog } from './node-types.js';

/**
 * Key material of the two nodes under ROS 2. Each node loads its own identity from the key
 * folder, creating it on first start, and waits for the peer's public half to appear there
 * (the peer creates it on its own first start): on one machine the two nodes need nothing set
 * up by hand. Across machines, copy `<peer>.ed25519.pub.pem` and `<peer>.curve.pub` into each
 * node's key folder (see docs/ros.md).
 */
export interface NodeKeys {
  readonly self: Identity;
  readonly peer: PublicIdentity;
}

/** `$ROS_HOME/adaptive_perception/<sub>` (ROS_HOME defaults to ~/.ros), for empty folder parameters. */
export function rosHomeDir(sub: string): string {
  return join(process.env.ROS_HOME || join(homedir(), '.ros'), 'adaptive_perception', sub);
}

export async function loadNodeKeys(o: { dir: string; self: string; peer: string; waitS: number; log: NodeLog }): Promise<NodeKeys> {
  const self = await loadOrCreateIdentity(o.dir, o.self);
  const end = performance.now() + o.waitS * 1000;
  let said = false;
  for (;;) {
    try {
      return { self, peer: await loadPublicIdentity(o.dir, o.peer) };
    } catch (err) {
      if (performance.now() >= end) {
        throw new PerceptionError('INVALID_CONFIG', `no public keys of '${o.peer}' in ${o.dir} after ${o.waitS} s (${(err as Error).message}); start the ${o.peer} node once, or copy its .pub files there`, { field: 'keys_dir', file: o.dir });
      }
      if (!said) o.log('info', `waiting up to ${o.waitS} s for the public keys of '${o.peer}' in ${o.dir}`);
      said = true;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
