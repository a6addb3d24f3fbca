import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { PerceptionError } from '../../core/errors.js';
import { routerTensorSpecs, tailTensorSpecs, type Manifest } from '../../model/manifest.js';
import { checkTailWeights, type TailTensor, type TailWeights } from '../../model/package.js';
import { keyFingerprint } from './keys.js';

/**
 * Weight bundles: one versioned, signed set of tail weights (issue 5, docs/architecture.md "Safety of the
 * weight path"). A bundle is untrusted input until `verifyBundle` has accepted it.
 *
 * Binary layout (all integers little-endian):
 *
 *   offset        size  field
 *   0             8     magic "APWBNDL1"
 *   8             4     u32 H: header length in bytes (1..MAX_HEADER_BYTES)
 *   12            H     header: UTF-8 JSON, see BundleMeta
 *   12+H          P     payload: the tensors' float32 LE values, back to back in header order;
 *                       P = sum of tensors[i].length; tensor offsets are relative to 12+H
 *   12+H+P        64    Ed25519 signature over bytes [0, 12+H+P) (magic, length, header, payload)
 *
 * `header.sha256` is the sha256 of the payload alone, `header.signer` the fingerprint of the
 * signing public key (`keyFingerprint`) so a verifier can tell an unknown signer from a bad
 * signature. Nothing in the header is believed before the signature checks out, except what
 * is needed to find the signature (its length) and the signer's key.
 */
export const BUNDLE_FORMAT = 'adaptive-perception/weights@1';
export const BUNDLE_MAGIC = Buffer.from('APWBNDL1', 'latin1');
export const MAX_HEADER_BYTES = 64 * 1024;
const SIG_BYTES = 64;
const PREFIX_BYTES = BUNDLE_MAGIC.length + 4;

export interface BundleTensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  /** Byte offset into the payload. */
  readonly offset: number;
  /** Byte length (4 × number of values). */
  readonly length: number;
}

/** The bundle header, as written and as returned by `verifyBundle`. */
export interface BundleMeta {
  readonly format: typeof BUNDLE_FORMAT;
  /** `name@version` of the base model package these tails belong to. */
  readonly model: string;
  /** Monotonically increasing per model (1, 2, …); 0 is reserved for the shipped weights. */
  readonly version: number;
  /** The version this one was trained from (0 = shipped), or null. */
  readonly parent: number | null;
  /** Creation time in seconds (supplied by the caller: deterministic bundles in tests and replay). */
  readonly created_s: number;
  /** `keyFingerprint` of the signing key. */
  readonly signer: string;
  readonly tensors: readonly BundleTensorEntry[];
  /** sha256 (hex) of the payload. */
  readonly sha256: string;
  /** Whatever the validation gate measured (val_new, val_old, …). */
  readonly metrics?: Readonly<Record<string, number>>;
}

/** What the caller of `encodeBundle` decides; the rest of BundleMeta is computed. */
export type BundleInfo = Pick<BundleMeta, 'model' | 'version' | 'parent' | 'created_s' | 'metrics'>;

/** Why a bundle was refused: in `PerceptionError.context.reason` and in the swap event log. */
export type BundleRejectReason =
  | 'oversized'
  | 'truncated'
  | 'bad_magic'
  | 'bad_header'
  | 'unknown_signer'
  | 'bad_signature'
  | 'bad_hash'
  | 'wrong_model'
  | 'wrong_tensors'
  | 'non_finite';

export interface VerifyOptions {
  /** Trusted signers. A bundle signed by any other key is refused. */
  readonly publicKeys: readonly KeyObject[];
  readonly manifest: Pick<Manifest, 'name' | 'version' | 'tails'>;
  /** Largest whole bundle accepted, checked before any parsing. */
  readonly maxBytes: number;
}

export interface VerifiedBundle {
  readonly meta: BundleMeta;
  readonly tails: TailWeights;
}

export const modelRef = (m: Pick<Manifest, 'name' | 'version'>): string => `${m.name}@${m.version}`;

