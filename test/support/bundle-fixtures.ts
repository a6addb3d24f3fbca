import { createHash, sign, type KeyObject } from 'node:crypto';
import { tailTensorSpecs, validateManifest, type Manifest } from '../../src/model/manifest.js';
import type { TailTensor, TailWeights } from '../../src/model/package.js';
import { BUNDLE_MAGIC, type BundleMeta } from '../../src/adaptation/protocol/bundle.js';

/** Test fixtures for the weight path: a small valid manifest and deterministic tail weights. */
export function smallManifest(version = '1.0.0'): Manifest {
  return validateManifest(
    {
      format: 'adaptive-perception/model@1',
      name: 'tiny',
      version,
      input: { sizes: [[64, 128]], mean: [120, 120, 120], std: [60, 60, 60] },
      classes: ['car', 'pedestrian'],
      strides: { det: 4, seg: 2, depth: 4 },
      outputs: ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth', 'det_feat', 'seg_feat', 'depth_feat', 'feat_mean'],
      files: { model: 'model.onnx', tails: 'tails.json' },
      sha256: { 'model.onnx': 'a'.repeat(64), 'tails.json': 'a'.repeat(64) },
      tails: {
        det: { feature: 'det_feat', in: 4, layers: [{ out: 4, act: 'relu' }, { out: 6, act: 'linear' }] },
        seg: { feature: 'seg_feat', in: 3, layers: [{ out: 3, act: 'linear' }] },
        depth: { feature: 'depth_feat', in: 2, layers: [{ out: 1, act: 'linear' }] },
      },
    },
    'small-manifest',
  );
}

/** Tail weights for `manifest` with values derived from `seed` (distinct seeds, distinct weights). */
export function makeTails(manifest: Pick<Manifest, 'tails'>, seed = 1): TailWeights {
  const out = new Map<string, TailTensor>();
  let s = seed >>> 0;
  for (const { name, shape } of tailTensorSpecs(manifest.tails)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      data[i] = ((s >>> 8) / 0xffffff - 0.5) * 0.2;
    }
    out.set(name, { shape, data });
  }
  return out;
}

/**
 * Rewrites a bundle's header and payload and signs it again: a signer gone wrong, or a forger
 * holding the key. `rehash` recomputes the header's sha256 after the edit.
 */
export function resignBundle(bytes: Uint8Array, edit: (meta: BundleMeta & Record<string, unknown>, payload: Buffer) => void, key: KeyObject, rehash = true): Buffer {
  const buf = Buffer.from(bytes);
  const hl = buf.readUInt32LE(8);
  const meta = JSON.parse(buf.subarray(12, 12 + hl).toString()) as BundleMeta & Record<string, unknown>;
  const payload = Buffer.from(buf.subarray(12 + hl, buf.length - 64));
  edit(meta, payload);
  if (rehash) (meta as { sha256: string }).sha256 = createHash('sha256').update(payload).digest('hex');
  const header = Buffer.from(JSON.stringify(meta));
  const prefix = Buffer.alloc(12);
  BUNDLE_MAGIC.copy(prefix);
  prefix.writeUInt32LE(header.length, 8);
  const signed = Buffer.concat([prefix, header, payload]);
  return Buffer.concat([signed, sign(null, signed, key)]);
}
