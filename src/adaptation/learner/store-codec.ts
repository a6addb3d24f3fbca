import { createHash } from 'node:crypto';
import { HEADS, SERVED_EXTRAS, type HeadName, type ServedExtra } from '../../model/manifest.js';
import { PerceptionError } from '../../core/errors.js';
import type { FeatureMap, SampleFeatures, SampleLabels } from './store-types.js';

type FeatureKey = HeadName | ServedExtra;

/** How feature maps are kept on disk. */
export type FeatureEncoding = 'f16' | 'f32';

// float32 → float16 bits, round to nearest even; overflow → ±Inf, tiny → subnormal/0.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h; // a carry into the exponent is the correct rounding (up to Inf)
}

/** float16 bits → float32 value, every one of the 65,536 bit patterns. */
export const HALF_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

/** A float32 array as float16 bits (toHalf per value). */
export function halfArray(d: Float32Array): Uint16Array {
  const out = new Uint16Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = toHalf(d[i]);
  return out;
}

export interface FeatureShapes {
  readonly [head: string]: readonly [number, number, number];
}

/** Heads' feature maps in HEADS order, then the served extras a frame has (SERVED_EXTRAS order), one blob. */
export function encodeFeatures(features: SampleFeatures, enc: FeatureEncoding): { blob: Buffer; shapes: FeatureShapes } {
  const shapes: Record<string, [number, number, number]> = {};
  const keys: FeatureKey[] = [...HEADS, ...SERVED_EXTRAS.filter((k) => features[k] !== undefined)];
  let n = 0;
  for (const h of keys) {
    const f = features[h];
    if (!f || f.data.length !== f.channels * f.height * f.width) {
      throw new PerceptionError('INVALID_ARGUMENT', `feature '${h}' must hold channels × height × width values`, { field: `features.${h}` });
    }
    shapes[h] = [f.channels, f.height, f.width];
    n += f.data.length;
  }
  const bytes = enc === 'f16' ? 2 : 4;
  const blob = Buffer.alloc(n * bytes);
  let off = 0;
  for (const h of keys) {
    const d = (features[h] as FeatureMap).data;
    if (enc === 'f32') {
      Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(blob, off * 4);
    } else {
      const out = new Uint16Array(blob.buffer, blob.byteOffset + off * 2, d.length);
      for (let i = 0; i < d.length; i++) out[i] = toHalf(d[i]);
    }
    off += d.length;
  }
  return { blob, shapes };
}

/**
 * The maps `shapes` names (every head; served extras where stored), in encodeFeatures' order;
 * with `keepHalf`, float16 maps also keep their bits (FeatureMap.half).
 */
export function decodeFeatures(blob: Uint8Array, shapes: FeatureShapes, enc: FeatureEncoding, keepHalf = false): SampleFeatures {
  const out = {} as Record<FeatureKey, FeatureMap>;
  let off = 0;
  const bytes = enc === 'f16' ? 2 : 4;
  // Copy into an aligned buffer: SQLite hands back blobs at arbitrary offsets.
  const aligned = new Uint8Array(blob.length);
  aligned.set(blob);
  for (const h of [...HEADS, ...SERVED_EXTRAS.filter((k) => shapes[k] !== undefined)]) {
    const shape = shapes[h];
    if (!shape) throw new PerceptionError('IO', `feature blob has no shape for '${h}'`);
    const [c, hh, w] = shape;
    const n = c * hh * w;
    if (enc === 'f32') out[h] = { channels: c, height: hh, width: w, data: new Float32Array(aligned.buffer, off * 4, n).slice() };
    else {
      const src = new Uint16Array(aligned.buffer, off * 2, n);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = HALF_TABLE[src[i]];
      out[h] = keepHalf ? { channels: c, height: hh, width: w, data, half: src } : { channels: c, height: hh, width: w, data };
    }
    off += n;
  }
  if (off * bytes !== blob.length) throw new PerceptionError('IO', `feature blob has ${blob.length} bytes, shapes need ${off * bytes}`);
  return out;
}

export interface LabelsMeta {
  boxes?: SampleLabels['boxes'];
  boxSource?: SampleLabels['boxSource'];
  laneSource?: SampleLabels['laneSource'];
  depthSource?: SampleLabels['depthSource'];
  lane?: [number, number];
  depth?: [number, number];
}

/** Labels as JSON (boxes, image sizes) plus one blob (lane bytes, then depth float32). */
export function encodeLabels(l: SampleLabels): { meta: string; blob: Buffer } {
  const meta: LabelsMeta = {};
  const parts: Buffer[] = [];
  if (l.boxes) meta.boxes = l.boxes.map((b) => ({ classIndex: b.classIndex, x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1, ...(b.visibility !== undefined ? { visibility: b.visibility } : {}) }));
  if (l.boxSource) meta.boxSource = l.boxSource;
  if (l.laneSource) meta.laneSource = l.laneSource;
  if (l.depthSource) meta.depthSource = l.depthSource;
  if (l.lane) {
    meta.lane = [l.lane.width, l.lane.height];
    parts.push(Buffer.from(l.lane.data.buffer, l.lane.data.byteOffset, l.lane.width * l.lane.height));
  }
  if (l.depth) {
    meta.depth = [l.depth.width, l.depth.height];
    const pad = (4 - (parts.reduce((a, b) => a + b.length, 0) % 4)) % 4;
    parts.push(Buffer.alloc(pad));
    parts.push(Buffer.from(l.depth.data.buffer, l.depth.data.byteOffset, l.depth.width * l.depth.height * 4));
  }
  return { meta: JSON.stringify(meta), blob: Buffer.concat(parts) };
}

export function decodeLabels(metaJson: string, blob: Uint8Array): SampleLabels {
  const meta = JSON.parse(metaJson) as LabelsMeta;
  const out: { -readonly [K in keyof SampleLabels]: SampleLabels[K] } = {};
  const buf = new Uint8Array(blob.length);
  buf.set(blob);
  let off = 0;
  if (meta.boxes) out.boxes = meta.boxes;
  if (meta.boxSource) out.boxSource = meta.boxSource;
  if (meta.laneSource) out.laneSource = meta.laneSource;
  if (meta.depthSource) out.depthSource = meta.depthSource;
  if (meta.lane) {
    const [w, h] = meta.lane;
    out.lane = { width: w, height: h, data: buf.slice(off, off + w * h) };
    off += w * h;
  }
  if (meta.depth) {
    const [w, h] = meta.depth;
    off += (4 - (off % 4)) % 4;
    out.depth = { width: w, height: h, data: new Float32Array(buf.buffer.slice(off, off + w * h * 4)) };
  }
  return out;
}

/** sha256 over every stored field of a row, in a fixed order, length-prefixed. */
export function rowChecksum(fields: readonly (string | Uint8Array | null)[]): string {
  const h = createHash('sha256');
  for (const f of fields) {
    const b = f === null ? Buffer.alloc(0) : typeof f === 'string' ? Buffer.from(f, 'utf8') : f;
    const len = Buffer.alloc(5);
    len.writeUInt32LE(b.length, 0);
    len[4] = f === null ? 0 : 1;
    h.update(len).update(b);
  }
  return h.digest('hex');
}

/** FNV-1a of camera and stamp → [0, 1): deterministic split and reservoir choices. */
export function unitHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) / 2 ** 32;
}
