import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerDatasetCommand } from '../cli/dataset.js';
import { writeDataset } from './dataset-writer.js';
import { isPerceptionError } from '../core/errors.js';
import { Simulation } from './simulation.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sim-dataset-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('writeDataset', () => {
  it('writes shards numpy can read, with meta, boxes and frame provenance', async () => {
    const out = await tempDir();
    const seen: number[] = [];
    await writeDataset({ out, domains: ['day', 'fog'], frames: 3, seed: 9, width: 32, height: 24, sequenceLength: 2, shardSize: 4, onProgress: (d) => seen.push(d) });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8'));
    expect(meta).toMatchObject({ width: 32, height: 24, count: 6, domains: ['day', 'fog'], seed: 9, classes: ['car', 'truck', 'pedestrian', 'cyclist'] });
    expect(meta.shards).toEqual([{ dir: 'shard-0000', count: 4 }, { dir: 'shard-0001', count: 2 }]);
    const n = 32 * 24;
    expect((await stat(join(out, 'shard-0000', 'images.u8'))).size).toBe(4 * n * 3);
    expect((await stat(join(out, 'shard-0000', 'seg.u8'))).size).toBe(4 * n);
    expect((await stat(join(out, 'shard-0001', 'depth.f32'))).size).toBe(2 * n * 4);
    const frames = JSON.parse(await readFile(join(out, 'shard-0000', 'frames.json'), 'utf8'));
    const boxes = JSON.parse(await readFile(join(out, 'shard-0000', 'boxes.json'), 'utf8'));
    expect(frames).toHaveLength(4);
    expect(boxes).toHaveLength(4);
    for (const b of boxes.flat()) {
      expect(meta.classes[b.cls]).toBe(b.name);
      expect(b.x1).toBeGreaterThan(b.x0);
    }
    expect(frames.map((f: { domain: string }) => f.domain)).toEqual(['day', 'day', 'day', 'fog']);
    // two sequences per domain: different worlds, frames 5 apart inside one
    expect(frames[0].seed).toBe(frames[1].seed);
    expect(frames[2].seed).not.toBe(frames[0].seed);
    expect(frames[1].index - frames[0].index).toBe(5);
    // a frame's bytes are those the simulation renders for its provenance
    const f = frames[1];
    const cam = Simulation.create({ seed: f.seed, domain: f.domain, width: 32, height: 24 }).frame(f.index).cameras[0];
    const depth = await readFile(join(out, 'shard-0000', 'depth.f32'));
    const fromFile = new Float32Array(depth.buffer.slice(depth.byteOffset + n * 4, depth.byteOffset + 2 * n * 4));
    expect(Array.from(fromFile)).toEqual(Array.from(cam.depth));
    const seg = await readFile(join(out, 'shard-0000', 'seg.u8'));
    expect(Buffer.compare(seg.subarray(n, 2 * n), Buffer.from(cam.lane))).toBe(0);
  });

  it('rejects bad options, naming the field', async () => {
    const out = await tempDir();
    const base = { out, domains: ['day' as const], frames: 1, seed: 1, width: 32, height: 24 };
    for (const [patch, field] of [[{ frames: 0 }, 'frames'], [{ width: 4 }, 'width'], [{ domains: ['snow'] }, 'domains'], [{ domains: [] }, 'domains'], [{ out: '' }, 'out']] as const) {
      const err = await writeDataset({ ...base, ...(patch as object) }).catch((e: unknown) => e);
      expect(isPerceptionError(err, 'INVALID_ARGUMENT'), field).toBe(true);
      expect((err as { context: { field: string } }).context.field).toBe(field);
    }
  });

  it('is reachable as the `dataset` command', async () => {
    const out = await tempDir();
    const program = new Command('t').exitOverride();
    registerDatasetCommand(program);
    await program.parseAsync(['dataset', '--out', out, '--domains', 'night', '--frames', '2', '--seed', '3', '--size', '24x16'], { from: 'user' });
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8'));
    expect(meta).toMatchObject({ width: 24, height: 16, count: 2, domains: ['night'], seed: 3 });
    await expect(program.parseAsync(['dataset', '--out', out, '--size', '8x8'], { from: 'user' })).rejects.toThrow(/size/);
  });
});
