import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPerceptionError } from './errors.js';
import { readDurable, removeStaleTemps, writeDurable } from './durable.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-durable-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('durable files', () => {
  it('round-trips and replaces atomically, leaving no temporaries', async () => {
    const f = join(dir, 'a.bin');
    await writeDurable(f, Buffer.from('first'));
    await writeDurable(f, Buffer.from('second version'));
    expect((await readDurable(f)).toString()).toBe('second version');
    expect(await readdir(dir)).toEqual(['a.bin']);
  });

  it('detects a flipped byte, a truncation and a foreign file', async () => {
    const f = join(dir, 'b.bin');
    await writeDurable(f, Buffer.alloc(100, 7));
    const good = await readFile(f);
    const flipped = Buffer.from(good);
    flipped[80] ^= 1;
    for (const [bytes, re] of [[flipped, /sha256 mismatch/], [good.subarray(0, 90), /payload is 42 bytes, the header says 100/], [Buffer.from('hello'), /bad header/]] as const) {
      await writeFile(f, bytes);
      const err = await readDurable(f).catch((e: unknown) => e);
      expect(isPerceptionError(err, 'IO') && err.context.reason === 'corrupt', String(err)).toBe(true);
      expect(String(err)).toMatch(re);
    }
    const missing = await readDurable(join(dir, 'nope')).catch((e: unknown) => e);
    expect(isPerceptionError(missing, 'IO') && missing.context.reason).toBe('missing');
  });

  it('removes temporaries of a killed write', async () => {
    await writeFile(join(dir, 'c.bin.tmp-123-abcd'), 'half');
    expect(await removeStaleTemps(dir)).toEqual(['c.bin.tmp-123-abcd']);
  });
});
