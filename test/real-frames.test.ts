import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replay } from '../src/replay/replay.js';
import type { ReplaySummary } from '../src/replay/summary.js';

// The committed real-frames bag (comma10k dashcam frames with hand-corrected lane / road
// masks; bags/README.md "Real frames"): replay scores what its labels cover and leaves the rest
// unscored, for the bundled model and for the real-roads candidate.
const ROOT = resolve(import.meta.dirname, '..');
const BAG = join(ROOT, 'bags', 'real_comma10k_front.mcap');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'real-frames-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(model: string): Promise<{ s: ReplaySummary; html: string }> {
  const out = join(dir, model.replaceAll('/', '_'));
  const s = await replay({ bag: BAG, modelDir: join(ROOT, model), outDir: out, providers: ['cpu'], fast: true });
  return { s, html: await readFile(join(out, 'report.html'), 'utf8') };
}

describe('real frames (bags/real_comma10k_front.mcap)', () => {
  const results: Record<string, ReplaySummary> = {};

  it.each(['models/default', 'models/candidates/real'])('%s: every frame runs; lane and drivable IoU are scored, boxes and depth (no labels) are not; the report shows the overlays', async (model) => {
    const { s, html } = await run(model);
    results[model] = s;
    expect([s.frames, s.processed, s.dropped]).toEqual([6, 6, 0]);
    expect(s.metrics.scored_frames).toBe(6);
    for (const k of ['lane_iou', 'drivable_iou'] as const) {
      expect(s.metrics[k]).toBeGreaterThan(0);
      expect(s.metrics[k]).toBeLessThanOrEqual(1);
    }
    expect(s.metrics.det_map50).toBeNull();
    expect(s.metrics.depth_absrel).toBeNull();
    expect(html.match(/<figure><img alt="front overlay" src="data:image\/png;base64,/g)?.length).toBeGreaterThan(0);
  }, 120_000);

  it('the real-roads candidate sees more of the real road than the synthetic-only default', () => {
    const d = results['models/default'];
    const c = results['models/candidates/real'];
    expect(d && c, 'both replays ran').toBeTruthy();
    // Measured 2026-12-06: drivable 0.29 → 0.68, lane 0.18 → 0.38 (docs/experiments/2026-12-06-real-backbone.md).
    expect(c.metrics.drivable_iou!).toBeGreaterThan(d.metrics.drivable_iou! + 0.2);
    expect(c.metrics.lane_iou!).toBeGreaterThan(d.metrics.lane_iou!);
  });
});
