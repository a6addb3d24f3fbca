/**
 * Re-derives config/golden.json (the regression test's bounds) for the bundled model: replays
 * each bag the file lists with --fast (deterministic on CPU) and sets each metric's bound to
 * its value − 0.05 (+ 0.05 for depth AbsRel, where lower is better), the rule the file's note
 * states. Prints old and new bounds side by side; `--write` writes the file.
 *
 *   npx tsx bench/golden.ts [--write] [--note "why the model changed"]
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModelPackage } from '../src/model/package.js';
import { parseGolden, type GoldenMetric } from '../src/replay/golden.js';
import { replay } from '../src/replay/replay.js';

const ROOT = resolve(import.meta.dirname, '..');
const FILE = join(ROOT, 'config', 'golden.json');
const MODEL = join(ROOT, 'models', 'default');
const MARGIN = 0.05;
const argv = process.argv.slice(2);
const note = argv.includes('--note') ? argv[argv.indexOf('--note') + 1] : undefined;
const old = parseGolden(JSON.parse(await readFile(FILE, 'utf8')), FILE);
const { manifest } = await loadModelPackage(MODEL);
const dir = await mkdtemp(join(tmpdir(), 'golden-'));
const bags: typeof old.bags = {};
try {
  for (const bag of Object.keys(old.bags)) {
    const s = await replay({ bag: join(ROOT, 'bags', bag), modelDir: MODEL, outDir: join(dir, bag), providers: ['cpu'], fast: true });
    const bounds: Partial<Record<GoldenMetric, number>> = {};
    for (const metric of Object.keys(old.bags[bag]) as GoldenMetric[]) {
      const v = s.metrics[metric];
      if (v === null) throw new Error(`${bag}: ${metric} is missing from the replay's metrics`);
      const b = metric === 'depth_absrel' ? v + MARGIN : Math.max(0, v - MARGIN);
      bounds[metric] = Math.round(b * 1000) / 1000;
      process.stdout.write(`${bag} ${metric}: ${v.toFixed(4)} -> bound ${bounds[metric]} (was ${old.bags[bag][metric]})\n`);
    }
    bags[bag] = bounds;
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
const next = {
  model: `${manifest.name}@${manifest.version}`,
  model_sha256: manifest.sha256['model.onnx'],
  tails_sha256: manifest.sha256['tails.json'],
  note: `Bounds for regression replays (test/regression.test.ts): each is the bundled model's value on that bag when it was built, minus ${MARGIN} (plus ${MARGIN} for depth_absrel). Replays are deterministic on CPU, so a breach is a real change. Update deliberately when the model changes: npx tsx bench/golden.ts --write.${note ? ` ${note}` : ''}`,
  bags,
};
if (argv.includes('--write')) {
  await writeFile(FILE, `${JSON.stringify(next, null, 2)}\n`);
  process.stdout.write(`wrote ${FILE}\n`);
}
