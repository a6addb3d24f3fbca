// Verifies a model package with onnxruntime-node (the engine's runtime):
//   node training/verify_onnx.mjs PACKAGE_DIR [REF_DIR]
// - manifest sanity and sha256 of every file it names
// - loads model.onnx; the tail weights are graph inputs fed from tails.json
// - runs at every ladder size, at camera sizes 1280x720 and 640x360, with batch 1 and 2, and
//   checks every output's name, dtype and shape against the contract (models/README.md)
// - with REF_DIR (written by export.py --ref-out): compares with PyTorch's outputs on the same input
// Exit code 0 when everything passes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const [pkgDir, refDir] = process.argv.slice(2).map((p) => (p ? resolve(p) : p));
if (!pkgDir) {
  console.error('usage: node training/verify_onnx.mjs PACKAGE_DIR [REF_DIR]');
  process.exit(2);
}
let failures = 0;
const fail = (msg) => {
  failures += 1;
  console.error(`FAIL ${msg}`);
};
const ok = (msg) => console.log(`ok   ${msg}`);

const manifest = JSON.parse(readFileSync(join(pkgDir, 'manifest.json'), 'utf8'));
if (manifest.format !== 'adaptive-perception/model@1') fail(`format ${manifest.format}`);
for (const [file, hex] of Object.entries(manifest.sha256)) {
  const got = createHash('sha256').update(readFileSync(join(pkgDir, file))).digest('hex');
  if (got !== hex) fail(`sha256 ${file}`);
}
for (const f of Object.values(manifest.files)) if (!(f in manifest.sha256)) fail(`sha256 missing for ${f}`);
for (const [h, w] of manifest.input.sizes) if (h % 32 || w % 32) fail(`ladder size ${h}x${w} not a multiple of 32`);
ok(`manifest ${manifest.name} ${manifest.version}: sha256 checked, ladder ${JSON.stringify(manifest.input.sizes)}`);

const K = manifest.classes.length;
const sd = manifest.strides.det;
const ss = manifest.strides.seg;
const sdep = manifest.strides.depth;
const tails = JSON.parse(readFileSync(join(pkgDir, 'tails.json'), 'utf8'));
const tailFeeds = {};
for (const [head, spec] of Object.entries(manifest.tails)) {
  let cin = spec.in;
  spec.layers.forEach((layer, i) => {
    const k = layer.kernel ?? 1;
    for (const [name, shape] of [[`${head}_w${i}`, [layer.out, cin, k, k]], [`${head}_b${i}`, [layer.out]]]) {
      const t = tails[name];
      if (!t || JSON.stringify(t.shape) !== JSON.stringify(shape)) fail(`tail ${name} shape ${t && t.shape} != ${shape}`);
      tailFeeds[name] = new ort.Tensor('float32', Float32Array.from(t.data), shape);
    }
    cin = layer.out;
  });
}

const session = await ort.InferenceSession.create(join(pkgDir, manifest.files.model));
const wantInputs = ['image', 'size', ...Object.keys(tailFeeds)].sort();
if (JSON.stringify([...session.inputNames].sort()) !== JSON.stringify(wantInputs)) {
  fail(`inputs ${session.inputNames} != ${wantInputs}`);
}
if (JSON.stringify(session.outputNames) !== JSON.stringify(manifest.outputs)) {
  // order is not part of the contract, names are
  if (JSON.stringify([...session.outputNames].sort()) !== JSON.stringify([...manifest.outputs].sort())) {
    fail(`outputs ${session.outputNames} != ${manifest.outputs}`);
  }
}
ok(`loaded: inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')}`);

function expected(n, H, W) {
  const t = manifest.tails;
  return {
    det_heat: ['float32', [n, K, H / sd, W / sd]],
    det_box: ['float32', [n, 4, H / sd, W / sd]],
    seg_mask: ['uint8', [n, H, W]],
    seg_entropy: ['float32', [n]],
    depth: ['float32', [n, H, W]],
    det_feat: ['float32', [n, t.det.in, H / sd, W / sd]],
    seg_feat: ['float32', [n, t.seg.in, H / ss, W / ss]],
    depth_feat: ['float32', [n, t.depth.in, H / sdep, W / sdep]],
    feat_mean: ['float32', [n, manifest.feature_stats.mean.length || null]],
  };
}

async function run(image, n, hc, wc, size) {
  const feeds = {
    image: new ort.Tensor('uint8', image, [n, hc, wc, 3]),
    size: new ort.Tensor('int64', BigInt64Array.from(size.map(BigInt)), [2]),
    ...tailFeeds,
  };
  return session.run(feeds);
}

function checkShapes(out, n, H, W, label) {
  const exp = expected(n, H, W);
  for (const [name, [type, dims]] of Object.entries(exp)) {
    const t = out[name];
    if (!t) {
      fail(`${label}: missing ${name}`);
      continue;
    }
    const d = dims.map((v, i) => (v === null ? t.dims[i] : v));
    if (t.type !== type || JSON.stringify(t.dims) !== JSON.stringify(d)) {
      fail(`${label}: ${name} ${t.type}${JSON.stringify(t.dims)} != ${type}${JSON.stringify(d)}`);
    }
    if (t.type === 'float32' && !t.data.every(Number.isFinite)) fail(`${label}: ${name} has NaN/Inf`);
  }
  const heat = out.det_heat.data;
  if (heat.some((v) => v < 0 || v > 1)) fail(`${label}: det_heat outside 0..1`);
  const mask = out.seg_mask.data;
  if (mask.some((v) => v > 2)) fail(`${label}: seg_mask value > 2`);
  const { min_m: lo, max_m: hi } = manifest.depth;
  if (out.depth.data.some((v) => v < lo * 0.999 || v > hi * 1.001)) fail(`${label}: depth outside [${lo}, ${hi}]`);
}

