import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, implementation } from '@foxglove/crc';
import type { McapTypes } from '@mcap/core';
import { FileHandleReadable } from '@mcap/nodejs';
import { describe, expect, it } from 'vitest';
import { plain, sampleRgbImage } from '../msgs/samples.js';
import { loadCodecs, makeCodecs, type Codecs, type ZstdBinding } from './compression.js';
import { McapBagReader, streamRecords } from './mcap-reader.js';
import { McapBagWriter } from './mcap-writer.js';
import { collect, T0, withTmp } from '../../test/support/bag.js';

type Chunk = McapTypes.TypedMcapRecords['Chunk'];

const auto = await loadCodecs();
const wasm = await loadCodecs({ zstd: 'wasm' });
const native = auto.info.zstd === 'zstd-napi';

/** Writes 64x48 rgb8 frames with our writer (zstd chunks of ~2 frames); returns the path and what was written. */
async function writeFrames(dir: string, n = 6): Promise<{ path: string; frames: unknown[] }> {
  const path = join(dir, 'frames.mcap');
  const writer = await McapBagWriter.open(path, { compression: 'zstd', chunkSize: 12_000 });
  await writer.addTopic('/cam/image_raw', 'sensor_msgs/msg/Image');
  const frames = Array.from({ length: n }, (_, i) => sampleRgbImage(64, 48, i));
  for (let i = 0; i < n; i++) await writer.write('/cam/image_raw', T0 + BigInt(i), frames[i]);
  await writer.close();
  return { path, frames };
}

/** The file's chunk records, still compressed. */
async function chunksOf(path: string): Promise<Chunk[]> {
  const fh = await open(path, 'r');
  try {
    const chunks: Chunk[] = [];
    for await (const rec of streamRecords(path, new FileHandleReadable(fh), { includeChunks: true, codecs: wasm })) if (rec.type === 'Chunk') chunks.push(rec);
    return chunks;
  } finally {
    await fh.close();
  }
}

describe('codecs', () => {
  it('BAD CALL: an unknown zstd choice is INVALID_ARGUMENT naming the field', async () => {
    await expect(loadCodecs({ zstd: 'gpu' as 'wasm' })).rejects.toMatchObject({ name: 'PerceptionError', code: 'INVALID_ARGUMENT', context: { field: 'zstd' } });
  });

  it('say what they run on: zstd-napi, or WebAssembly with the reason; the CRC32 of @mcap/core', () => {
    expect(['zstd-napi', '@foxglove/wasm-zstd']).toContain(auto.info.zstd);
    if (!native) expect(auto.info.zstdFallback).toMatch(/zstd-napi unavailable/);
    expect(wasm.info).toEqual({ zstd: '@foxglove/wasm-zstd', zstdFallback: 'WebAssembly requested', crc32: implementation });
    expect(auto.info.crc32).toBe(implementation);
  });

  it('fall back to WebAssembly when zstd-napi is missing or does not round-trip, and still decode', async () => {
    const missing = await makeCodecs('auto', () => {
      throw new Error("Cannot find module 'zstd-napi/binding'");
    });
    expect(missing.info).toMatchObject({ zstd: '@foxglove/wasm-zstd', zstdFallback: "zstd-napi unavailable: Cannot find module 'zstd-napi/binding'" });
    // Loads, but writes zeros: the self-check catches it before any chunk is read.
    const broken: ZstdBinding = {
      DCtx: class {
        decompress(dst: Uint8Array): number {
          dst.fill(0);
          return dst.byteLength;
        }
      },
      CCtx: class {
        compress(): number {
          return 0;
        }
      },
      compressBound: (n) => n + 64,
    };
    const stale = await makeCodecs('auto', () => broken);
    expect(stale.info).toMatchObject({ zstd: '@foxglove/wasm-zstd', zstdFallback: expect.stringMatching(/does not round-trip/) });
    const data = new TextEncoder().encode('fallback '.repeat(1000));
    for (const codecs of [missing, stale]) {
      expect(Buffer.from(codecs.decompressHandlers.zstd(codecs.compress.zstd(data), BigInt(data.byteLength))).equals(data)).toBe(true);
    }
  });

  it.skipIf(!native)('native and WebAssembly decode the zstd chunks our writer wrote to the same bytes, with the chunk CRC', () =>
    withTmp(async (dir) => {
      const chunks = await chunksOf((await writeFrames(dir)).path);
      expect(chunks.length).toBeGreaterThan(1);
      for (const c of chunks) {
        expect(c.compression).toBe('zstd');
        const a = auto.decompressHandlers.zstd(c.records, c.uncompressedSize);
        const b = wasm.decompressHandlers.zstd(c.records, c.uncompressedSize);
        expect(a.byteLength).toBe(Number(c.uncompressedSize));
        expect(Buffer.from(a).equals(b)).toBe(true);
        expect(crc32(a)).toBe(c.uncompressedCrc);
      }
      // And each reads what the other compressed.
      const data = wasm.decompressHandlers.zstd(chunks[0].records, chunks[0].uncompressedSize);
      const size = BigInt(data.byteLength);
      expect(Buffer.from(wasm.decompressHandlers.zstd(auto.compress.zstd(data), size)).equals(data)).toBe(true);
      expect(Buffer.from(auto.decompressHandlers.zstd(wasm.compress.zstd(data), size)).equals(data)).toBe(true);
    }));

  it('the WebAssembly codec reads a bag the default codecs wrote, message for message', () =>
    withTmp(async (dir) => {
      const { path, frames } = await writeFrames(dir);
      for (const codecs of [wasm, auto]) {
        const reader = await McapBagReader.open(path, { codecs });
        try {
          const read = await collect(reader);
          expect(read.map((m) => plain(m.msg)), codecs.info.zstd).toEqual(frames.map(plain));
        } finally {
          await reader.close();
        }
      }
    }));

  it('a chunk that does not decompress to its announced size is BAG_CORRUPT, for each codec', () =>
    withTmp(async (dir) => {
      const [c] = await chunksOf((await writeFrames(dir)).path);
      const codecs: Codecs[] = native ? [auto, wasm] : [wasm];
      for (const { decompressHandlers, info } of codecs) {
        for (const size of [c.uncompressedSize + 1n, c.uncompressedSize - 1n, c.uncompressedSize * 2n, 1n << 60n]) {
          const err = (() => {
            try {
              decompressHandlers.zstd(c.records, size);
            } catch (e) {
              return e;
            }
          })();
          expect(err, `${info.zstd}, announced ${size}`).toMatchObject({ name: 'PerceptionError', code: 'BAG_CORRUPT', context: { codec: 'zstd' } });
        }
      }
      // lz4 too. (Only a larger size: after a failed call @foxglove/wasm-lz4 keeps its context in
      // an error state, and every later lz4 call in the process fails.)
      const lz4 = wasm.compress.lz4(new TextEncoder().encode('lz4 '.repeat(500)));
      expect(() => wasm.decompressHandlers.lz4(lz4, 2001n)).toThrow(expect.objectContaining({ code: 'BAG_CORRUPT', message: expect.stringContaining('announces 2001') }));
      expect(wasm.decompressHandlers.lz4(lz4, 2000n).byteLength).toBe(2000);
    }));
});
