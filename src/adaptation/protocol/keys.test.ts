import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createIdentity, keyFingerprint, loadIdentity, loadOrCreateIdentity, loadPublicIdentity, z85Decode, z85Encode } from './keys.js';

const dirs: string[] = [];
const tmp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'ap-keys-'));
  dirs.push(d);
  return join(d, 'keys');
};
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('key folder', () => {
  it('creates, saves with 0600 and loads an identity', async () => {
    const dir = await tmp();
    const id = await createIdentity(dir, 'learner');
    for (const f of ['learner.ed25519.pem', 'learner.ed25519.pub.pem', 'learner.curve.key', 'learner.curve.pub']) {
      expect(((await stat(join(dir, f))).mode & 0o777).toString(8)).toBe('600');
    }
    expect(((await stat(dir)).mode & 0o777).toString(8)).toBe('700');
    const back = await loadIdentity(dir, 'learner');
    expect(keyFingerprint(back.signing.privateKey)).toBe(keyFingerprint(id.signing.publicKey));
    expect(back.curve).toEqual(id.curve);
    const pub = await loadPublicIdentity(dir, 'learner');
    expect(pub.curveKey).toBe(id.curve.publicKey);
    expect((await loadOrCreateIdentity(dir, 'learner')).curve.secretKey).toBe(id.curve.secretKey);
    await expect(createIdentity(dir, 'learner')).rejects.toThrow(/cannot write key file/);
  });

  it('refuses a secret key others can read', async () => {
    const dir = await tmp();
    await createIdentity(dir, 'p');
    await chmod(join(dir, 'p.curve.key'), 0o644);
    await expect(loadIdentity(dir, 'p')).rejects.toThrow(/mode 644; it must be 600/);
  });

  it('z85 matches the RFC 32 test vector', () => {
    const bytes = Uint8Array.of(0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b);
    expect(z85Encode(bytes)).toBe('HelloWorld');
    expect(z85Decode('HelloWorld')).toEqual(bytes);
    expect(z85Decode('Hello')).toBeDefined();
    expect(z85Decode('Hell~')).toBeUndefined();
  });
});
