import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PerceptionError } from './errors.js';

/**
 * Crash-safe files: a reader sees either the previous complete file or the new complete file,
 * never a mix, and detects bit rot or a foreign write by its embedded checksum.
 *
 * Write: tmp file in the same folder → write → fsync → rename over the target → fsync the
 * folder (so the rename itself survives a power cut). The checksum is embedded rather than in
 * a sidecar so that one rename publishes data and checksum together.
 *
 * Envelope layout:
 *   0   8   magic "APDUR001"
 *   8   8   u64 LE payload length
 *   16  32  sha256 of the payload
 *   48  …   payload
 */
const MAGIC = Buffer.from('APDUR001', 'latin1');
const HEAD = MAGIC.length + 8 + 32;
/** Leftover temporaries of a write that was killed carry this infix (see `removeStaleTemps`). */
export const TMP_INFIX = '.tmp-';

export async function writeDurable(file: string, payload: Uint8Array): Promise<void> {
  const head = Buffer.alloc(HEAD);
  MAGIC.copy(head, 0);
  head.writeBigUInt64LE(BigInt(payload.length), MAGIC.length);
  createHash('sha256').update(payload).digest().copy(head, MAGIC.length + 8);
  const tmp = `${file}${TMP_INFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writev([head, payload]);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await syncDir(dirname(file));
  } catch (cause) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new PerceptionError('IO', `durable write failed: ${(cause as Error).message}`, { file }, { cause });
  }
}

/** Reads a durable file; IO with `context.reason` 'missing' | 'corrupt' when it is absent or fails its checksum. */
export async function readDurable(file: string): Promise<Buffer> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
    throw new PerceptionError('IO', `cannot read ${file}: ${(cause as Error).message}`, { file, reason }, { cause });
  }
  const corrupt = (why: string) => new PerceptionError('IO', `durable file is corrupt: ${why}`, { file, reason: 'corrupt' });
  if (buf.length < HEAD || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw corrupt('bad header (truncated or not written by writeDurable)');
  const len = buf.readBigUInt64LE(MAGIC.length);
  if (len !== BigInt(buf.length - HEAD)) throw corrupt(`payload is ${buf.length - HEAD} bytes, the header says ${len}`);
  const payload = buf.subarray(HEAD);
  const want = buf.subarray(MAGIC.length + 8, HEAD);
  if (!createHash('sha256').update(payload).digest().equals(want)) throw corrupt('sha256 mismatch');
  return payload;
}

/** Removes temporaries left in `dir` by writes that never reached their rename; returns their names. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.includes(TMP_INFIX));
  for (const n of names) await rm(join(dir, n), { force: true });
  return names;
}

/** Renames durably (fsync of the folder afterwards). */
export async function renameDurable(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
    await syncDir(dirname(to));
  } catch (cause) {
    throw new PerceptionError('IO', `cannot rename ${basename(from)} to ${basename(to)}: ${(cause as Error).message}`, { file: from }, { cause });
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
