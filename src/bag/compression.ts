import { createRequire } from 'node:module';
import { constants as bufferConstants } from 'node:buffer';
import * as wasmZstd from '@foxglove/wasm-zstd';
import lz4Decompress from '@foxglove/wasm-lz4';
import type { McapTypes } from '@mcap/core';
import { PerceptionError } from '../core/errors.js';
import { lz4FrameCompress } from './lz4-frame.js';

export type Compression = 'zstd' | 'lz4' | 'none';

/** What the codecs run on, for benchmarks and diagnostics. */
export interface CodecInfo {
  zstd: 'zstd-napi' | '@foxglove/wasm-zstd';
  /** Why zstd-napi is not in use, when it is not. */
  zstdFallback?: string;
  /** The CRC32 behind @mcap/core's checks: vendor/crc-native's choice, 'js' or 'zlib.crc32'. */
  crc32: string;
}

export interface Codecs {
  decompressHandlers: McapTypes.DecompressHandlers;
  compress: Record<Exclude<Compression, 'none'>, (data: Uint8Array) => Uint8Array>;
  info: CodecInfo;
}

export interface CodecOptions {
  /** 'auto' (default): zstd-napi when it loads, else WebAssembly; 'wasm': WebAssembly always (the baseline). */
  zstd?: 'auto' | 'wasm';
}

/** zstd level 3: close to the best ratio for depth and masks at a speed two cores can afford. */
const ZSTD_LEVEL = 3;

/** The part of zstd-napi's low-level binding (`zstd-napi/binding`) used here. */
export interface ZstdBinding {
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  compressBound(size: number): number;
}

type ZstdBackend = Pick<Codecs['compress'], 'zstd'> & { decompress: (src: Uint8Array, size: number) => Uint8Array };

const require = createRequire(import.meta.url);
const loaded = new Map<'auto' | 'wasm', Promise<Codecs>>();

/**
 * Loads the codecs once per choice; every reader and writer shares them. zstd runs on
 * zstd-napi (native, an optional dependency built with node-gyp) when it loads, else on
 * @foxglove/wasm-zstd, which also copies in and out of its heap: native is about 1.5x as fast
 * both ways on raw camera frames (docs/experiments/2026-11-28-threads-and-bag-reading.md).
 * Both write standard zstd frames the other reads.
 */
export function loadCodecs(options: CodecOptions = {}): Promise<Codecs> {
  const choice = options.zstd ?? 'auto';
  if (choice !== 'auto' && choice !== 'wasm') {
    return Promise.reject(new PerceptionError('INVALID_ARGUMENT', `zstd must be "auto" or "wasm", got "${String(choice)}"`, { field: 'zstd' }));
  }
  let codecs = loaded.get(choice);
  if (!codecs) {
    codecs = makeCodecs(choice);
    loaded.set(choice, codecs);
  }
  return codecs;
}

/**
 * loadCodecs without the cache. @internal: the binding loader is a parameter so tests can stand
 * in a missing or broken zstd-napi.
 */
export async function makeCodecs(choice: 'auto' | 'wasm', loadBinding: () => ZstdBinding = () => require('zstd-napi/binding') as ZstdBinding): Promise<Codecs> {
  await Promise.all([wasmZstd.isLoaded, lz4Decompress.isLoaded]);
  const wasm: ZstdBackend = { decompress: (src, size) => wasmZstd.decompress(src, size), zstd: (data) => wasmZstd.compress(data, ZSTD_LEVEL) };
  let zstd = wasm;
  const info: CodecInfo = { zstd: '@foxglove/wasm-zstd', crc32: crcImplementation() };
  if (choice === 'wasm') info.zstdFallback = 'WebAssembly requested';
  else {
    try {
      zstd = nativeZstd(loadBinding(), wasm);
      info.zstd = 'zstd-napi';
    } catch (cause) {
      info.zstdFallback = `zstd-napi unavailable: ${(cause as Error)?.message ?? String(cause)}`.split('\n')[0];
    }
  }
  return {
    decompressHandlers: {
      zstd: (buf, size) => decompressExactly('zstd', buf, size, zstd.decompress),
      lz4: (buf, size) => decompressExactly('lz4', buf, size, lz4Decompress),
    },
    compress: { zstd: zstd.zstd, lz4: lz4FrameCompress },
    info,
  };
}

/**
 * Runs a decompressor and insists on the chunk's announced size: @mcap/core does not compare
 * them, and the WebAssembly codecs return whatever length came out.
 */
function decompressExactly(codec: string, src: Uint8Array, size: bigint, run: (src: Uint8Array, size: number) => Uint8Array): Uint8Array {
  if (size > BigInt(bufferConstants.MAX_LENGTH)) {
    throw new PerceptionError('BAG_CORRUPT', `${codec} chunk announces ${size} uncompressed bytes, more than a buffer holds`, { codec });
  }
  const n = Number(size);
  let out: Uint8Array;
  try {
    out = run(src, n);
  } catch (cause) {
    throw new PerceptionError('BAG_CORRUPT', `${codec} chunk does not decompress to its announced ${n} bytes: ${(cause as Error)?.message}`, { codec }, { cause });
  }
  if (out.byteLength !== n) {
    throw new PerceptionError('BAG_CORRUPT', `${codec} chunk decompresses to ${out.byteLength} bytes, its header announces ${n}`, { codec });
  }
  return out;
}

/** vendor/crc-native reports its choice; the original @foxglove/crc (no override) does not. */
function crcImplementation(): string {
  try {
    return (require('@foxglove/crc') as { implementation?: string }).implementation ?? 'js (@foxglove/crc)';
  } catch {
    return 'unknown';
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * zstd-napi's codec, proven against the WebAssembly codec on a small frame, so a binary
 * that loads but misbehaves (a stale build, a wrong ABI) falls back instead of failing reads.
 */
function nativeZstd(binding: ZstdBinding, wasm: ZstdBackend): ZstdBackend {
  // One context each, reused: the calls are synchronous, so nothing interleaves on them.
  const dctx = new binding.DCtx();
  const cctx = new binding.CCtx();
  let scratch = new Uint8Array(0);
  const native: ZstdBackend = {
    decompress(src, size) {
      // Written in full (the size is checked by the caller), so the unzeroed allocation is safe;
      // a fresh buffer per chunk, because messages are views into it.
      const out = Buffer.allocUnsafe(size);
      const n = dctx.decompress(out, src);
      return n === size ? out : out.subarray(0, n);
    },
    zstd(data) {
      const bound = binding.compressBound(data.byteLength);
      // The scratch buffer is reused across chunks; the result is copied out of it.
      if (scratch.byteLength < bound) scratch = new Uint8Array(bound);
      const n = cctx.compress(scratch, data, ZSTD_LEVEL);
      return scratch.slice(0, n);
    },
  };
  const probe = new TextEncoder().encode('zstd-napi self-check '.repeat(8));
  const viaNative = native.decompress(wasm.zstd(probe), probe.byteLength);
  const viaWasm = wasm.decompress(native.zstd(probe), probe.byteLength);
  if (!equalBytes(viaNative, probe) || !equalBytes(viaWasm, probe)) throw new Error('zstd-napi does not round-trip with @foxglove/wasm-zstd');
  return native;
}
