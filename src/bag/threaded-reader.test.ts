import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openBag } from './reader.js';
import { ThreadedBagReader } from './threaded-reader.js';
import { fixtureMessages, withTmp, writeAll } from '../../test/support/bag.js';
import { McapBagWriter } from './mcap-writer.js';
import type { BagMessage, BagReader } from './types.js';

const BAGS = join(import.meta.dirname, '..', '..', 'bags');

/** Byte arrays compared by content (a Buffer and a Uint8Array with the same bytes are equal). */
function plain(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return { [v.constructor === Buffer ? 'Uint8Array' : v.constructor.name]: Array.from(v as Uint8Array) };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** A short fingerprint of a message: topic, index, time and the plain form of small fields, sizes and sums of big ones. */
function fingerprint(m: BagMessage): unknown {
  const walk = (v: unknown): unknown => {
    if (ArrayBuffer.isView(v)) {
      const b = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      let sum = 0;
      for (let i = 0; i < b.length; i += 1) sum = (sum * 31 + b[i]) >>> 0;
      return { bytes: b.length, sum };
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return { topic: m.topic, type: m.type, index: m.index, t: m.logTimeNs, msg: walk(m.msg) };
}

async function all(reader: BagReader, topics?: string[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const m of reader.messages({ topics })) out.push(fingerprint(m));
  return out;
}

describe('ThreadedBagReader', () => {
  it.each(['day_front.mcap', 'day_front_ros1.bag'])('reads committed %s exactly as the in-thread reader does', async (name) => {
    const path = join(BAGS, name);
    const here = await openBag(path);
    const there = await ThreadedBagReader.open(path, { readAhead: 3 });
    try {
      expect(there.info()).toEqual(here.info());
      expect(there.format).toBe(here.format);
      const topics = here.info().topics.map((t) => t.topic).filter((t) => !t.includes('depth'));
      const [a, b] = [await all(here, topics), await all(there, topics)];
      expect(b.length).toBeGreaterThan(10);
      expect(b).toEqual(a);
    } finally {
      await Promise.all([here.close(), there.close()]);
    }
  });

  it('moves messages out whole: a message kept after the loop is intact and owns its bytes', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      await writeAll(await McapBagWriter.open(path, { compression: 'zstd' }), fixtureMessages());
      const here = await openBag(path);
      const there = await ThreadedBagReader.open(path);
      try {
        const kept: BagMessage[] = [];
        for await (const m of there.messages()) kept.push(m);
        const want: unknown[] = [];
        for await (const m of here.messages()) want.push(plain(m));
        expect(kept.map(plain)).toEqual(want);
        for (const m of kept) {
          for (const v of Object.values(m.msg as Record<string, unknown>)) {
            if (ArrayBuffer.isView(v)) expect(v.byteLength).toBe(v.buffer.byteLength);
          }
        }
      } finally {
        await Promise.all([here.close(), there.close()]);
      }
    }));

  it('a loop broken early stops the cursor; the reader goes on serving new iterations and closes cleanly', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      const msgs = fixtureMessages();
      await writeAll(await McapBagWriter.open(path, { compression: 'none', chunkSize: 400 }), msgs);
      const reader = await ThreadedBagReader.open(path, { readAhead: 2 });
      let n = 0;
      for await (const _m of reader.messages()) if (++n === 3) break;
      expect(n).toBe(3);
      // Two cursors at once keep their own positions.
      const a = reader.messages()[Symbol.asyncIterator]();
      const b = reader.messages()[Symbol.asyncIterator]();
      const a1 = await a.next();
      const b1 = await b.next();
      const a2 = await a.next();
      expect(a1.value?.index).toBe(0);
      expect(b1.value?.logTimeNs).toBe(a1.value?.logTimeNs);
      expect(a2.value?.logTimeNs).toBeGreaterThanOrEqual(a1.value!.logTimeNs);
      await a.return?.(undefined);
      await b.return?.(undefined);
      expect(await all(reader)).toHaveLength(msgs.length);
      await reader.close();
      await expect(all(reader)).rejects.toMatchObject({ code: 'IO' });
    }));

  it('refuses a bad read-ahead', async () => {
    await expect(ThreadedBagReader.open(join(BAGS, 'day_front.mcap'), { readAhead: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
