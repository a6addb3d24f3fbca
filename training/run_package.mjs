// Runs a model package on raw frames the way the engine does (uint8 camera pixels in, the
// manifest's default input size, shipped tails) and writes the outputs for scoring in Python:
//   node training/run_package.mjs PKG_DIR FRAMES_DIR [OUT_DIR] [--size HxW] [--fy PIXELS]
// FRAMES_DIR/index.json: [{ "file": "0.u8", "height": H, "width": W }] (RGB HWC uint8).
// OUT_DIR (default FRAMES_DIR/out-<package name>): <i>.<output>.bin (float32 / uint8) + index.json.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const args = process.argv.slice(2);
const si = args.indexOf('--size');
const sizeArg = si >= 0 ? args.splice(si, 2)[1].split('x').map(Number) : null;
const fi = args.indexOf('--fy');
const fyArg = fi >= 0 ? Number(args.splice(fi, 2)[1]) : null; // optional `fy` input (real-roads packages)
const [pkg, framesDir, outArg] = args;
const m = JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8'));
const tails = JSON.parse(readFileSync(join(pkg, m.files.tails), 'utf8'));
const s = await ort.InferenceSession.create(join(pkg, m.files.model), { executionProviders: ['cpu'] });
const [H, W] = sizeArg ?? m.input.sizes[0];
const fixed = { size: new ort.Tensor('int64', BigInt64Array.of(BigInt(H), BigInt(W)), [2]) };
for (const [n, t] of Object.entries(tails)) fixed[n] = new ort.Tensor('float32', Float32Array.from(t.data), t.shape);
if (fyArg !== null) fixed.fy = new ort.Tensor('float32', Float32Array.of(fyArg), [1]);
const out = outArg ?? join(framesDir, `out-${m.name}`);
mkdirSync(out, { recursive: true });
const frames = JSON.parse(readFileSync(join(framesDir, 'index.json'), 'utf8'));
const index = { manifest: { name: m.name, version: m.version, classes: m.classes, strides: m.strides, size: [H, W] }, frames: [] };
const fetch = ['det_heat', 'det_box', 'seg_mask', 'depth'];
for (let i = 0; i < frames.length; i++) {
  const f = frames[i];
  const buf = readFileSync(join(framesDir, f.file));
  const r = await s.run({ ...fixed, image: new ort.Tensor('uint8', new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), [1, f.height, f.width, 3]) }, fetch);
  const entry = {};
  for (const k of fetch) {
    writeFileSync(join(out, `${i}.${k}.bin`), Buffer.from(r[k].data.buffer, r[k].data.byteOffset, r[k].data.byteLength));
    entry[k] = { dims: r[k].dims, type: r[k].type };
  }
  index.frames.push(entry);
}
writeFileSync(join(out, 'index.json'), JSON.stringify(index));
console.error(`run_package: ${frames.length} frames through ${m.name} ${m.version} at ${H}x${W} -> ${out}`);
