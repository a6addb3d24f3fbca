import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { curveKeyPair } from 'zeromq';
import { PerceptionError } from '../../core/errors.js';

/**
 * Key material of one party (perception or a learner): an Ed25519 pair that signs weight
 * bundles and a CURVE pair that authenticates the ZeroMQ channel.
 *
 * Key folder layout (folder 0700, every file 0600; secrets are refused if group/other can read them):
 *   <name>.ed25519.pem       Ed25519 private key, PKCS#8 PEM
 *   <name>.ed25519.pub.pem   Ed25519 public key, SPKI PEM (give it to verifiers)
 *   <name>.curve.key         CURVE secret key, 40-char Z85 text
 *   <name>.curve.pub         CURVE public key, 40-char Z85 text (give it to peers / allow-lists)
 */
export interface SigningKeys {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}
export interface CurveKeys {
  /** Z85, 40 characters. */
  readonly publicKey: string;
  /** Z85, 40 characters. */
  readonly secretKey: string;
}
export interface Identity {
  readonly name: string;
  readonly signing: SigningKeys;
  readonly curve: CurveKeys;
}
export interface PublicIdentity {
  readonly name: string;
  readonly signingKey: KeyObject;
  readonly curveKey: string;
}

export function generateSigningKeys(): SigningKeys {
  return generateKeyPairSync('ed25519');
}

export function generateCurveKeys(): CurveKeys {
  const { publicKey, secretKey } = curveKeyPair();
  return { publicKey, secretKey };
}

/** Short stable id of an Ed25519 key (first 16 hex of sha256 of the SPKI DER); accepts either half. */
export function keyFingerprint(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const files = (dir: string, name: string) => ({
  signingPrivate: join(dir, `${name}.ed25519.pem`),
  signingPublic: join(dir, `${name}.ed25519.pub.pem`),
  curveSecret: join(dir, `${name}.curve.key`),
  curvePublic: join(dir, `${name}.curve.pub`),
});

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new PerceptionError('INVALID_ARGUMENT', `key name must match ${NAME}, got ${JSON.stringify(name)}`, { field: 'name' });
  }
}

/** Generates and writes a new identity. Refuses to overwrite existing key files (IO). */
export async function createIdentity(dir: string, name: string): Promise<Identity> {
  checkName(name);
  const id: Identity = { name, signing: generateSigningKeys(), curve: generateCurveKeys() };
  await saveIdentity(dir, id);
  return id;
}

export async function saveIdentity(dir: string, id: Identity): Promise<void> {
  checkName(id.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const f = files(dir, id.name);
  const write = async (file: string, text: string) => {
    try {
      await writeFile(file, text, { mode: 0o600, flag: 'wx' });
      await chmod(file, 0o600); // the umask may have narrowed or the mode been ignored
    } catch (cause) {
      throw new PerceptionError('IO', `cannot write key file: ${(cause as Error).message}`, { file }, { cause });
    }
  };
  await write(f.signingPrivate, id.signing.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  await write(f.signingPublic, id.signing.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  await write(f.curveSecret, `${id.curve.secretKey}\n`);
  await write(f.curvePublic, `${id.curve.publicKey}\n`);
}

export async function loadIdentity(dir: string, name: string): Promise<Identity> {
  checkName(name);
  const f = files(dir, name);
  const privateKey = createPrivateKeyOrFail(await readSecret(f.signingPrivate), f.signingPrivate);
  const secretKey = z85Key(await readSecret(f.curveSecret), f.curveSecret);
  const pub = await loadPublicIdentity(dir, name);
  if (keyFingerprint(privateKey) !== keyFingerprint(pub.signingKey)) {
    throw new PerceptionError('INVALID_CONFIG', `${f.signingPublic} does not belong to ${f.signingPrivate}`, { file: f.signingPublic });
  }
  return { name, signing: { privateKey, publicKey: pub.signingKey }, curve: { secretKey, publicKey: pub.curveKey } };
}

/** Loads the identity if its files exist, otherwise creates it. */
export async function loadOrCreateIdentity(dir: string, name: string): Promise<Identity> {
  try {
    await stat(files(dir, name).signingPrivate);
  } catch {
    return createIdentity(dir, name);
  }
  return loadIdentity(dir, name);
}

/** The public halves only: what a verifier or a CURVE server's allow-list needs. */
export async function loadPublicIdentity(dir: string, name: string): Promise<PublicIdentity> {
  checkName(name);
  const f = files(dir, name);
  const pem = await readOrFail(f.signingPublic);
  let signingKey: KeyObject;
  try {
    signingKey = createPublicKey(pem);
  } catch (cause) {
    throw new PerceptionError('INVALID_CONFIG', `${f.signingPublic} is not a PEM public key`, { file: f.signingPublic }, { cause });
  }
  if (signingKey.asymmetricKeyType !== 'ed25519') throw new PerceptionError('INVALID_CONFIG', `${f.signingPublic} is not an Ed25519 key`, { file: f.signingPublic });
  return { name, signingKey, curveKey: z85Key(await readOrFail(f.curvePublic), f.curvePublic) };
}

async function readOrFail(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new PerceptionError('IO', `cannot read key file: ${(cause as Error).message}`, { file }, { cause });
  }
}

// Like ssh: a secret others can read is treated as leaked configuration, not silently used.
async function readSecret(file: string): Promise<string> {
  const text = await readOrFail(file);
  const { mode } = await stat(file);
  if ((mode & 0o077) !== 0) {
    throw new PerceptionError('INVALID_CONFIG', `secret key file has mode ${(mode & 0o777).toString(8)}; it must be 600 (chmod 600 ${file})`, { file });
  }
  return text;
}

function createPrivateKeyOrFail(pem: string, file: string): KeyObject {
  try {
    const k = createPrivateKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`key type is ${k.asymmetricKeyType}`);
    return k;
  } catch (cause) {
    throw new PerceptionError('INVALID_CONFIG', `${file} is not an Ed25519 PKCS#8 PEM private key`, { file }, { cause });
  }
}

function z85Key(text: string, file: string): string {
  const key = text.trim();
  if (key.length !== 40 || z85Decode(key) === undefined) throw new PerceptionError('INVALID_CONFIG', `${file} must hold a 40-character Z85 CURVE key`, { file });
  return key;
}

// Z85 (ZeroMQ RFC 32): 4 bytes ↔ 5 characters. Needed to compare the raw 32-byte key a ZAP
// request carries with allow-list entries written as text.
const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const Z85_INDEX = new Map([...Z85].map((c, i) => [c, i]));

export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new PerceptionError('INVALID_ARGUMENT', `z85 needs a multiple of 4 bytes, got ${bytes.length}`, { field: 'bytes' });
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let v = ((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0;
    let chunk = '';
    for (let j = 0; j < 5; j++) {
      chunk = Z85[v % 85] + chunk;
      v = Math.floor(v / 85);
    }
    out += chunk;
  }
  return out;
}

/** Decodes Z85 text; undefined if the length or a character is invalid. */
export function z85Decode(text: string): Uint8Array | undefined {
  if (text.length % 5 !== 0) return undefined;
  const out = new Uint8Array((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const d = Z85_INDEX.get(text[i + j]);
      if (d === undefined) return undefined;
      v = v * 85 + d;
    }
    if (v > 0xffffffff) return undefined;
    const o = (i / 5) * 4;
    out[o] = v >>> 24;
    out[o + 1] = (v >>> 16) & 0xff;
    out[o + 2] = (v >>> 8) & 0xff;
    out[o + 3] = v & 0xff;
  }
  return out;
}
