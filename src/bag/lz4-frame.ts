/**
 * A small LZ4 *frame* encoder (greedy, single hash probe). @foxglove/wasm-lz4 only decompresses,
 * and MCAP's `lz4` chunk compression is the LZ4 frame format, so writing lz4 MCAP needs this.
 * Output is valid LZ4 (independent blocks, no checksums); the ratio is below liblz4's but the
 * format is the same, so any reader (mcap CLI, rosbag2, Foxglove) decodes it.
 */
const MAGIC = 0x184d2204;
const FLG = 0x60; // version 01, independent blocks, no block or content checksums
const BD = 0x70; // 4 MiB maximum block size
const MAX_BLOCK = 4 << 20;
const MIN_MATCH = 4;
const MF_LIMIT = 12; // the last match must start at least 12 bytes before the end of a block
const LAST_LITERALS = 5; // and the last 5 bytes are always literals
const HASH_BITS = 16;

function xxh32Small(bytes: Uint8Array): number {
  // xxHash32 with seed 0 for inputs under 16 bytes (only the frame descriptor needs it).
  const P1 = 2654435761, P2 = 2246822519, P3 = 3266489917, P4 = 668265263, P5 = 374761393;
  const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  let h = (P5 + bytes.length) | 0;
  let i = 0;
  for (; i + 4 <= bytes.length; i += 4) {
    const v = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    h = Math.imul(rotl((h + Math.imul(v, P3)) | 0, 17), P4);
  }
  for (; i < bytes.length; i++) h = Math.imul(rotl((h + Math.imul(bytes[i], P5)) | 0, 11), P1);
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

const HC = (xxh32Small(Uint8Array.of(FLG, BD)) >>> 8) & 0xff;

function writeLength(out: Uint8Array, pos: number, n: number): number {
  for (; n >= 255; n -= 255) out[pos++] = 255;
  out[pos++] = n;
  return pos;
}

/** Compresses one block into `out` at `pos`; returns the end position. */
function compressBlock(src: Uint8Array, out: Uint8Array, pos: number, table: Int32Array): number {
  table.fill(-1);
  const n = src.length;
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  let anchor = 0;
  let ip = 0;
  const emit = (litEnd: number, offset: number, matchLen: number) => {
    const lit = litEnd - anchor;
    const ml = matchLen - MIN_MATCH;
    const tokenPos = pos++;
    if (lit >= 15) pos = writeLength(out, pos, lit - 15);
    out.set(src.subarray(anchor, litEnd), pos);
    pos += lit;
    let token = Math.min(lit, 15) << 4;
    if (matchLen > 0) {
      out[pos++] = offset & 0xff;
      out[pos++] = offset >>> 8;
      if (ml >= 15) pos = writeLength(out, pos, ml - 15);
      token |= Math.min(ml, 15);
    }
    out[tokenPos] = token;
  };
  while (ip < n - MF_LIMIT) {
    const seq = view.getUint32(ip, true);
    const h = Math.imul(seq, 2654435761) >>> (32 - HASH_BITS);
    const ref = table[h];
    table[h] = ip;
    if (ref >= 0 && ip - ref <= 0xffff && view.getUint32(ref, true) === seq) {
      let len = MIN_MATCH;
      while (ip + len < n - LAST_LITERALS && src[ref + len] === src[ip + len]) len++;
      emit(ip, ip - ref, len);
      ip += len;
      anchor = ip;
    } else {
      ip++;
    }
  }
  emit(n, 0, 0);
  return pos;
}

/** Compresses `data` into one LZ4 frame. */
export function lz4FrameCompress(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / MAX_BLOCK));
  const out = new Uint8Array(7 + data.length + Math.ceil(data.length / 255) + blocks * 24 + 4);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  out[4] = FLG;
  out[5] = BD;
  out[6] = HC;
  let pos = 7;
  const table = new Int32Array(1 << HASH_BITS);
  const scratch = new Uint8Array(Math.min(data.length, MAX_BLOCK) + Math.ceil(Math.min(data.length, MAX_BLOCK) / 255) + 24);
  for (let start = 0; start < data.length; start += MAX_BLOCK) {
    const block = data.subarray(start, Math.min(start + MAX_BLOCK, data.length));
    const size = compressBlock(block, scratch, 0, table);
    if (size < block.length) {
      dv.setUint32(pos, size, true);
      out.set(scratch.subarray(0, size), pos + 4);
      pos += 4 + size;
    } else {
      dv.setUint32(pos, (block.length | 0x80000000) >>> 0, true); // stored uncompressed
      out.set(block, pos + 4);
      pos += 4 + block.length;
    }
  }
  dv.setUint32(pos, 0, true); // end mark
  return out.subarray(0, pos + 4);
}
