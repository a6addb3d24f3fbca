import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import * as crc from '@foxglove/crc';
import * as js from '@foxglove/crc/js.cjs';
import { describe, expect, it } from 'vitest';

// @foxglove/crc is vendor/crc-native (package.json: a file: dependency and an override), so
// @mcap/core's CRC checks run on zlib.crc32. These pin that the override is in place and that
// its results and running-state semantics are @foxglove/crc 0.0.3's.

/** Bit by bit, straight from the definition (reflected polynomial 0xEDB88320): the reference. */
function bitwise(data: Uint8Array, state = -1): number {
  let r = state;
  for (const byte of data) {
    r ^= byte;
    for (let k = 0; k < 8; k++) r = (r >>> 1) ^ (0xedb88320 & -(r & 1));
  }
  return r | 0;
}

/** `len` random bytes starting `shift` bytes into their buffer (the JS path aligns to 4). */
function bytes(len: number, shift: number): Uint8Array {
  return new Uint8Array(randomBytes(len + shift + 3).buffer, shift, len);
}

describe('@foxglove/crc (vendor/crc-native)', () => {
  it('is the vendored package, on zlib.crc32 where Node has it', () => {
    const expected = typeof zlib.crc32 === 'function' && process.env.AP_CRC32 !== 'js' ? 'zlib.crc32' : 'js';
    expect(crc.implementation).toBe(expected);
  });

  it('gives the standard check value and the reference on every length 0..300 at every alignment', () => {
    expect(crc.crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    for (let len = 0; len <= 300; len++) {
      for (let shift = 0; shift < 4; shift++) {
        const d = bytes(len, shift);
        const want = bitwise(d);
        expect(crc.crc32Update(-1, d), `update, length ${len}, shift ${shift}`).toBe(want);
        expect(js.crc32Update(-1, d), `js, length ${len}, shift ${shift}`).toBe(want);
        expect(crc.crc32(d), `one-shot, length ${len}, shift ${shift}`).toBe((want ^ -1) >>> 0);
      }
    }
  });

  it('keeps the running state of @foxglove/crc: -1 to start, signed int32 between updates, unsigned at the end', () => {
    expect(crc.crc32Init()).toBe(-1);
    for (let i = 0; i < 200; i++) {
      const prev = randomBytes(4).readInt32LE(0);
      const d = bytes(i * 7, i % 4);
      expect(crc.crc32Update(prev, d)).toBe(js.crc32Update(prev, d));
      expect(crc.crc32Final(prev)).toBe((prev ^ -1) >>> 0);
    }
    // An empty update hands the state back as given, signed or not, as the JS implementation does.
    for (const prev of [-1, 0, 1, 0x7fffffff, 0xffffffff, 0x80000000]) {
      expect(crc.crc32Update(prev, new Uint8Array(0))).toBe(prev);
      expect(js.crc32Update(prev, new Uint8Array(0))).toBe(prev);
    }
  });

  it('streams: any split of the data gives the one-shot CRC; DataViews read like their bytes', () => {
    const d = bytes(3 << 20, 1);
    const whole = crc.crc32(d);
    expect(whole).toBe((js.crc32Update(-1, d) ^ -1) >>> 0);
    for (const cuts of [[0], [1, 2, 3], [17, 4096, 1 << 20], [(3 << 20) - 1]]) {
      let s = crc.crc32Init();
      let from = 0;
      for (const to of [...cuts, d.byteLength]) {
        s = crc.crc32Update(s, d.subarray(from, to));
        from = to;
      }
      expect(crc.crc32Final(s), `cuts ${cuts.join(',')}`).toBe(whole);
    }
    const small = d.subarray(5, 1005);
    expect(crc.crc32(new DataView(small.buffer, small.byteOffset, small.byteLength))).toBe(crc.crc32(small));
  });
});
