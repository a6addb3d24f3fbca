import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, PRECISION_ENV } from '../engine/engine.js';
import { makeTinyModel } from '../../test/support/tiny-model/tiny-model.js';
import { isPerceptionError } from '../core/errors.js';
import { loadModelPackage } from '../model/package.js';
import { buildPrecisionVariants } from './build.js';

let tiny: { dir: string; cleanup: () => void };
let fp32Manifest: string;

function image(seed: number, w = 160, h = 90) {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.round(127 + 100 * Math.sin(i / (97 + seed)) * Math.cos(i / 3001));
  return { width: w, height: h, data };
}

beforeAll(async () => {
  tiny = makeTinyModel();
  fp32Manifest = readFileSync(join(tiny.dir, 'manifest.json'), 'utf8');
  await buildPrecisionVariants({ modelDir: tiny.dir, calibration: [1, 2, 3, 4, 5, 6].map((s) => image(s)), precisions: ['int8', 'fp16'], defaultPrecision: 'int8', qdq: { keepFirstConvs: 0 } });
});
afterAll(() => tiny?.cleanup());

async function expectConfigError(p: Promise<unknown>, re: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isPerceptionError(err, 'INVALID_CONFIG'), String(err)).toBe(true);
  expect((err as { context: { field?: string } }).context.field).toBe('precision');
  expect(String(err)).toMatch(re);
}

describe('a package with precision variants', () => {
  it('the manifest names every variant with its sha256; the FP32 files are unchanged', async () => {
    const m = JSON.parse(readFileSync(join(tiny.dir, 'manifest.json'), 'utf8'));
    expect(m.precisions.default).toBe('int8');
    expect(Object.keys(m.precisions.variants).sort()).toEqual(['fp16', 'fp32', 'int8']);
    for (const f of ['model.int8.onnx', 'model.fp16.onnx']) {
      expect(m.sha256[f]).toBe(createHash('sha256').update(readFileSync(join(tiny.dir, f))).digest('hex'));
    }
    expect(m.files).toEqual(JSON.parse(fp32Manifest).files);
    expect(m.sha256['model.onnx']).toBe(JSON.parse(fp32Manifest).sha256['model.onnx']);
    expect(m.precisions.variants.int8.check.seg_mask_agreement).toBeGreaterThan(0.9);
  });

  it('loads the manifest default, or the precision asked for', async () => {
    expect((await loadModelPackage(tiny.dir)).modelPath).toBe(join(tiny.dir, 'model.int8.onnx'));
    expect((await loadModelPackage(tiny.dir)).precision).toBe('int8');
    expect((await loadModelPackage(tiny.dir, { precision: 'fp32' })).modelPath).toBe(join(tiny.dir, 'model.onnx'));
    expect((await loadModelPackage(tiny.dir, { precision: 'fp16' })).modelPath).toBe(join(tiny.dir, 'model.fp16.onnx'));
  });

  it('the engine runs the variant it was asked for, and says which', async () => {
    const logs: string[] = [];
    const frame = image(11);
    const results: Record<string, Float32Array> = {};
    for (const precision of ['fp32', 'int8', 'fp16']) {
      const e = await Engine.create({ modelDir: tiny.dir, precision, providers: ['cpu'], threads: 1, log: (l) => logs.push(l) });
      expect(e.precision).toBe(precision);
      const [out] = await e.infer([frame], { outputs: ['det_feat'] });
      results[precision] = (out.tensors.det_feat as { data: Float32Array }).data.slice();
      await e.dispose();
    }
    expect(logs.some((l) => l.includes('model.int8.onnx'))).toBe(true);
    // Different graphs, same network: close but not identical.
    for (const p of ['int8', 'fp16']) {
      const d = results[p].reduce((m, v, i) => Math.max(m, Math.abs(v - results.fp32[i])), 0);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThan(0.1);
    }
  });

  it('the environment variable picks the variant when the option does not', async () => {
    const before = process.env[PRECISION_ENV];
    process.env[PRECISION_ENV] = 'fp16';
    try {
      const e = await Engine.create({ modelDir: tiny.dir, providers: ['cpu'], threads: 1 });
      expect(e.precision).toBe('fp16');
      await e.dispose();
      const f = await Engine.create({ modelDir: tiny.dir, providers: ['cpu'], threads: 1, precision: 'fp32' });
      expect(f.precision).toBe('fp32');
      await f.dispose();
    } finally {
      if (before === undefined) delete process.env[PRECISION_ENV];
      else process.env[PRECISION_ENV] = before;
    }
  });

  it('checks the selected variant file against its sha256', async () => {
    const file = join(tiny.dir, 'model.fp16.onnx');
    const bytes = readFileSync(file);
    try {
      const broken = Buffer.from(bytes);
      broken[broken.length - 1] ^= 0xff;
      writeFileSync(file, broken);
      await expect(loadModelPackage(tiny.dir, { precision: 'fp16' })).rejects.toThrow(/sha256 of model\.fp16\.onnx does not match/);
      // Other variants do not read it.
      expect((await loadModelPackage(tiny.dir, { precision: 'int8' })).precision).toBe('int8');
    } finally {
      writeFileSync(file, bytes);
    }
  });

  describe('BAD CALL', () => {
    it('an unknown precision names the field and what the package has', () =>
      expectConfigError(Engine.create({ modelDir: tiny.dir, precision: 'int4', providers: ['cpu'] }), /precision 'int4' is not one of fp32, int8, fp16 \(this package has: fp32, int8, fp16\)/));

    it('a precision the package does not ship names the manifest field', async () => {
      const plain = makeTinyModel();
      try {
        await expectConfigError(loadModelPackage(plain.dir, { precision: 'int8' }), /'precisions\.variants' \(this package has: fp32\)/);
      } finally {
        plain.cleanup();
      }
    });
  });
});

describe('the bundled default package', () => {
  it('still loads; without a precisions section it is fp32 = files.model', async () => {
    const dir = join(import.meta.dirname, '../../models/default');
    const p = await loadModelPackage(dir);
    if (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).precisions === undefined) {
      expect(p.precision).toBe('fp32');
      expect(p.modelPath).toBe(join(dir, p.manifest.files.model));
    }
  });
});
