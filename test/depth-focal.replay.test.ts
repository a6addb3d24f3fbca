import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBag } from '../src/bag/reader.js';
import type { CameraInfo, Image } from '../src/msgs/index.js';
import { depthFocalOf, depthScale } from '../src/pipeline/depth-focal.js';
import { floatPixels, type Truth } from '../src/pipeline/messages.js';
import { replay } from '../src/replay/replay.js';
import { writeSimBag } from '../src/sim/bag-writer.js';
import { loadModelPackage } from '../src/model/package.js';

// replay reads each camera's camera_info from the bag: depth (results and scores) is metric for
// that lens, and ground-truth depth handed to adaptation is in the model's own units.
const MODEL = resolve(import.meta.dirname, '..', 'models', 'default');
let dir: string;
let bag: string;
let asIsModel: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'depth-focal-'));
  bag = join(dir, 'camshift.mcap');
  // camshift: a 55–65° or 110–125° lens, far from the 80–100° the model was trained on.
  await writeSimBag({ out: bag, domain: 'camshift', frames: 3, seed: 21, cameras: ['front'], width: 320, height: 180, rateHz: 10, compressed: true, jpegQuality: 85, gtScale: 4 });
  // The same package without depth.focal: its depth as is.
  asIsModel = join(dir, 'as-is');
  await cp(MODEL, asIsModel, { recursive: true });
  const m = JSON.parse(await readFile(join(asIsModel, 'manifest.json'), 'utf8'));
  delete m.depth.focal;
  await writeFile(join(asIsModel, 'manifest.json'), JSON.stringify(m));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(model: string, name: string) {
  const out = join(dir, name);
  const truths: Extract<Truth, { kind: 'depth' }>[] = [];
  const s = await replay({ bag, modelDir: model, outDir: out, providers: ['cpu'], fast: true, hooks: { onTruth: (_c, _s, t) => void (t.kind === 'depth' && truths.push(t)) } });
  const results = await openBag(join(out, 'results.mcap'));
  const depths: Float32Array[] = [];
  for await (const m of results.messages({ topics: ['/front/perception/depth'] })) depths.push(Float32Array.from(floatPixels(m.msg as Image)));
  await results.close();
  return { s, depths, truths };
}

describe('replay: depth for the bag camera\'s lens', () => {
  it('scales depth by the camera_info focal rule, scores the scaled depth, and hands adaptation labels in model units', async () => {
    const pkg = await loadModelPackage(MODEL);
    const focal = depthFocalOf(pkg.manifest)!;
    const reader = await openBag(bag);
    let info: CameraInfo | undefined;
    const truth: Float32Array[] = [];
    for await (const m of reader.messages({ topics: ['/front/camera_info', '/gt/front/depth'] })) {
      if (m.topic === '/front/camera_info') info ??= m.msg as CameraInfo;
      else truth.push(Float32Array.from(floatPixels(m.msg as Image)));
    }
    await reader.close();
    const scale = depthScale(focal, info!);
    expect(Math.abs(scale - 1)).toBeGreaterThan(0.1); // a lens the model does not assume

    const asIs = await run(asIsModel, 'as-is');
    const metric = await run(MODEL, 'metric');
    expect(metric.depths).toHaveLength(3);
    for (let i = 0; i < 3; i++) for (let j = 0; j < asIs.depths[i].length; j += 101) expect(metric.depths[i][j]).toBeCloseTo(asIs.depths[i][j] * scale, 3);
    // Scored against the same metric ground truth: the figures differ.
    expect(metric.s.metrics.depth_absrel).not.toBeCloseTo(asIs.s.metrics.depth_absrel!, 3);
    // Adaptation's depth labels: the bag's metres ÷ scale with the focal, the metres as they are without.
    expect(asIs.truths.map((t) => t.data[0])).toEqual(truth.map((t) => t[0]));
    for (let i = 0; i < 3; i++) expect(metric.truths[i].data[5]).toBeCloseTo(truth[i][5] / scale, 4);
  }, 120_000);
});