/** Serialises and signs tail weights. Throws INVALID_ARGUMENT on a non-finite value or a bad info field. */
export function encodeBundle(info: BundleInfo, tails: TailWeights, privateKey: KeyObject): Uint8Array {
  const arg = (field: string, message: string) => new PerceptionError('INVALID_ARGUMENT', `bundle ${field} ${message}`, { field });
  if (typeof info.model !== 'string' || !info.model.includes('@')) throw arg('model', `must be "name@version", got ${JSON.stringify(info.model)}`);
  if (!Number.isSafeInteger(info.version) || info.version < 1) throw arg('version', `must be an integer ≥ 1, got ${info.version}`);
  if (info.parent !== null && !(Number.isSafeInteger(info.parent) && info.parent >= 0)) throw arg('parent', `must be null or an integer ≥ 0`);
  if (!Number.isFinite(info.created_s)) throw arg('created_s', 'must be a finite number of seconds');
  const entries: BundleTensorEntry[] = [];
  let offset = 0;
  for (const [name, t] of tails) {
    const length = t.data.length * 4;
    entries.push({ name, shape: [...t.shape], offset, length });
    offset += length;
  }
  const payload = Buffer.alloc(offset);
  for (const e of entries) {
    const data = (tails.get(e.name) as TailTensor).data;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw arg('tensors', `'${e.name}' value [${i}] is ${data[i]}: weights must be finite`);
      payload.writeFloatLE(data[i], e.offset + i * 4);
    }
  }
  const meta: BundleMeta = {
    format: BUNDLE_FORMAT,
    model: info.model,
    version: info.version,
    parent: info.parent,
    created_s: info.created_s,
    signer: keyFingerprint(privateKey),
    tensors: entries,
    sha256: createHash('sha256').update(payload).digest('hex'),
    ...(info.metrics ? { metrics: { ...info.metrics } } : {}),
  };
  const header = Buffer.from(JSON.stringify(meta), 'utf8');
  if (header.length > MAX_HEADER_BYTES) throw arg('header', `is ${header.length} bytes, at most ${MAX_HEADER_BYTES}`);
  const prefix = Buffer.alloc(PREFIX_BYTES);
  BUNDLE_MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(header.length, BUNDLE_MAGIC.length);
  const signed = Buffer.concat([prefix, header, payload]);
  return Buffer.concat([signed, sign(null, signed, privateKey)]);
}

/**
 * Checks a bundle completely and returns its header and weights, or throws WEIGHTS_REJECTED
 * with `context.reason` (a BundleRejectReason). Checks run cheapest and least trusting first:
 * size, framing, signer, signature, hash, base model, tensor names/shapes, finiteness.
 */
export function verifyBundle(bytes: Uint8Array, options: VerifyOptions): VerifiedBundle {
  const reject: Reject = (reason, message, ctx = {}, cause) => {
    throw new PerceptionError('WEIGHTS_REJECTED', `weight bundle rejected (${reason}): ${message}`, { reason, ...ctx }, { cause });
  };
  if (!(bytes instanceof Uint8Array)) return reject('bad_magic', 'not a byte array');
  if (bytes.length > options.maxBytes) return reject('oversized', `${bytes.length} bytes, the limit is ${options.maxBytes}`, { bytes: bytes.length });
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < PREFIX_BYTES + SIG_BYTES) return reject('truncated', `${buf.length} bytes is shorter than the smallest bundle`);
  if (!buf.subarray(0, BUNDLE_MAGIC.length).equals(BUNDLE_MAGIC)) return reject('bad_magic', 'does not start with APWBNDL1');
  const headerLen = buf.readUInt32LE(BUNDLE_MAGIC.length);
  if (headerLen === 0 || headerLen > MAX_HEADER_BYTES) return reject('bad_header', `header length ${headerLen} is outside 1..${MAX_HEADER_BYTES}`);
  if (buf.length < PREFIX_BYTES + headerLen + SIG_BYTES) return reject('truncated', `header of ${headerLen} bytes does not fit in ${buf.length}`);
  let meta: BundleMeta;
  try {
    meta = JSON.parse(buf.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLen).toString('utf8')) as BundleMeta;
  } catch (cause) {
    return reject('bad_header', 'header is not JSON', {}, cause);
  }
  const tensors = checkHeader(meta, reject);
  const payloadLen = tensors.reduce((a, t) => a + t.length, 0);
  const signedLen = PREFIX_BYTES + headerLen + payloadLen;
  if (buf.length < signedLen + SIG_BYTES) return reject('truncated', `${buf.length} bytes, the header describes ${signedLen + SIG_BYTES}`, { version: meta.version });
  if (buf.length > signedLen + SIG_BYTES) return reject('bad_header', `${buf.length - signedLen - SIG_BYTES} bytes trail the signature`, { version: meta.version });

  const key = options.publicKeys.find((k) => keyFingerprint(k) === meta.signer);
  if (key === undefined) return reject('unknown_signer', `signer ${meta.signer} is not a trusted key`, { version: meta.version, signer: meta.signer });
  const signed = buf.subarray(0, signedLen);
  if (!verify(null, signed, key, buf.subarray(signedLen, signedLen + SIG_BYTES))) {
    return reject('bad_signature', `Ed25519 signature does not verify for signer ${meta.signer}`, { version: meta.version });
  }
  const payload = buf.subarray(PREFIX_BYTES + headerLen, signedLen);
  const found = createHash('sha256').update(payload).digest('hex');
  if (found !== meta.sha256) return reject('bad_hash', `payload sha256 is ${found}, the header says ${meta.sha256}`, { version: meta.version });
  const want = modelRef(options.manifest);
  if (meta.model !== want) return reject('wrong_model', `bundle is for ${meta.model}, the running model is ${want}`, { version: meta.version, model: meta.model });
  return { meta, tails: decodeTensors(meta, tensors, payload, options.manifest, reject) };
}

