import * as zstd from '@foxglove/wasm-zstd';
import lz4Decompress from '@foxglove/wasm-lz4';
import type { McapTypes } from '@mcap/core';
import { lz4FrameCompress } from './lz4-frame.js';

export type Compression = 'zstd' | 'lz4' | 'none';

export interface Codecs {
  decompressHandlers: McapTypes.DecompressHandlers;
  compress: Record<Exclude<Compression, 'none'>, (data: Uint8Array) => Uint8Array>;
}

/** zstd level 3: close to the best ratio for depth and masks at a speed two cores can afford. */
const ZSTD_LEVEL = 3;

let loaded: Promise<Codecs> | undefined;

/** Loads the WebAssembly codecs once; every reader and writer shares them. */
export function loadCodecs(): Promise<Codecs> {
  loaded ??= (async () => {
    await Promise.all([zstd.isLoaded, lz4Decompress.isLoaded]);
    return {
      decompressHandlers: {
        zstd: (buf, size) => zstd.decompress(buf, Number(size)),
        lz4: (buf, size) => lz4Decompress(buf, Number(size)),
      },
      compress: {
        zstd: (data) => zstd.compress(data, ZSTD_LEVEL),
        lz4: lz4FrameCompress,
      },
    };
  })();
  return loaded;
}
