import { PerceptionError } from '../../core/errors.js';

/**
 * Messages between perception and a learner, and their wire form (no transport here: the
 * ZeroMQ adapter is channel.ts).
 *
 * Wire form: one ZeroMQ multipart message per channel message.
 *   frame 0      UTF-8 JSON header { v: 1, kind, ...scalar fields, blobs: [{ name, dtype, shape }] }
 *   frame 1..n   one frame per blob, raw little-endian element bytes, in `blobs` order
 * Tensors and bundle bytes travel as binary frames (never base64); bigints (stamps) as
 * decimal strings. Every frame is size-checked before it is parsed (`ChannelLimits`).
 */
export const WIRE_VERSION = 1;

export type WireDtype = 'float32' | 'int32' | 'uint16' | 'uint8';
export type WireArray = Float32Array | Int32Array | Uint16Array | Uint8Array;
export interface WireTensor {
  readonly dtype: WireDtype;
  readonly shape: readonly number[];
  readonly data: WireArray;
}
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** A flagged frame: what training needs (tail features, image, predictions) and why it was flagged. */
export interface SampleMessage {
  readonly kind: 'sample';
  readonly id: string;
  readonly camera: string;
  readonly stampNs: bigint;
  readonly reasons: readonly string[];
  readonly tensors: Readonly<Record<string, WireTensor>>;
  readonly info?: { readonly [k: string]: JsonValue };
}
/** An annotation for a flagged frame, matched by camera and stamp (possibly late). */
export interface LabelMessage {
  readonly kind: 'label';
  readonly camera: string;
  readonly stampNs: bigint;
  readonly label: JsonValue;
  readonly tensors?: Readonly<Record<string, WireTensor>>;
}
/** The scheduler grants the learner this much compute time, starting now. */
export interface SlackMessage {
  readonly kind: 'slack';
  readonly grantMs: number;
}
/** Stop using compute until the next slack grant. */
export interface PauseMessage {
  readonly kind: 'pause';
  readonly reason?: string;
}
/** A signed weight bundle (bundle.ts); verified by the receiver, never trusted for arriving. */
export interface BundleMessage {
  readonly kind: 'bundle';
  readonly version: number;
  readonly bytes: Uint8Array;
}
export interface StatusMessage {
  readonly kind: 'status';
  readonly state: string;
  readonly version?: number;
  readonly detail?: { readonly [k: string]: JsonValue };
}

/**
 * The weights perception serves now (after a swap, a rollback, a refusal, and when a learner
 * connects): the learner reports this, not what it last promoted.
 */
export interface ServingMessage {
  readonly kind: 'serving';
  readonly version: number;
  readonly reason?: string;
}

/** Perception → learner (downlink). */
export type ToLearner = SampleMessage | LabelMessage | SlackMessage | PauseMessage | ServingMessage;
/** Learner → perception (uplink). */
export type ToPerception = BundleMessage | StatusMessage;
export type ChannelMessage = ToLearner | ToPerception;
export type MessageKind = ChannelMessage['kind'];
export const TO_LEARNER: readonly MessageKind[] = ['sample', 'label', 'slack', 'pause', 'serving'];
export const TO_PERCEPTION: readonly MessageKind[] = ['bundle', 'status'];

export interface ChannelLimits {
  /** Largest JSON header frame. */
  readonly maxHeaderBytes: number;
  /** Largest binary frame (one tensor, or a whole bundle). */
  readonly maxFrameBytes: number;
  /** Most blob frames in one message. */
  readonly maxBlobs: number;
}
export const DEFAULT_LIMITS: ChannelLimits = { maxHeaderBytes: 64 * 1024, maxFrameBytes: 32 * 1024 * 1024, maxBlobs: 32 };

interface BlobSpec {
  name: string;
  dtype: WireDtype;
  shape: number[];
}
const CTORS = { float32: Float32Array, int32: Int32Array, uint16: Uint16Array, uint8: Uint8Array } as const;

