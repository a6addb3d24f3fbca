/**
 * Fits a package's `depth.focal` (src/pipeline/depth-focal.ts) and shows what it buys.
 *
 * Renders synthetic drives across fields of view (the `camshift` domain's 55–65° and 110–125°
 * lenses, `day`'s 80–100°), replays each with the package's depth as is, and fits
 *   median(ground truth ÷ model depth) = (camera fx/width ÷ fx_over_width) ^ exponent
 * in log–log space over the fitting seeds (640×360 frames: the focal states that shape as
 * `aspect`). Then replays other seeds with the fitted focal and without, and drives of other
 * shapes (KITTI's 1242×375, comma's 1164×874, 4:3) with the focal read both ways — fx/width
 * alone, and the vertical focal against the fitted shape (src/pipeline/depth-focal.ts) — and
 * prints depth AbsRel and δ<1.25 side by side. The camera's height: day drives at 0.6–2.4 m (their
 * /tf_static says where the camera is) fit `camera_height_m` (the training rig's 1.5 m) and
 * `height_exponent`; drives at other heights show depth with and without it. Deterministic for
 * a seed list.
 *
 *   npx tsx bench/depth-focal.ts [--model DIR] [--frames N] [--json] [--write]
 *
 * --write stores the fitted focal in DIR/manifest.json (training/build.sh does, for a full build).
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openBag } from '../src/bag/reader.js';
import type { CameraInfo, Image } from '../src/msgs/index.js';
import { floatPixels } from '../src/pipeline/messages.js';
import { replay } from '../src/replay/replay.js';
import { writeSimBag } from '../src/sim/bag-writer.js';
import type { Domain as DomainName } from '../src/sim/domains.js';
import type { CameraOverride } from '../src/sim/simulation.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default' },
    frames: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
  },
});
const frames = Number(args.frames);
const FIT: [DomainName, number][] = [['camshift', 11], ['camshift', 12], ['camshift', 13], ['camshift', 14], ['camshift', 15], ['camshift', 16], ['day', 11], ['day', 12], ['day', 13]];
const HELD_OUT: [DomainName, number][] = [['camshift', 21], ['camshift', 22], ['camshift', 23], ['camshift', 24], ['day', 21], ['night', 22]];
const FIT_SIZE = { width: 640, height: 360 };
/** The training drives' camera height (the sim's day rig: src/sim/camera.ts rigMount), and the heights the height rule is fitted on. */
const TRAINING_CAMERA_HEIGHT_M = 1.5;
const FIT_HEIGHTS_M = [0.6, 0.9, 1.2, 1.5, 2.0, 2.4];
const FIT_HFOV = (81 * Math.PI) / 180;
/** Day drives at heights the fit has not seen: depth with the height rule and without. */
const HELD_OUT_HEIGHTS: { seed: number; height: number }[] = [
  { seed: 61, height: 0.5 },
  { seed: 62, height: 0.8 },
  { seed: 63, height: 2.2 },
];
/** Day drives through cameras of other shapes (the day's mount and pitch, this lens). */
const SHAPES: { name: string; seed: number; width: number; height: number; hfovDeg: number }[] = [
  { name: 'KITTI-shaped', seed: 31, width: 1242, height: 375, hfovDeg: 81 },
  { name: 'comma-shaped', seed: 32, width: 1164, height: 874, hfovDeg: 65 },
  { name: '4:3', seed: 33, width: 640, height: 480, hfovDeg: 81 },
  { name: '16:10', seed: 34, width: 960, height: 600, hfovDeg: 90 },
];
const say = (line: string) => process.stderr.write(`${line}\n`);

