/**
 * Distillation targets from ANY model package (the teacher is a black box that follows the
 * model contract, models/README.md): every frame of a dataset (training/DATASET.md) runs
 * through the teacher's ONNX graph in onnxruntime-node, and the raw maps of each head — the
 * output of the last tail Conv, found by its weight input `<head>_w<last>` — are written as
 * float32 arrays beside a meta.json:
 *
 *   OUT/meta.json   {teacher, dataset, size, frames, heads: {det: {shape, stride, file}, ...}}
 *   OUT/det.f32     N × (K+4) × H/sd × W/sd   (heat logits, offsets, log sizes)
 *   OUT/seg.f32     N × 3 × H/ss × W/ss       (class logits)
 *   OUT/depth.f32   N × 1 × H/sz × W/sz       (raw value before the depth mapping)
 *
 *   npx tsx training/compress/teacher_targets.ts --teacher models/default --data DATASET --out DIR
 *
 * training/compress/distill.py reads them (memory-mapped). Written to a temporary folder and
 * renamed when complete.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PerceptionError } from '../../src/core/errors.js';
import { HEADS } from '../../src/model/manifest.js';
import { loadModelPackage } from '../../src/model/package.js';
import { encodeModel, readModel } from '../../src/model/quantize/onnx.js';

interface DatasetMeta {
  width: number;
  height: number;
  count: number;
  shards: { dir: string; count: number }[];
  seed?: number;
  domains?: string[];
}

export interface TeacherTargetsOptions {
  teacherDir: string;
  dataDir: string;
  outDir: string;
  batch?: number;
  log?: (l: string) => void;
}

/** Writes the targets unless OUT/meta.json exists already; returns OUT. */
export async function teacherTargets(o: TeacherTargetsOptions): Promise<string> {
  const log = o.log ?? (() => {});
  if (existsSync(join(o.outDir, 'meta.json'))) return o.outDir;
  const meta = JSON.parse(readFileSync(join(o.dataDir, 'meta.json'), 'utf8')) as DatasetMeta;
  const pkg = await loadModelPackage(o.teacherDir, { precision: 'fp32' });
  const model = readModel(pkg.modelPath);
  const raw: Record<string, string> = {};
  for (const head of HEADS) {
    const lastW = `${head}_w${pkg.manifest.tails[head].layers.length - 1}`;
    const conv = model.graph.node.find((n) => n.opType === 'Conv' && n.input.includes(lastW));
    if (!conv) throw new PerceptionError('MODEL_INVALID', `teacher ${o.teacherDir}: no Conv reads the tail weight '${lastW}'`, { file: pkg.modelPath, field: lastW });
    raw[head] = conv.output[0];
    if (!model.graph.output.some((v) => v.name === conv.output[0])) model.graph.output.push({ name: conv.output[0] });
  }
  const session = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'all' });
  const { width: W, height: H } = meta;
  const tmp = `${o.outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const streams = Object.fromEntries(HEADS.map((h) => [h, createWriteStream(join(tmp, `${h}.f32`))]));
  const shapes: Record<string, number[]> = {};
  const fixed: Record<string, ort.Tensor> = { size: new ort.Tensor('int64', BigInt64Array.of(BigInt(H), BigInt(W)), [2]) };
  for (const [name, t] of pkg.tails) fixed[name] = new ort.Tensor('float32', t.data, [...t.shape]);
  const batch = o.batch ?? 8;
  const t0 = performance.now();
  let done = 0;
  for (const shard of meta.shards) {
    const images = readFileSync(join(o.dataDir, shard.dir, 'images.u8'));
    for (let i = 0; i < shard.count; i += batch) {
      const n = Math.min(batch, shard.count - i);
      const image = new Uint8Array(images.buffer, images.byteOffset + i * H * W * 3, n * H * W * 3);
      const out = await session.run({ ...fixed, image: new ort.Tensor('uint8', image, [n, H, W, 3]) }, Object.values(raw));
      for (const head of HEADS) {
        const t = out[raw[head]];
        shapes[head] = [...t.dims.slice(1)] as number[];
        const d = t.data as Float32Array;
        streams[head].write(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      }
      done += n;
      if (done % 200 < batch || done === meta.count) {
        const s = (performance.now() - t0) / 1000;
        log(`teacher targets: ${done}/${meta.count} frames, ${((s / done) * 1000).toFixed(0)} ms/frame, ETA ${((s / done) * (meta.count - done)).toFixed(0)} s`);
      }
    }
  }
  await Promise.all(HEADS.map((h) => new Promise<void>((res, rej) => streams[h].end((e?: Error | null) => (e ? rej(e) : res())))));
  await session.release();
  const heads = Object.fromEntries(HEADS.map((h) => [h, { shape: [meta.count, ...shapes[h]], stride: pkg.manifest.strides[h], file: `${h}.f32`, dtype: 'float32' }]));
  writeFileSync(
    join(tmp, 'meta.json'),
    JSON.stringify({ teacher: { dir: o.teacherDir, name: pkg.manifest.name, version: pkg.manifest.version, sha256: pkg.manifest.sha256 }, dataset: o.dataDir, size: [H, W], frames: meta.count, heads, classes: pkg.manifest.classes, depth: pkg.manifest.depth }, null, 1),
  );
  rmSync(o.outDir, { recursive: true, force: true });
  renameSync(tmp, o.outDir);
  return o.outDir;
}

async function main() {
  const argv = process.argv.slice(2);
  const val = (k: string) => {
    const i = argv.indexOf(k);
    if (i < 0 || !argv[i + 1]) throw new Error(`${k} is required (usage: --teacher PKG --data DATASET --out DIR)`);
    return argv[i + 1];
  };
  await teacherTargets({ teacherDir: val('--teacher'), dataDir: val('--data'), outDir: val('--out'), log: (l) => process.stderr.write(`${l}\n`) });
}

if (process.argv[1]?.endsWith('teacher_targets.ts')) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