export function encodeMessage(msg: ChannelMessage): Buffer[] {
  const blobs: BlobSpec[] = [];
  const frames: Buffer[] = [];
  const addTensors = (prefix: string, tensors: Readonly<Record<string, WireTensor>> | undefined) => {
    for (const [name, t] of Object.entries(tensors ?? {})) {
      blobs.push({ name: `${prefix}${name}`, dtype: t.dtype, shape: [...t.shape] });
      frames.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  };
  let fields: Record<string, unknown>;
  switch (msg.kind) {
    case 'sample':
      fields = { id: msg.id, camera: msg.camera, stampNs: msg.stampNs.toString(), reasons: msg.reasons, info: msg.info };
      addTensors('', msg.tensors);
      break;
    case 'label':
      fields = { camera: msg.camera, stampNs: msg.stampNs.toString(), label: msg.label };
      addTensors('', msg.tensors);
      break;
    case 'slack':
      fields = { grantMs: msg.grantMs };
      break;
    case 'pause':
      fields = { reason: msg.reason };
      break;
    case 'serving':
      fields = { version: msg.version, reason: msg.reason };
      break;
    case 'bundle':
      fields = { version: msg.version };
      blobs.push({ name: 'bytes', dtype: 'uint8', shape: [msg.bytes.length] });
      frames.push(Buffer.from(msg.bytes.buffer, msg.bytes.byteOffset, msg.bytes.byteLength));
      break;
    case 'status':
      fields = { state: msg.state, version: msg.version, detail: msg.detail };
      break;
  }
  return [Buffer.from(JSON.stringify({ v: WIRE_VERSION, kind: msg.kind, ...fields, blobs }), 'utf8'), ...frames];
}

/**
 * Parses one multipart message, accepting only the kinds in `accept` (a direction's kinds).
 * Throws MESSAGE_DECODE naming the field at fault; never returns a half-checked message.
 */
export function decodeMessage(frames: readonly Uint8Array[], accept: readonly MessageKind[], limits: ChannelLimits = DEFAULT_LIMITS): ChannelMessage {
  const bad = (message: string, field?: string): never => {
    throw new PerceptionError('MESSAGE_DECODE', `channel message rejected: ${message}`, { field });
  };
  if (frames.length === 0) bad('no frames');
  if (frames.length - 1 > limits.maxBlobs) bad(`${frames.length - 1} binary frames, at most ${limits.maxBlobs}`);
  if (frames[0].length > limits.maxHeaderBytes) bad(`header is ${frames[0].length} bytes, at most ${limits.maxHeaderBytes}`);
  frames.forEach((f, i) => i > 0 && f.length > limits.maxFrameBytes && bad(`frame ${i} is ${f.length} bytes, at most ${limits.maxFrameBytes}`));
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(Buffer.from(frames[0].buffer, frames[0].byteOffset, frames[0].byteLength).toString('utf8')) as Record<string, unknown>;
  } catch {
    return bad('header is not JSON');
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) bad('header is not an object');
  if (h.v !== WIRE_VERSION) bad(`wire version ${JSON.stringify(h.v)}, expected ${WIRE_VERSION}`, 'v');
  const kind = h.kind as MessageKind;
  if (!accept.includes(kind)) bad(`kind ${JSON.stringify(h.kind)} is not accepted here (expected ${accept.join(', ')})`, 'kind');
  const blobs = decodeBlobs(h.blobs, frames, bad);

  const str = (f: string): string => (typeof h[f] === 'string' && (h[f] as string).length <= 256 ? (h[f] as string) : bad(`${f} must be a string of at most 256 characters`, f));
  const num = (f: string, min: number, max: number): number => {
    const v = h[f];
    return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : bad(`${f} must be a number in ${min}..${max}, got ${JSON.stringify(v)}`, f);
  };
  const stamp = (): bigint => (typeof h.stampNs === 'string' && /^\d{1,20}$/.test(h.stampNs) ? BigInt(h.stampNs) : bad('stampNs must be a decimal string of nanoseconds', 'stampNs'));
  const obj = (f: string) => (h[f] === undefined ? undefined : typeof h[f] === 'object' && h[f] !== null && !Array.isArray(h[f]) ? (h[f] as { [k: string]: JsonValue }) : bad(`${f} must be an object`, f));
  const noBlobs = () => blobs.size === 0 || bad(`a ${kind} message carries no binary frames`, 'blobs');

  switch (kind) {
    case 'sample': {
      const reasons = Array.isArray(h.reasons) && h.reasons.every((r) => typeof r === 'string') ? (h.reasons as string[]) : bad('reasons must be an array of strings', 'reasons');
      const info = obj('info');
      return { kind, id: str('id'), camera: str('camera'), stampNs: stamp(), reasons, tensors: Object.fromEntries(blobs), ...(info ? { info } : {}) };
    }
    case 'label':
      if (h.label === undefined) bad('label is missing', 'label');
      return { kind, camera: str('camera'), stampNs: stamp(), label: h.label as JsonValue, ...(blobs.size > 0 ? { tensors: Object.fromEntries(blobs) } : {}) };
    case 'slack':
      noBlobs();
      return { kind, grantMs: num('grantMs', 0, 3_600_000) };
    case 'pause':
      noBlobs();
      return h.reason === undefined ? { kind } : { kind, reason: str('reason') };
    case 'serving':
      noBlobs();
      return { kind, version: num('version', 0, Number.MAX_SAFE_INTEGER), ...(h.reason !== undefined ? { reason: str('reason') } : {}) };
    case 'bundle': {
      const b = blobs.get('bytes');
      if (b === undefined || blobs.size !== 1 || b.dtype !== 'uint8') return bad('a bundle message carries exactly one uint8 blob named "bytes"', 'blobs');
      return { kind, version: num('version', 0, Number.MAX_SAFE_INTEGER), bytes: b.data as Uint8Array };
    }
    case 'status': {
      noBlobs();
      const detail = obj('detail');
      return { kind, state: str('state'), ...(h.version !== undefined ? { version: num('version', 0, Number.MAX_SAFE_INTEGER) } : {}), ...(detail ? { detail } : {}) };
    }
  }
  return bad(`unknown kind ${JSON.stringify(kind)}`, 'kind');
}

