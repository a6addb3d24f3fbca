'use strict';
/* global exports */
// The JavaScript CRC32 of @foxglove/crc 0.0.3 (MIT, Copyright (c) Foxglove Technologies Inc, see
// LICENSE-foxglove-crc.md), ported: the update loop as it was, the table loop rolled up. The
// fallback where zlib.crc32 is missing, and the baseline the native path is measured against.

/** CRC32 lookup tables for slicing by `numTables` bytes (https://github.com/komrad36/CRC). */
function crc32GenerateTables({ polynomial, numTables }) {
  const table = new Uint32Array(256 * numTables);
  for (let i = 0; i < 256; i++) {
    let r = i;
    for (let bit = 0; bit < 8; bit++) r = ((r & 1) * polynomial) ^ (r >>> 1);
    table[i] = r;
  }
  for (let i = 256; i < table.length; i++) {
    const value = table[i - 256];
    table[i] = table[value & 0xff] ^ (value >>> 8);
  }
  return table;
}

const CRC32_TABLE = crc32GenerateTables({ polynomial: 0xedb88320, numTables: 8 });

/** Streaming update, 8 bytes at a time (https://github.com/komrad36/CRC#option-9-8-byte-tabular). */
function crc32Update(prev, data) {
  const byteLength = data.byteLength;
  const view = new DataView(data.buffer, data.byteOffset, byteLength);
  let r = prev;
  let offset = 0;
  const toAlign = -view.byteOffset & 3;
  for (; offset < toAlign && offset < byteLength; offset++) {
    r = CRC32_TABLE[(r ^ view.getUint8(offset)) & 0xff] ^ (r >>> 8);
  }
  if (offset === byteLength) return r;
  offset = toAlign;
  let remainingBytes = byteLength - offset;
  for (; remainingBytes >= 8; offset += 8, remainingBytes -= 8) {
    r ^= view.getUint32(offset, true);
    const r2 = view.getUint32(offset + 4, true);
    r =
      CRC32_TABLE[0 * 256 + ((r2 >>> 24) & 0xff)] ^
      CRC32_TABLE[1 * 256 + ((r2 >>> 16) & 0xff)] ^
      CRC32_TABLE[2 * 256 + ((r2 >>> 8) & 0xff)] ^
      CRC32_TABLE[3 * 256 + ((r2 >>> 0) & 0xff)] ^
      CRC32_TABLE[4 * 256 + ((r >>> 24) & 0xff)] ^
      CRC32_TABLE[5 * 256 + ((r >>> 16) & 0xff)] ^
      CRC32_TABLE[6 * 256 + ((r >>> 8) & 0xff)] ^
      CRC32_TABLE[7 * 256 + ((r >>> 0) & 0xff)];
  }
  for (let i = offset; i < byteLength; i++) {
    r = CRC32_TABLE[(r ^ view.getUint8(i)) & 0xff] ^ (r >>> 8);
  }
  return r;
}

exports.crc32GenerateTables = crc32GenerateTables;
exports.crc32Update = crc32Update;
