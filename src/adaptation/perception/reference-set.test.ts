import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../model/index.js';
import type { FrameResult } from '../../pipeline/perception.js';
import { writeSimBag } from '../../sim/bag-writer.js';
import { sampleFromMessage } from '../protocol/wire.js';
import { bagReferenceSource, readReferenceSet, type ReferenceTruth } from './reference-set.js';

const BAG = join(import.meta.dirname, '..', '..', '..', 'bags', 'day_front.mcap'); // 50 frames at 10 Hz

async function read(maxFrames: number): Promise<Array<{ stampNs: bigint; truth: ReferenceTruth; width: number }>> {
  const got: Array<{ stampNs: bigint; truth: ReferenceTruth; width: number }> = [];
  const sent = await readReferenceSet(
    BAG,
    maxFrames,
    async (camera, stampNs, image) => ({ camera, stampNs, width: image.width }) as unknown as FrameResult,
    (r, truth) => {
      const x = r as unknown as { stampNs: bigint; width: number };
      got.push({ stampNs: x.stampNs, truth, width: x.width });
    },
  );
  expect(sent).toEqual({ frames: got.length, delivered: got.length });
  return got;
}

describe('old-domain reference set', () => {
  it('spreads its frames over the whole bag, each with its own ground truth', async () => {
    const got = await read(5);
    expect(got).toHaveLength(5);
    const t0 = 1_700_000_000_000_000_000n;
    // Frames 0, 10, 20, 30, 40 of 50 (10 Hz): one per tenth-of-a-drive stretch, not the first five.
    expect(got.map((g) => Number(g.stampNs - t0) / 1e9)).toEqual([0, 1, 2, 3, 4]);
    for (const g of got) {
      expect(g.width).toBeGreaterThan(0);
      expect(g.truth.detections?.kind).toBe('detections');
      expect(g.truth.lane?.kind).toBe('lane');
      expect(g.truth.depth?.kind).toBe('depth');
    }
  });

  it("reads a robot's recording: the latched /tf_static (no header, no camera) is not a frame", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refset-tf-'));
    const bag = join(dir, 'tf.mcap');
    await writeSimBag({ out: bag, domain: 'day', frames: 4, seed: 9, cameras: ['front'], width: 160, height: 96, rateHz: 10, compressed: true, jpegQuality: 85, gtScale: 2 });
    const got: ReferenceTruth[] = [];
    const sent = await readReferenceSet(bag, 4, async (camera, stampNs) => ({ camera, stampNs }) as unknown as FrameResult, (_r, truth) => void got.push(truth));
    expect(sent).toEqual({ frames: 4, delivered: 4 });
    expect(got.every((t) => t.detections && t.lane && t.depth)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it('waits for a slow consumer and counts the frames it could not deliver', async () => {
    let busy = 0;
    let maxBusy = 0;
    let n = 0;
    const sent = await readReferenceSet(
      BAG,
      6,
      async (camera, stampNs) => ({ camera, stampNs }) as unknown as FrameResult,
      async () => {
        maxBusy = Math.max(maxBusy, ++busy);
        await new Promise((res) => setTimeout(res, 5));
        busy--;
        return n++ % 2 === 0; // every other frame lost
      },
    );
    expect(maxBusy).toBe(1); // one frame at a time: the next waits for the last one's delivery
    expect(sent).toEqual({ frames: 6, delivered: 3 });
  });

  it('sends every frame when asked for more than the bag holds', async () => {
    const got = await read(80);
    expect(got).toHaveLength(50);
    expect(new Set(got.map((g) => g.stampNs)).size).toBe(50);
  });

  it("names its frames' cameras apart from every live or replayed camera, even from one bag: a drive that shares the bag's stamps keeps its own samples", async () => {
    const feature = (c: number) => ({ type: 'float32', dims: [c, 2, 2], data: new Float32Array(c * 4) });
    const ids: string[] = [];
    const source = bagReferenceSource({
      bags: [BAG],
      frames: 3,
      classes: ['car', 'truck', 'pedestrian', 'cyclist'],
      depth: (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'models', 'default', 'manifest.json'), 'utf8')) as Manifest).depth,
      process: async (camera, stampNs) => ({ camera, stampNs, size: [192, 384], cameraSize: { width: 1280, height: 720 }, tensors: { det_feat: feature(4), seg_feat: feature(2), depth_feat: feature(3) } }) as unknown as FrameResult,
    });
    expect(await source(async (messages) => {
      for (const m of messages) if (m.kind === 'sample') ids.push(`${sampleFromMessage(m).camera}@${sampleFromMessage(m).stampNs}`);
      return true;
    })).toEqual({ frames: 3, delivered: 3 });
    // The sim's bags all start at one epoch: a replayed sim drive's front camera has these stamps too.
    const t0 = 1_700_000_000_000_000_000n;
    expect(ids).toEqual([0n, 17n, 34n].map((i) => `front~ref0@${t0 + i * 100_000_000n}`));
  });
});