function decodeBlobs(spec: unknown, frames: readonly Uint8Array[], bad: (m: string, f?: string) => never): Map<string, WireTensor> {
  if (!Array.isArray(spec) || spec.length !== frames.length - 1) bad(`blobs must list one entry per binary frame (${frames.length - 1})`, 'blobs');
  const out = new Map<string, WireTensor>();
  (spec as BlobSpec[]).forEach((b, i) => {
    const field = `blobs[${i}]`;
    if (typeof b !== 'object' || b === null || typeof b.name !== 'string' || b.name.length === 0 || b.name.length > 128) bad('blob name must be a string of 1..128 characters', field);
    if (out.has(b.name)) bad(`blob '${b.name}' appears twice`, field);
    const Ctor = Object.hasOwn(CTORS, b.dtype) ? CTORS[b.dtype] : bad(`dtype ${JSON.stringify(b.dtype)} is not one of ${Object.keys(CTORS).join(', ')}`, field);
    if (!Array.isArray(b.shape) || b.shape.length > 8 || !b.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad('shape must be at most 8 non-negative integers', field);
    const frame = frames[i + 1];
    const want = b.shape.reduce((a, d) => a * d, 1) * Ctor.BYTES_PER_ELEMENT;
    if (frame.length !== want) bad(`blob '${b.name}' ${b.dtype} [${b.shape.join(', ')}] needs ${want} bytes, its frame has ${frame.length}`, field);
    // A view when the frame is aligned for the element type, a copy otherwise. Frames from
    // ZeroMQ are fresh per message, so a view never sees its bytes reused.
    const aligned = frame.byteOffset % Ctor.BYTES_PER_ELEMENT === 0;
    const src = aligned ? frame : Uint8Array.prototype.slice.call(frame);
    const data = new Ctor(src.buffer as ArrayBuffer, src.byteOffset, want / Ctor.BYTES_PER_ELEMENT);
    out.set(b.name, { dtype: b.dtype, shape: Object.freeze([...b.shape]), data });
  });
  return out;
}
