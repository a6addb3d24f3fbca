/** The JavaScript implementation of @foxglove/crc 0.0.3 (the fallback and the baseline). */
export declare function crc32GenerateTables(args: { polynomial: number; numTables: number }): Uint32Array;
export declare function crc32Update(prev: number, data: ArrayBufferView): number;