type Reject = (reason: BundleRejectReason, message: string, ctx?: Record<string, string | number>, cause?: unknown) => never;

function checkHeader(meta: BundleMeta, reject: Reject): readonly BundleTensorEntry[] {
  const m = meta as unknown as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return reject('bad_header', 'header is not an object');
  if (m.format !== BUNDLE_FORMAT) reject('bad_header', `format is ${JSON.stringify(m.format)}, expected "${BUNDLE_FORMAT}"`);
  if (typeof m.model !== 'string') reject('bad_header', 'model must be a string');
  if (!Number.isSafeInteger(m.version) || (m.version as number) < 1) reject('bad_header', `version must be an integer ≥ 1, got ${JSON.stringify(m.version)}`);
  if (m.parent !== null && !Number.isSafeInteger(m.parent)) reject('bad_header', 'parent must be null or an integer');
  if (typeof m.created_s !== 'number') reject('bad_header', 'created_s must be a number');
  if (typeof m.signer !== 'string') reject('bad_header', 'signer must be a string');
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) reject('bad_header', 'sha256 must be 64 hex digits');
  if (!Array.isArray(m.tensors) || m.tensors.length > 1024) return reject('bad_header', 'tensors must be an array of at most 1024 entries');
  let expectOffset = 0;
  for (const [i, t] of (m.tensors as BundleTensorEntry[]).entries()) {
    const ok =
      typeof t === 'object' && t !== null && typeof t.name === 'string' && Array.isArray(t.shape) && t.shape.length <= 8 &&
      t.shape.every((d) => Number.isSafeInteger(d) && d > 0) && t.offset === expectOffset && Number.isSafeInteger(t.length) &&
      t.length === 4 * t.shape.reduce((a, b) => a * b, 1);
    if (!ok) reject('bad_header', `tensors[${i}] is not { name, shape, offset, length } packed in order`, { field: `tensors[${i}]` });
    expectOffset += t.length;
  }
  return m.tensors as BundleTensorEntry[];
}

function decodeTensors(
  meta: BundleMeta,
  entries: readonly BundleTensorEntry[],
  payload: Buffer,
  manifest: Pick<Manifest, 'tails'>,
  reject: Reject,
): TailWeights {
  // Names and shapes first, with the bundle's own wording; checkTailWeights then re-checks
  // them (one definition of the contract) and copies into arrays the caller owns.
  const specs = new Map([...tailTensorSpecs(manifest.tails), ...routerTensorSpecs(manifest.tails)].map((s) => [s.name, s.shape]));
  const raw: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const e of entries) {
    const shape = specs.get(e.name);
    if (shape === undefined) reject('wrong_tensors', `tensor '${e.name}' is not a tail of this model`, { version: meta.version, field: e.name });
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      reject('wrong_tensors', `tensor '${e.name}' has shape [${e.shape.join(', ')}], the model needs [${shape.join(', ')}]`, { version: meta.version, field: e.name });
    }
    const data = new Float32Array(e.length / 4);
    for (let i = 0; i < data.length; i++) {
      const v = payload.readFloatLE(e.offset + i * 4);
      if (!Number.isFinite(v)) reject('non_finite', `tensor '${e.name}' value [${i}] is ${v}`, { version: meta.version, field: e.name });
      data[i] = v;
    }
    raw[e.name] = { shape: e.shape, data };
  }
  try {
    return checkTailWeights(raw, manifest, `bundle v${meta.version}`, { router: 'allowed' });
  } catch (cause) {
    return reject('wrong_tensors', (cause as Error).message, { version: meta.version }, cause);
  }
}
