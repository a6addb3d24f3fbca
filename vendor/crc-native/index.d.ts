/** @foxglove/crc 0.0.3's API (see index.cjs); `implementation` is the one addition. */
export declare function crc32GenerateTables(args: { polynomial: number; numTables: number }): Uint32Array;
/** The initial running state: all ones (-1). */
export declare function crc32Init(): number;
/** Feeds `data` into a running state; returns the new state (a signed int32). */
export declare function crc32Update(prev: number, data: ArrayBufferView): number;
/** The finished CRC32 of a running state, as an unsigned number. */
export declare function crc32Final(prev: number): number;
/** One-shot CRC32, unsigned. */
export declare function crc32(data: ArrayBufferView): number;
/** Which implementation this process uses. */
export declare const implementation: 'zlib.crc32' | 'js';
