'use strict';
/* global require, exports */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, so @mcap/core's CJS build can require it too */
// @foxglove/crc's API over Node's zlib.crc32 (native, Node >= 20.15 / 22.2). @mcap/core checks
// a CRC32 over every chunk's uncompressed bytes and every record that has one; reading a raw
// 1280x720 rgb8 frame (2.7 MB) spent ~1.4 ms of ~8.9 ms in the JS CRC. On 3 MB, measured here:
// @foxglove/crc 1.2 ms, zlib.crc32 0.44 ms, identical results. Semantics kept exactly:
// the running state is the bitwise complement of the finished CRC, as a signed int32
// (crc32Init() === -1), and crc32Final turns it into an unsigned number.
const zlib = require('node:zlib');
const { env } = require('node:process');
const js = require('./js.cjs');

/** AP_CRC32=js forces the JavaScript implementation (the baseline of bench/read.ts). */
const native = typeof zlib.crc32 === 'function' && env.AP_CRC32 !== 'js';

function crc32Init() {
  return ~0;
}

function nativeUpdate(prev, data) {
  // An empty update hands the state back untouched, as the JS implementation does.
  if (data.byteLength === 0) return prev;
  return zlib.crc32(data, (prev ^ ~0) >>> 0) ^ ~0;
}

const crc32Update = native ? nativeUpdate : js.crc32Update;

function crc32Final(prev) {
  return (prev ^ ~0) >>> 0;
}

function crc32(data) {
  return native ? zlib.crc32(data) : crc32Final(js.crc32Update(~0, data));
}

exports.crc32GenerateTables = js.crc32GenerateTables;
exports.crc32Init = crc32Init;
exports.crc32Update = crc32Update;
exports.crc32Final = crc32Final;
exports.crc32 = crc32;
/** Which implementation this process uses: 'zlib.crc32' or 'js'. Not in @foxglove/crc. */
exports.implementation = native ? 'zlib.crc32' : 'js';
