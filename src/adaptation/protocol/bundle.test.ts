import { describe, expect, it } from 'vitest';
import { isPerceptionError } from '../../core/errors.js';
import { routerDim } from '../../model/manifest.js';
import { encodeBundle, verifyBundle, type BundleInfo, type BundleRejectReason } from './bundle.js';
import { makeTails, resignBundle, smallManifest } from '../../../test/support/bundle-fixtures.js';
import { generateSigningKeys, keyFingerprint } from './keys.js';

const manifest = smallManifest();
const signer = generateSigningKeys();
const stranger = generateSigningKeys();
const info: BundleInfo = { model: 'tiny@1.0.0', version: 3, parent: 2, created_s: 1234.5, metrics: { val_new: 0.7 } };
const craft = (bytes: Uint8Array, edit: Parameters<typeof resignBundle>[1], keys = signer, rehash = true) => resignBundle(bytes, edit, keys.privateKey, rehash);
const opts = { publicKeys: [signer.publicKey], manifest, maxBytes: 1 << 20 };

function expectRejected(bytes: Uint8Array, reason: BundleRejectReason, re?: RegExp, o = opts): void {
  try {
    verifyBundle(bytes, o);
  } catch (e) {
    expect(isPerceptionError(e, 'WEIGHTS_REJECTED'), String(e)).toBe(true);
    expect((e as { context: { reason: string } }).context.reason).toBe(reason);
    expect((e as Error).message).toContain(`(${reason})`);
    if (re) expect((e as Error).message).toMatch(re);
    return;
  }
  throw new Error(`expected rejection ${reason}`);
}

describe('weight bundles', () => {
  const tails = makeTails(manifest, 7);
  const good = encodeBundle(info, tails, signer.privateKey);

  it('round-trips header and weights bit for bit', () => {
    const { meta, tails: back } = verifyBundle(good, opts);
    expect(meta).toMatchObject({ model: 'tiny@1.0.0', version: 3, parent: 2, created_s: 1234.5, metrics: { val_new: 0.7 }, signer: keyFingerprint(signer.publicKey) });
    expect([...back.keys()]).toEqual([...tails.keys()]);
    for (const [k, t] of tails) expect(back.get(k)?.data).toEqual(t.data);
    expect(Buffer.from(encodeBundle(info, tails, signer.privateKey)).equals(Buffer.from(good))).toBe(true); // deterministic
  });

  it('accepts any of several trusted signers', () => {
    const b = encodeBundle(info, tails, stranger.privateKey);
    expect(verifyBundle(b, { ...opts, publicKeys: [signer.publicKey, stranger.publicKey] }).meta.version).toBe(3);
  });

  it('rejects an oversized bundle before parsing it', () => expectRejected(Buffer.alloc(2 << 20, 0xff), 'oversized', /limit is 1048576/));
  it('rejects a truncated bundle', () => {
    expectRejected(good.subarray(0, good.length - 10), 'truncated');
    expectRejected(good.subarray(0, 30), 'truncated');
    expectRejected(good.subarray(0, 5), 'truncated');
  });
  it('rejects bad magic', () => expectRejected(Buffer.concat([Buffer.from('XXXXXXXX'), Buffer.from(good).subarray(8)]), 'bad_magic'));
  it('rejects a flipped payload bit (bad signature)', () => {
    const b = Buffer.from(good);
    b[b.length - 70] ^= 1;
    expectRejected(b, 'bad_signature');
  });
  it('rejects a bundle from an unknown signer', () => expectRejected(encodeBundle(info, tails, stranger.privateKey), 'unknown_signer', /not a trusted key/));
  it('rejects a signature by another key under a trusted signer id', () => expectRejected(craft(good, () => undefined, stranger), 'bad_signature'));
  it('rejects a wrong sha256', () => expectRejected(craft(good, (m) => ((m as { sha256: string }).sha256 = 'b'.repeat(64)), signer, false), 'bad_hash'));
  it('rejects a bundle for another base model', () => expectRejected(encodeBundle({ ...info, model: 'tiny@2.0.0' }, tails, signer.privateKey), 'wrong_model', /running model is tiny@1.0.0/));
  it('rejects wrong shapes and unknown or missing tensors', () => {
    const other = makeTails({ ...manifest, tails: { ...manifest.tails, seg: { feature: 'seg_feat', in: 5, layers: [{ out: 3, act: 'linear' }] } } });
    expectRejected(encodeBundle(info, other, signer.privateKey), 'wrong_tensors', /seg_w0.*\[3, 5, 1, 1\].*\[3, 3, 1, 1\]/);
    const missing = new Map(tails);
    missing.delete('depth_b0');
    expectRejected(encodeBundle(info, missing, signer.privateKey), 'wrong_tensors', /depth_b0/);
    const extra = new Map(tails).set('evil_w0', { shape: [1], data: new Float32Array(1) });
    expectRejected(encodeBundle(info, extra, signer.privateKey), 'wrong_tensors', /evil_w0/);
  });
  it('carries a domain router beside the tails (all of it or none), checked like the tails', () => {
    const n = routerDim(manifest.tails);
    const routed = new Map([...tails, ['router_w', { shape: [n], data: new Float32Array(n).fill(0.25) }], ['router_b', { shape: [1], data: Float32Array.of(-1.5) }]]);
    const { tails: back } = verifyBundle(encodeBundle(info, routed, signer.privateKey), opts);
    expect(back.get('router_b')?.data).toEqual(Float32Array.of(-1.5));
    expect(back.get('router_w')?.data.length).toBe(n);
    const half = new Map([...tails, ['router_w', { shape: [n], data: new Float32Array(n) }]]);
    expectRejected(encodeBundle(info, half, signer.privateKey), 'wrong_tensors', /router weight 'router_b' is missing/);
    const wrong = new Map([...tails, ['router_w', { shape: [n + 1], data: new Float32Array(n + 1) }], ['router_b', { shape: [1], data: Float32Array.of(0) }]]);
    expectRejected(encodeBundle(info, wrong, signer.privateKey), 'wrong_tensors', new RegExp(`router_w.*\\[${n + 1}\\].*\\[${n}\\]`));
  });

  it('rejects NaN and Inf weights even when signed', () => {
    expectRejected(craft(good, (_m, p) => p.writeFloatLE(NaN, 8)), 'non_finite', /NaN/);
    expectRejected(craft(good, (_m, p) => p.writeFloatLE(-Infinity, 0)), 'non_finite', /-Infinity/);
  });
  it('rejects a malformed tensor table', () => {
    expectRejected(craft(good, (m) => ((m.tensors[1] as { offset: number }).offset = 0)), 'bad_header', /tensors\[1\]/);
  });
  it('encode refuses non-finite weights', () => {
    const bad = new Map(tails).set('det_b0', { shape: [4], data: Float32Array.of(0, NaN, 0, 0) });
    expect(() => encodeBundle(info, bad, signer.privateKey)).toThrow(/finite/);
  });
});
