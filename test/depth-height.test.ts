import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replay } from '../src/replay/replay.js';
import { writeSimBag } from '../src/sim/bag-writer.js';

// Depth for the camera's height (src/pipeline/depth-focal.ts): the default's depth head learned a
// camera 1.5 m above the road; replay reads each camera's height from the bag's /tf_static (as
// the ROS node reads the robot's TF) and scales depth by it.
const ROOT = resolve(import.meta.dirname, '..');
let dir: string;
let bag: string;
let noHeight: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'depth-height-'));
  bag = join(dir, 'low.mcap');
  // A small robot's camera, 0.8 m up; its mounts on /tf_static say so.
  await writeSimBag({ out: bag, domain: 'day', frames: 6, seed: 5, cameras: ['front'], width: 320, height: 180, rateHz: 10, compressed: false, jpegQuality: 85, gtScale: 2, camera: { height: 0.8 } });
  // The same package without the height its depth learned.
  noHeight = join(dir, 'no-height');
  await cp(join(ROOT, 'models', 'default'), noHeight, { recursive: true });
  const m = JSON.parse(await readFile(join(noHeight, 'manifest.json'), 'utf8'));
  expect(m.depth.focal.camera_height_m, 'models/default states the camera height its depth learned').toBe(1.5);
  delete m.depth.focal.camera_height_m;
  delete m.depth.focal.height_exponent;
  await writeFile(join(noHeight, 'manifest.json'), JSON.stringify(m));
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('depth for the camera\'s height', () => {
  it('a camera 0.8 m above the road: depth follows its height from TF; without it (no height in the package, or no TF read) depth is far', async () => {
    const run = (modelDir: string, out: string, groundFrame?: string) =>
      replay({ bag, modelDir, outDir: join(dir, out), providers: ['cpu'], fast: true, ...(groundFrame !== undefined ? { groundFrame } : {}) });
    const withHeight = await run(join(ROOT, 'models', 'default'), 'with');
    const without = await run(noHeight, 'without');
    const noTf = await run(join(ROOT, 'models', 'default'), 'no-tf', '');
    const absrel = (s: typeof withHeight) => s.metrics.depth_absrel ?? NaN;
    const delta1 = (s: typeof withHeight) => s.metrics.depth_delta1 ?? NaN;
    expect(absrel(withHeight)).toBeLessThan(absrel(without) - 0.2);
    expect(delta1(withHeight)).toBeGreaterThan(delta1(without) + 0.2);
    expect(absrel(noTf)).toBeCloseTo(absrel(without), 6);
  }, 120_000);
});
