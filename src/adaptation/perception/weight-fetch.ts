import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PerceptionError } from '../../core/errors.js';
import type { WeightUpdate } from '../../msgs/adaptation.js';

/**
 * Fetches the bundle a WeightUpdate announces, checking what the announcement promises before
 * anything is parsed: only `file://` URIs; the size must match `size_bytes` and stay under the
 * bound (checked on the open file before reading it, and again on what was read, in case the
 * file grew); the sha256 of the bytes must match. Verification of the signature, model and
 * tensors is SwapManager's (`verifyBundle`); `signature` must at least be the bundle's own.
 * Throws WEIGHTS_REJECTED with `context.reason`.
 */
export type FetchRejectReason = 'bad_uri' | 'unsupported_uri' | 'oversized' | 'size_mismatch' | 'unreadable' | 'bad_hash' | 'signature_mismatch';

const SIG_BYTES = 64;

export async function fetchAnnouncedBundle(msg: Pick<WeightUpdate, 'uri' | 'size_bytes' | 'sha256' | 'signature' | 'version'>, maxBytes: number): Promise<Uint8Array> {
  const reject = (reason: FetchRejectReason, message: string, cause?: unknown) =>
    new PerceptionError('WEIGHTS_REJECTED', `weight update ${msg.version}: ${message}`, { reason, field: 'uri' }, cause === undefined ? undefined : { cause });
  let url: URL;
  try {
    url = new URL(msg.uri);
  } catch (cause) {
    throw reject('bad_uri', `uri ${JSON.stringify(msg.uri)} is not a URI`, cause);
  }
  if (url.protocol !== 'file:') throw reject('unsupported_uri', `uri scheme ${url.protocol} is not supported (only file://; the bundle must lie on a file system this node can read)`);
  const announced = typeof msg.size_bytes === 'bigint' ? msg.size_bytes : BigInt(Math.trunc(Number(msg.size_bytes)));
  if (announced <= 0n || announced > BigInt(maxBytes)) throw reject('oversized', `announced size ${announced} bytes is outside 1..${maxBytes}`);
  if (!/^[0-9a-f]{64}$/.test(msg.sha256)) throw reject('bad_hash', `sha256 ${JSON.stringify(msg.sha256)} is not 64 lowercase hex digits`);
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch (cause) {
    throw reject('bad_uri', `uri ${msg.uri} is not a local file path`, cause);
  }
  let bytes: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (BigInt(size) !== announced) throw reject(size > maxBytes ? 'oversized' : 'size_mismatch', `${path} is ${size} bytes, the announcement says ${announced}`);
      // One byte more than announced: a file that grew since the stat is caught without reading it all.
      bytes = Buffer.alloc(size + 1);
      const { bytesRead } = await fh.read(bytes, 0, size + 1, 0);
      if (bytesRead !== size) throw reject('size_mismatch', `${path} changed while it was read (${bytesRead} bytes, expected ${size})`);
      bytes = bytes.subarray(0, size);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof PerceptionError) throw err;
    throw reject('unreadable', `cannot read ${path}: ${(err as Error).message}`, err);
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== msg.sha256) throw reject('bad_hash', `sha256 of ${path} is ${digest}, the announcement says ${msg.sha256}`);
  const sig = msg.signature;
  if (sig.length > 0 && !Buffer.from(sig).equals(bytes.subarray(bytes.length - SIG_BYTES))) throw reject('signature_mismatch', 'the announced signature is not the bundle\'s own');
  return bytes;
}
