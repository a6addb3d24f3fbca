import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelPackage } from '../src/model/package.js';
import { checkGolden, formatFailures, parseGolden } from '../src/replay/golden.js';
import { replay } from '../src/replay/replay.js';

/**
 * Replays committed bags through the bundled model and holds their metrics to the golden
 * thresholds in config/golden.json. A failure names the bag, the metric and the difference.
 */
const ROOT = resolve(import.meta.dirname, '..');
const GOLDEN_FILE = join(ROOT, 'config', 'golden.json');
const MODEL = join(ROOT, 'models', 'default');

describe('regression: committed bags against golden thresholds', async () => {
  const golden = parseGolden(JSON.parse(await readFile(GOLDEN_FILE, 'utf8')), GOLDEN_FILE);
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regression-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the thresholds were set for the bundled model', async () => {
    const { manifest } = await loadModelPackage(MODEL);
    expect(`${manifest.name}@${manifest.version}`).toBe(golden.model);
    expect(manifest.sha256['model.onnx'], 'models/default/model.onnx changed: re-derive config/golden.json deliberately').toBe(golden.model_sha256);
    expect(manifest.sha256['tails.json'], 'models/default/tails.json changed: re-derive config/golden.json deliberately').toBe(golden.tails_sha256);
  });

  it.each(Object.keys(golden.bags))('%s', async (bag) => {
    const s = await replay({ bag: join(ROOT, 'bags', bag), modelDir: MODEL, outDir: join(dir, bag), providers: ['cpu'], fast: true });
    expect(s.processed).toBe(s.frames);
    // --fast pins the input size, so the figures do not depend on how busy the machine is.
    expect(s.scheduler.ladder_changes).toBe(0);
    expect(s.scheduler.input_size).toEqual(s.model.input_size);
    const failures = checkGolden(bag, s.metrics, golden.bags[bag]);
    expect(failures, formatFailures(failures)).toEqual([]);
  });
});
