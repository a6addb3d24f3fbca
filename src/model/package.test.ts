import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPerceptionError } from '../core/errors.js';
import { makeTinyModel } from '../../test/support/tiny-model/tiny-model.js';
import { loadModelPackage } from './package.js';

let pkg: { dir: string; cleanup: () => void };
beforeEach(() => {
  pkg = makeTinyModel();
});
afterEach(() => pkg.cleanup());

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Rewrites tails.json through `edit` and fixes its hash, so only the content check can fail. */
function editTails(edit: (t: Record<string, { shape: number[]; data: unknown[] }>) => void): void {
  const file = join(pkg.dir, 'tails.json');
  const tails = JSON.parse(readFileSync(file, 'utf8'));
  edit(tails);
  // JSON has no NaN: write it the way a broken exporter would (a bare NaN token is not JSON),
  // so tests that need a non-finite value put a string or null in instead.
  const text = JSON.stringify(tails);
  writeFileSync(file, text);
  const mfile = join(pkg.dir, 'manifest.json');
  const m = JSON.parse(readFileSync(mfile, 'utf8'));
  m.sha256['tails.json'] = sha(text);
  writeFileSync(mfile, JSON.stringify(m));
}

async function loadError(): Promise<Error & { code: string; context: Record<string, unknown> }> {
  try {
    await loadModelPackage(pkg.dir);
  } catch (e) {
    expect(isPerceptionError(e, 'MODEL_INVALID'), String(e)).toBe(true);
    return e as Error & { code: string; context: Record<string, unknown> };
  }
  throw new Error('expected loadModelPackage to fail');
}

describe('loadModelPackage', () => {
  it('loads the tiny fixture package', async () => {
    const p = await loadModelPackage(pkg.dir);
    expect(p.manifest.name).toBe('tiny');
    expect(p.modelPath).toBe(join(pkg.dir, 'model.onnx'));
    expect(p.tails.get('det_w1')?.shape).toEqual([6, 6, 1, 1]);
    expect(p.tails.get('det_w1')?.data).toBeInstanceOf(Float32Array);
  });

  describe('BAD CALL', () => {
    it('wrong hash names the file, expected and found', async () => {
      const file = join(pkg.dir, 'model.onnx');
      const bytes = readFileSync(file);
      bytes[bytes.length - 1] ^= 0xff;
      writeFileSync(file, bytes);
      const err = await loadError();
      expect(err.message).toMatch(/sha256 of model\.onnx does not match/);
      expect(err.context.expected).toMatch(/^[0-9a-f]{64}$/);
      expect(err.context.found).toBe(sha(bytes));
      expect(err.message).toContain(sha(bytes));
    });

    it('missing file names it', async () => {
      rmSync(join(pkg.dir, 'model.onnx'));
      const err = await loadError();
      expect(err.message).toMatch(/cannot read .*model\.onnx/);
    });

    it('missing manifest', async () => {
      rmSync(join(pkg.dir, 'manifest.json'));
      expect((await loadError()).context.file).toBe(join(pkg.dir, 'manifest.json'));
    });

    it('manifest that is not JSON', async () => {
      writeFileSync(join(pkg.dir, 'manifest.json'), '{ nope');
      expect((await loadError()).message).toMatch(/not valid JSON/);
    });

    it('NaN in tails names the tensor and index', async () => {
      editTails((t) => (t.seg_b0.data[2] = 'NaN'));
      const err = await loadError();
      expect(err.context.field).toBe('seg_b0');
      expect(err.message).toMatch(/value \[2\] is NaN/);
    });

    it('null (JSON for Infinity/NaN from some writers) in tails', async () => {
      editTails((t) => (t.det_w0.data[0] = null));
      expect((await loadError()).message).toMatch(/det_w0.*finite/);
    });

    it('wrong tensor shape', async () => {
      editTails((t) => (t.depth_w0.shape = [1, 5, 1, 1]));
      const err = await loadError();
      expect(err.message).toMatch(/depth_w0.*expected \[1, 4, 1, 1\]/);
    });

    it('missing and unexpected tensors', async () => {
      editTails((t) => delete t.det_b1);
      expect((await loadError()).message).toMatch(/det_b1' is missing/);
    });
  });
});