// 1. shapes at every ladder size and camera size, batch 1 and 2
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
const cams = [...manifest.input.sizes.map(([h, w]) => [h, w]), [720, 1280], [360, 640]];
for (const [hc, wc] of cams) {
  for (const n of [1, 2]) {
    const img = new Uint8Array(n * hc * wc * 3);
    for (let i = 0; i < img.length; i += 1) img[i] = rand();
    for (const [H, W] of manifest.input.sizes) {
      const t0 = performance.now();
      const out = await run(img, n, hc, wc, [H, W]);
      const ms = performance.now() - t0;
      checkShapes(out, n, H, W, `camera ${wc}x${hc} batch ${n} size ${H}x${W}`);
      if (n === 2 && hc === 720) ok(`camera ${wc}x${hc} batch ${n} -> ${H}x${W}: shapes ok (${ms.toFixed(1)} ms)`);
    }
  }
}
ok(`shapes checked at ${cams.length} camera sizes x ${manifest.input.sizes.length} ladder sizes x batch 1,2`);

// 2. parity with PyTorch
if (refDir) {
  const index = JSON.parse(readFileSync(join(refDir, 'index.json'), 'utf8'));
  const ctor = { float32: Float32Array, uint8: Uint8Array };
  for (const r of index.runs) {
    // each run's own camera batch (export.py's reference_images), or one image for all runs
    const image = r.image ?? index.image;
    const [n, hc, wc] = image.shape;
    const img = new Uint8Array(readFileSync(join(refDir, image.file)));
    const out = await run(img, n, hc, wc, r.size);
    const label = `parity ${wc}x${hc} batch ${n} -> ${r.size.join('x')}`;
    const report = [];
    for (const [name, info] of Object.entries(r.outputs)) {
      const buf = readFileSync(join(refDir, info.file));
      const ref = new ctor[info.dtype](buf.buffer, buf.byteOffset, buf.byteLength / ctor[info.dtype].BYTES_PER_ELEMENT);
      let got = out[name].data;
      // a widened detection tail (training/widen_tail.py) appends a tap's channels to det_feat:
      // PyTorch's reference has the trunk's channels, which come first
      const tap = name === 'det_feat' ? manifest.tails.det.tap : undefined;
      if (tap && out[name].dims[1] === info.shape[1] + tap.channels) {
        const [bn, c, h, w] = out[name].dims;
        const keep = new Float32Array(bn * info.shape[1] * h * w);
        for (let b = 0; b < bn; b += 1) keep.set(got.subarray(b * c * h * w, (b * c + info.shape[1]) * h * w), b * info.shape[1] * h * w);
        got = keep;
        out[name] = { data: keep, dims: [bn, info.shape[1], h, w] };
      }
      if (got.length !== ref.length || JSON.stringify(out[name].dims) !== JSON.stringify(info.shape)) {
        fail(`${label}: ${name} shape ${out[name].dims} != ${info.shape}`);
        continue;
      }
      if (name === 'seg_mask') {
        let diff = 0;
        for (let i = 0; i < ref.length; i += 1) if (got[i] !== ref[i]) diff += 1;
        const frac = diff / ref.length;
        report.push(`seg_mask ${(frac * 100).toFixed(3)}% px differ`);
        if (frac > 0.002) fail(`${label}: seg_mask differs on ${(frac * 100).toFixed(3)}% of pixels`);
      } else if (name === 'det_heat') {
        // peak suppression is an equality test: a near-tie may flip, so compare peaks loosely
        let maxAbs = 0;
        let flips = 0;
        for (let i = 0; i < ref.length; i += 1) {
          const d = Math.abs(got[i] - ref[i]);
          if ((got[i] === 0) !== (ref[i] === 0)) flips += 1;
          else maxAbs = Math.max(maxAbs, d);
        }
        report.push(`det_heat max|d|=${maxAbs.toExponential(2)} peak flips=${flips}`);
        if (maxAbs > 1e-3 || flips > ref.length * 1e-3) fail(`${label}: det_heat max|d| ${maxAbs} flips ${flips}`);
      } else {
        let maxAbs = 0;
        let maxRef = 0;
        for (let i = 0; i < ref.length; i += 1) {
          maxAbs = Math.max(maxAbs, Math.abs(got[i] - ref[i]));
          maxRef = Math.max(maxRef, Math.abs(ref[i]));
        }
        const rel = maxAbs / Math.max(maxRef, 1e-6);
        report.push(`${name} ${rel.toExponential(1)}`);
        if (rel > 2e-3) fail(`${label}: ${name} max|d|/max|ref| = ${rel}`);
      }
    }
    ok(`${label}: ${report.join(', ')}`);
  }
}

if (failures) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('verify_onnx: all checks passed');
