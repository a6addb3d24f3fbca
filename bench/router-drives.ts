/**
 * Shared by the router benches (router-fit.ts, router-refset.ts): a drive's frames as pooled
 * tail features, the share of frames a camera would run on the adapted tails, and the printout.
 */
import { openBag } from '../src/bag/reader.js';
import type { Engine } from '../src/engine/engine.js';
import { poolFeatures, routerScore, RouterState, type Router } from '../src/engine/router.js';
import type { CompressedImage } from '../src/msgs/index.js';
import { ImageDecoder } from '../src/pipeline/image-decode.js';

export interface Pooled {
  x: Float32Array;
  /** Seconds into the drive (10 Hz frames). */
  t: number;
}

/** Every `every`-th of the first `max` front-camera frames of a bag, run through `engine` and pooled. */
export async function pooledDrive(engine: Engine, path: string, opts: { every?: number; max?: number; log?: (line: string) => void } = {}): Promise<Pooled[]> {
  const { every = 1, max = Infinity } = opts;
  const decoder = new ImageDecoder();
  const reader = await openBag(path);
  const out: Pooled[] = [];
  let i = 0;
  try {
    for await (const m of reader.messages({ topics: ['/front/image_raw/compressed'] })) {
      const k = i++;
      if (k >= max) break;
      if (k % every !== 0) continue;
      const c = m.msg as CompressedImage;
      const image = await decoder.decode({ kind: 'compressed', format: c.format, data: c.data }, { camera: 'front', topic: m.topic, index: m.index });
      const [o] = await engine.infer([image], { outputs: ['det_feat', 'seg_feat', 'depth_feat'] });
      const map = (name: 'det_feat' | 'seg_feat' | 'depth_feat') => {
        const t = o.tensors[name]!;
        const [channels, height, width] = t.dims.length === 4 ? t.dims.slice(1) : t.dims;
        return { channels, height, width, data: t.data as Float32Array };
      };
      out.push({ x: poolFeatures({ det: map('det_feat'), seg: map('seg_feat'), depth: map('depth_feat') }, engine.manifest.tails), t: k / 10 });
    }
  } finally {
    await reader.close();
  }
  opts.log?.(`${path}: ${out.length} frames`);
  return out;
}

/** Share of the frames from `from` s on that a camera would run on the adapted tails (RouterState's running average). */
export function adaptedShare(router: Router, frames: readonly Pooled[], from = -Infinity): number {
  const state = new RouterState();
  let n = 0;
  let on = 0;
  for (const f of frames) {
    if (f.t >= from) {
      n++;
      if (state.useAdapted('front')) on++;
    }
    state.observe('front', routerScore(router, f.x));
  }
  return on / n;
}

/** Rows as JSON, or as a tab-separated table with a header line. */
export function printRows(rows: readonly Record<string, unknown>[], json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  const cols = Object.keys(rows[0]);
  process.stdout.write(cols.join('\t') + '\n');
  for (const r of rows) process.stdout.write(cols.map((c) => String(r[c])).join('\t') + '\n');
}