const dir = await mkdtemp(join(tmpdir(), 'depth-focal-'));
try {
  // The package twice: its depth as is (no focal), and with a focal to fill in after the fit.
  const asIs = join(dir, 'as-is');
  const fitted = join(dir, 'fitted');
  await cp(resolve(args.model), asIs, { recursive: true });
  const manifest = JSON.parse(await readFile(join(asIs, 'manifest.json'), 'utf8'));
  if (manifest.depth?.focal) say(`${args.model} states depth.focal ${JSON.stringify(manifest.depth.focal)}: fitting without it`);
  delete manifest.depth?.focal;
  await writeFile(join(asIs, 'manifest.json'), JSON.stringify(manifest, null, 2));

  const points: { bag: string; fxw: number; ratio: number }[] = [];
  for (const [domain, seed] of FIT) {
    const bag = await render(domain, seed);
    const r = await medianRatio(bag, asIs);
    points.push({ bag: `${domain}/${seed}`, ...r });
    say(`fit ${domain} seed ${seed}: fx/width ${r.fxw.toFixed(3)}, truth ÷ model ${r.ratio.toFixed(3)}`);
  }
  // Least squares: ln ratio = exponent × (ln fxw − ln ref).
  const xs = points.map((p) => Math.log(p.fxw));
  const ys = points.map((p) => Math.log(p.ratio));
  const mx = mean(xs);
  const my = mean(ys);
  const exponent = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  const ref = Math.exp(mx - my / exponent);
  const lens = { fx_over_width: round(ref, 3), exponent: round(exponent, 2), aspect: round(FIT_SIZE.width / FIT_SIZE.height, 4) };
  // The camera's height: day drives through one lens at other heights (their TF says where the
  // camera is), the lens rule's factor divided out; ln residual = a + e × ln(height ÷ 1.5 m).
  const heightPoints: { height_m: number; ratio: number; residual: number }[] = [];
  for (const [i, h] of FIT_HEIGHTS_M.entries()) {
    const bag = await render('day', 51 + i, FIT_SIZE, { hfov: FIT_HFOV, height: h });
    const r = await medianRatio(bag, asIs);
    const residual = r.ratio / Math.pow(r.fxw / lens.fx_over_width, lens.exponent);
    heightPoints.push({ height_m: h, ratio: round(r.ratio, 3), residual: round(residual, 3) });
    say(`fit height ${h} m: truth ÷ model ${r.ratio.toFixed(3)}, after the lens rule ${residual.toFixed(3)}`);
  }
  const hx = heightPoints.map((p) => Math.log(p.height_m / TRAINING_CAMERA_HEIGHT_M));
  const hy = heightPoints.map((p) => Math.log(p.residual));
  const heightExponent = hx.reduce((a, x, i) => a + (x - mean(hx)) * (hy[i] - mean(hy)), 0) / hx.reduce((a, x) => a + (x - mean(hx)) ** 2, 0);
  const focal = { ...lens, camera_height_m: TRAINING_CAMERA_HEIGHT_M, height_exponent: round(heightExponent, 2) };
  say(`fitted depth.focal ${JSON.stringify(focal)}`);
  if (args.write) {
    const file = join(resolve(args.model), 'manifest.json');
    const own = JSON.parse(await readFile(file, 'utf8'));
    own.depth = { ...own.depth, focal: { ...own.depth?.focal, ...focal } };
    await writeFile(file, `${JSON.stringify(own, null, 2)}\n`);
    say(`wrote depth.focal to ${file}`);
  }

  await cp(asIs, fitted, { recursive: true });
  await writeFile(join(fitted, 'manifest.json'), JSON.stringify({ ...manifest, depth: { ...manifest.depth, focal } }, null, 2));
  const rows: { bag: string; fxw: number; absrel_as_is: number; absrel_focal: number; delta1_as_is: number; delta1_focal: number }[] = [];
  for (const [domain, seed] of HELD_OUT) {
    const bag = await render(domain, seed);
    const a = await metrics(bag, asIs);
    const f = await metrics(bag, fitted);
    const fxw = (await cameraInfo(bag)).fxw;
    rows.push({ bag: `${domain}/${seed}`, fxw: round(fxw, 3), absrel_as_is: a.absrel, absrel_focal: f.absrel, delta1_as_is: a.delta1, delta1_focal: f.delta1 });
    say(`held out ${domain} seed ${seed} (fx/width ${fxw.toFixed(3)}): AbsRel ${a.absrel.toFixed(3)} → ${f.absrel.toFixed(3)}, δ<1.25 ${a.delta1.toFixed(3)} → ${f.delta1.toFixed(3)}`);
  }
  // The same focal without its shape: fx/width alone, as packages that state no aspect are read.
  const fxOnly = join(dir, 'fx-only');
  await cp(asIs, fxOnly, { recursive: true });
  const { aspect: _shape, ...noAspect } = focal;
  await writeFile(join(fxOnly, 'manifest.json'), JSON.stringify({ ...manifest, depth: { ...manifest.depth, focal: noAspect } }, null, 2));
  const noHeight = join(dir, 'no-height');
  await cp(asIs, noHeight, { recursive: true });
  const { camera_height_m: _h, height_exponent: _e, ...lensOnly } = focal;
  await writeFile(join(noHeight, 'manifest.json'), JSON.stringify({ ...manifest, depth: { ...manifest.depth, focal: lensOnly } }, null, 2));
  const heights: { drive: string; height_m: number; absrel: { lens_only: number; with_height: number }; delta1: { lens_only: number; with_height: number } }[] = [];
  for (const h of HELD_OUT_HEIGHTS) {
    const bag = await render('day', h.seed, FIT_SIZE, { hfov: FIT_HFOV, height: h.height });
    const [l, w] = [await metrics(bag, noHeight), await metrics(bag, fitted)];
    heights.push({ drive: `day/${h.seed}`, height_m: h.height, absrel: { lens_only: l.absrel, with_height: w.absrel }, delta1: { lens_only: l.delta1, with_height: w.delta1 } });
    say(`camera at ${h.height} m, day seed ${h.seed}: AbsRel ${l.absrel.toFixed(3)} → ${w.absrel.toFixed(3)}, δ<1.25 ${l.delta1.toFixed(3)} → ${w.delta1.toFixed(3)}`);
  }
  const shapes: { drive: string; size: string; fxw: number; fyh: number; absrel: { as_is: number; fx_only: number; fy_aspect: number }; delta1: { as_is: number; fx_only: number; fy_aspect: number } }[] = [];
  for (const s of SHAPES) {
    const bag = await render('day', s.seed, s, { hfov: (s.hfovDeg * Math.PI) / 180 });
    const { fxw, fyh } = await cameraInfo(bag);
    const [a, x, f] = [await metrics(bag, asIs), await metrics(bag, fxOnly), await metrics(bag, fitted)];
    shapes.push({ drive: `${s.name} day/${s.seed}`, size: `${s.width}x${s.height}`, fxw: round(fxw, 3), fyh: round(fyh, 3), absrel: { as_is: a.absrel, fx_only: x.absrel, fy_aspect: f.absrel }, delta1: { as_is: a.delta1, fx_only: x.delta1, fy_aspect: f.delta1 } });
    say(`${s.name} ${s.width}x${s.height} (fx/width ${fxw.toFixed(3)}, fy/height ${fyh.toFixed(3)}): AbsRel ${a.absrel.toFixed(3)} / fx ${x.absrel.toFixed(3)} / fy ${f.absrel.toFixed(3)}, δ<1.25 ${a.delta1.toFixed(3)} / ${x.delta1.toFixed(3)} / ${f.delta1.toFixed(3)}`);
  }
  const result = { date: new Date().toISOString().slice(0, 10), model: args.model, frames, focal, fit: points, fit_heights: heightPoints, held_out: rows, heights, shapes };
  if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    console.log(`depth.focal for ${args.model}: ${JSON.stringify(focal)} (fit on ${points.length} drives of ${frames} frames)`);
    console.log('| held-out drive | fx/width | AbsRel as is | AbsRel with focal | δ<1.25 as is | δ<1.25 with focal |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.bag} | ${r.fxw} | ${r.absrel_as_is.toFixed(3)} | ${r.absrel_focal.toFixed(3)} | ${r.delta1_as_is.toFixed(3)} | ${r.delta1_focal.toFixed(3)} |`);
    console.log('');
    console.log('| other shapes | size | fx/width | fy/height | AbsRel as is / fx/width rule / fy rule | δ<1.25 as is / fx/width rule / fy rule |');
    console.log('|---|---|---|---|---|---|');
    const three = (v: { as_is: number; fx_only: number; fy_aspect: number }) => `${v.as_is.toFixed(3)} / ${v.fx_only.toFixed(3)} / ${v.fy_aspect.toFixed(3)}`;
    for (const r of shapes) console.log(`| ${r.drive} | ${r.size} | ${r.fxw} | ${r.fyh} | ${three(r.absrel)} | ${three(r.delta1)} |`);
    console.log('');
    console.log('| camera height | drive | AbsRel lens rule / with the height | δ<1.25 lens rule / with the height |');
    console.log('|---|---|---|---|');
    for (const r of heights) console.log(`| ${r.height_m} m | ${r.drive} | ${r.absrel.lens_only.toFixed(3)} / ${r.absrel.with_height.toFixed(3)} | ${r.delta1.lens_only.toFixed(3)} / ${r.delta1.with_height.toFixed(3)} |`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

async function render(domain: DomainName, seed: number, size = FIT_SIZE, camera?: CameraOverride): Promise<string> {
  const out = join(dir, `${domain}-${seed}-${size.width}x${size.height}-${camera?.height ?? ''}.mcap`);
  await writeSimBag({ out, domain, frames, seed, cameras: ['front'], width: size.width, height: size.height, rateHz: 10, compressed: true, jpegQuality: 85, gtScale: 4, ...(camera ? { camera } : {}) });
  return out;
}

async function cameraInfo(bag: string): Promise<{ fxw: number; fyh: number }> {
  const r = await openBag(bag);
  try {
    for await (const m of r.messages({ topics: ['/front/camera_info'] })) {
      const info = m.msg as CameraInfo;
      return { fxw: info.k[0] / info.width, fyh: info.k[4] / info.height };
    }
  } finally {
    await r.close();
  }
  throw new Error(`${bag} has no /front/camera_info`);
}

async function replayDepth(bag: string, model: string): Promise<{ out: string; absrel: number; delta1: number }> {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const s = await replay({ bag, modelDir: model, outDir: out, providers: ['cpu'], fast: true });
  return { out, absrel: s.metrics.depth_absrel ?? NaN, delta1: s.metrics.depth_delta1 ?? NaN };
}

async function metrics(bag: string, model: string) {
  const { absrel, delta1 } = await replayDepth(bag, model);
  return { absrel, delta1 };
}

/** Median over frames of the per-frame median ratio truth ÷ model depth (1–60 m, sky excluded). */
async function medianRatio(bag: string, model: string): Promise<{ fxw: number; ratio: number }> {
  const { out } = await replayDepth(bag, model);
  const truth = new Map<string, Image>();
  const input = await openBag(bag);
  for await (const m of input.messages({ topics: ['/gt/front/depth'] })) truth.set(JSON.stringify((m.msg as Image).header.stamp), m.msg as Image);
  await input.close();
  const results = await openBag(join(out, 'results.mcap'));
  const perFrame: number[] = [];
  for await (const m of results.messages({ topics: ['/front/perception/depth'] })) {
    const p = m.msg as Image;
    const g = truth.get(JSON.stringify(p.header.stamp));
    if (!g) continue;
    const pd = floatPixels(p);
    const gd = floatPixels(g);
    const r: number[] = [];
    for (let y = 0; y < g.height; y++) {
      for (let x = 0; x < g.width; x++) {
        const t = gd[y * g.width + x];
        if (!(t > 1 && t < 60)) continue;
        const v = pd[Math.min(p.height - 1, Math.floor(((y + 0.5) / g.height) * p.height)) * p.width + Math.min(p.width - 1, Math.floor(((x + 0.5) / g.width) * p.width))];
        if (v > 0) r.push(t / v);
      }
    }
    if (r.length > 0) perFrame.push(median(r));
  }
  await results.close();
  return { fxw: (await cameraInfo(bag)).fxw, ratio: median(perFrame) };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1];
}
function mean(v: number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}
function round(v: number, digits: number): number {
  return Number(v.toFixed(digits));
}
