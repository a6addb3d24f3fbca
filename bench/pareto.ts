/**
 * The latency–accuracy Pareto front on this machine: input size × precision × width.
 *
 *   npm run -s pareto [-- --model DIR] [--widths 0.75,0.5] [--steps 300] [--batch 8] [--kd 1] [--scratch]
 *                     [--no-train] [--all-cached] [--precisions fp32,int8] [--heldout 20] [--rounds 30]
 *                     [--out DIR] [--json]
 *
 * Candidates: the teacher package (width 1) and its students (training/compress/: width
 * multiplier, distilled from the teacher; trained once and cached, `--no-train` uses only
 * cached ones); each at every size of its ladder, in FP32 and INT8 (`adaptive-perception
 * quantize`'s defaults, cached in bench/.cache/int8/). Per row: the median `session.run` of one
 * 1280x720 camera frame (the benchmark's bag, default thread count, every candidate timed
 * round-robin in this one process so that all see the same load), and the metrics on
 * held-out frames (bench/eval-frames.ts; day, dusk, fog). A row is on the front when no other
 * row is at least as fast and at least as accurate (score = mean of mAP@0.5, lane IoU,
 * drivable IoU, δ<1.25 and 1 − AbsRel) with one of them strictly. Prints a table (or JSON)
 * and writes OUT/pareto.html (a plot) and OUT/pareto.json; progress on stderr.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { evaluatePackage, type Metrics } from '../src/compress/evaluate.js';
import { markFront, score } from '../src/compress/front.js';
import type { InputSize, Manifest } from '../src/model/manifest.js';
import { loadModelPackage } from '../src/model/package.js';
import { ensureStudent, neckOf, ROOT, studentLabel, trainedSpecs, type StudentSpec } from '../training/compress/students.js';
import { HELDOUT_SEED, heldoutFrames } from './eval-frames.js';
import { CACHE, ensureBag, loadImages } from './frames.js';
import { packageWithInt8 } from './int8.js';
import type { Image } from '../src/msgs/index.js';
import { servingGraph } from '../src/engine/narrow-tail.js';

export interface ParetoRow {
  candidate: string;
  width: number;
  gmac: number | null;
  input: InputSize;
  precision: 'fp32' | 'int8';
  /** Median session.run wall time (the front's axis). */
  ms: number;
  /** Median process CPU time of the same runs (all threads): less moved by other jobs. */
  cpu_ms: number;
  metrics: Metrics;
  score: number;
  front: boolean;
}

export interface Candidate {
  name: string;
  dir: string;
  width: number;
  spec?: StudentSpec;
}

export interface ParetoOptions {
  modelDir: string;
  /** The students (the teacher, `modelDir`, is always a candidate). */
  students: readonly Candidate[];
  precisions: readonly ('fp32' | 'int8')[];
  heldoutPerDomain: number;
  rounds: number;
  images: readonly Image[];
  log?: (l: string) => void;
}

const med = (a: readonly number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const r3 = (v: number) => Math.round(v * 1000) / 1000;

export async function paretoFigures(o: ParetoOptions): Promise<{ rows: ParetoRow[]; candidates: Record<string, unknown>[]; loadavg_1m: [number, number] }> {
  const log = o.log ?? (() => {});
  const load0 = os.loadavg()[0];
  const cands: Candidate[] = [{ name: 'teacher', dir: o.modelDir, width: 1 }, ...o.students];
  // Each candidate's package with an int8 variant beside fp32 (built once, cached).
  const dirs = new Map<string, string>();
  for (const c of cands) dirs.set(c.name, o.precisions.includes('int8') ? await packageWithInt8(c.dir, 16, log) : c.dir);

  // Timing: every (candidate, precision) session open at once, sizes in turn, round-robin.
  const { width: Wc, height: Hc } = o.images[0];
  const bytes = Wc * Hc * 3;
  const timed = new Map<string, number>();
  const cpuTimed = new Map<string, number>();
  ort.env.logLevel = 'error';
  const sessions: { key: string; c: (typeof cands)[number]; precision: 'fp32' | 'int8'; s: ort.InferenceSession; feeds: Record<string, ort.Tensor>; sizes: readonly InputSize[] }[] = [];
  for (const c of cands) {
    for (const precision of o.precisions) {
      const pkg = await loadModelPackage(dirs.get(c.name) as string, { precision });
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of pkg.tails) feeds[name] = new ort.Tensor('float32', t.data, [...t.shape]);
      // the graph the engine runs for the shipped weights (a widened det tail's narrow copy)
      const graph = servingGraph(pkg.modelPath, pkg.manifest, pkg.tails, ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth', 'feat_mean']);
      const so: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
      const s = typeof graph === 'string' ? await ort.InferenceSession.create(graph, so) : await ort.InferenceSession.create(graph, so);
      sessions.push({ key: `${c.name}/${precision}`, c, precision, s, feeds, sizes: pkg.manifest.input.sizes });
    }
  }
  const frames = o.images.slice(0, 8).map((img) => new ort.Tensor('uint8', img.data.subarray(0, bytes), [1, Hc, Wc, 3]));
  const fetches = ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth', 'feat_mean'];
  const allSizes = [...new Map(sessions.flatMap((x) => x.sizes.map((s) => [`${s[0]}x${s[1]}`, s] as const))).values()];
  for (const size of allSizes) {
    const here = sessions.filter((x) => x.sizes.some((s) => s[0] === size[0] && s[1] === size[1]));
    const sz = new ort.Tensor('int64', BigInt64Array.of(BigInt(size[0]), BigInt(size[1])), [2]);
    const t: number[][] = here.map(() => []);
    const c: number[][] = here.map(() => []);
    for (const x of here) for (let w = 0; w < 3; w++) await x.s.run({ ...x.feeds, size: sz, image: frames[0] }, fetches);
    for (let r = 0; r < o.rounds; r++) {
      for (let j = 0; j < here.length; j++) {
        const k = (j + r) % here.length;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await here[k].s.run({ ...here[k].feeds, size: sz, image: frames[r % frames.length] }, fetches);
        t[k].push(performance.now() - t0);
        const cu = process.cpuUsage(c0);
        c[k].push((cu.user + cu.system) / 1000);
      }
    }
    here.forEach((x, k) => {
      timed.set(`${x.key}@${size[0]}x${size[1]}`, r3(med(t[k])));
      cpuTimed.set(`${x.key}@${size[0]}x${size[1]}`, r3(med(c[k])));
    });
    log(`pareto: timed ${here.length} variants at ${size[0]}x${size[1]} (${o.rounds} rounds, load ${os.loadavg()[0].toFixed(1)})`);
  }
  for (const x of sessions) await x.s.release();

  const held = await heldoutFrames(o.heldoutPerDomain, log);
  // Metrics are deterministic for a graph, a size and a held-out set: cached by the graph's sha256.
  const cacheFile = join(CACHE, 'pareto', 'metrics-cache.json');
  const cache: Record<string, Metrics> = existsSync(cacheFile) ? (JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, Metrics>) : {};
  const rows: ParetoRow[] = [];
  for (const x of sessions) {
    const manifest = JSON.parse(readFileSync(join(dirs.get(x.c.name) as string, 'manifest.json'), 'utf8')) as Manifest & { training?: { gmac?: number } };
    const file = x.precision === 'fp32' ? manifest.files.model : (manifest.precisions?.variants[x.precision]?.file as string);
    for (const size of x.sizes) {
      // "grid-top": dense metrics on the full-size grid (scoreFrame's grid); keys without it are the older rule.
      const key = `${manifest.sha256[file]}@${size[0]}x${size[1]}/heldout-${HELDOUT_SEED}x${o.heldoutPerDomain}/grid-top`;
      let metrics = cache[key];
      if (!metrics) {
        log(`pareto: scoring ${x.key} at ${size[0]}x${size[1]} on ${held.length} held-out frames`);
        metrics = await evaluatePackage(dirs.get(x.c.name) as string, x.precision, held, size);
        cache[key] = metrics;
        mkdirSync(join(CACHE, 'pareto'), { recursive: true });
        writeFileSync(cacheFile, JSON.stringify(cache, null, 1));
      }
      rows.push({ candidate: x.c.name, width: x.c.width, gmac: manifest.training?.gmac ?? null, input: size, precision: x.precision, ms: timed.get(`${x.key}@${size[0]}x${size[1]}`) as number, cpu_ms: cpuTimed.get(`${x.key}@${size[0]}x${size[1]}`) as number, metrics, score: score(metrics), front: false });
    }
  }
  markFront(rows);
  rows.sort((a, b) => a.ms - b.ms);
  const candidates = cands.map((c) => ({ name: c.name, dir: relative(ROOT, c.dir), width: c.width, ...(c.spec ? { neck: neckOf(c.spec), steps: c.spec.steps, batch: c.spec.batch, kd: c.spec.kd } : {}) }));
  return { rows, candidates, loadavg_1m: [Math.round(load0 * 100) / 100, Math.round(os.loadavg()[0] * 100) / 100] };
}

export function paretoTable(rows: readonly ParetoRow[]): string {
  const head = ['front', 'candidate', 'width', 'input', 'precision', 'ms', 'cpu ms', 'mAP@0.5', 'lane IoU', 'drivable IoU', 'AbsRel', 'δ<1.25', 'score'];
  const f = (v: number | null) => (v === null ? '-' : v.toFixed(3));
  const body = rows.map((r) => [r.front ? '*' : '', r.candidate, String(r.width), `${r.input[0]}x${r.input[1]}`, r.precision, r.ms.toFixed(2), r.cpu_ms.toFixed(2), f(r.metrics.det_map50), f(r.metrics.lane_iou), f(r.metrics.drivable_iou), f(r.metrics.depth_absrel), f(r.metrics.depth_delta1), r.score.toFixed(3)]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body].map((r) => r.map((c, i) => c.padEnd(w[i])).join('  ')).join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function paretoHtml(rows: readonly ParetoRow[], meta: Record<string, unknown>): string {
  const W = 760;
  const H = 440;
  const pad = 56;
  const xs = rows.map((r) => r.ms);
  const ys = rows.map((r) => r.score);
  const [x0, x1] = [Math.min(...xs) * 0.9, Math.max(...xs) * 1.05];
  const [y0, y1] = [Math.min(...ys) - 0.02, Math.max(...ys) + 0.02];
  const X = (v: number) => pad + ((v - x0) / (x1 - x0 || 1)) * (W - 2 * pad);
  const Y = (v: number) => H - pad - ((v - y0) / (y1 - y0 || 1)) * (H - 2 * pad);
  const colour: Record<string, string> = { fp32: '#1f77b4', int8: '#d62728' };
  const front = rows.filter((r) => r.front).sort((a, b) => a.ms - b.ms);
  const dots = rows
    .map((r) => `<circle cx="${X(r.ms).toFixed(1)}" cy="${Y(r.score).toFixed(1)}" r="${r.front ? 6 : 4}" fill="${colour[r.precision]}" fill-opacity="${r.front ? 1 : 0.45}"><title>${esc(`${r.candidate} ${r.input[0]}x${r.input[1]} ${r.precision}: ${r.ms} ms, score ${r.score}`)}</title></circle><text x="${(X(r.ms) + 7).toFixed(1)}" y="${(Y(r.score) - 5).toFixed(1)}" font-size="10">${esc(`${r.candidate} ${r.input[0]}`)}</text>`)
    .join('\n');
  const line = front.map((r, i) => `${i ? 'L' : 'M'}${X(r.ms).toFixed(1)},${Y(r.score).toFixed(1)}`).join(' ');
  const ticks = Array.from({ length: 6 }, (_, i) => x0 + ((x1 - x0) * i) / 5)
    .map((v) => `<text x="${X(v).toFixed(1)}" y="${H - pad + 16}" font-size="10" text-anchor="middle">${v.toFixed(1)}</text>`)
    .join('') + Array.from({ length: 6 }, (_, i) => y0 + ((y1 - y0) * i) / 5).map((v) => `<text x="${pad - 6}" y="${Y(v).toFixed(1)}" font-size="10" text-anchor="end">${v.toFixed(3)}</text>`).join('');
  const table = `<table border="1" cellspacing="0" cellpadding="3"><tr>${['front', 'candidate', 'width', 'input', 'precision', 'ms', 'mAP@0.5', 'lane IoU', 'drivable IoU', 'AbsRel', 'δ<1.25', 'score'].map((h) => `<th>${h}</th>`).join('')}</tr>${rows
    .map((r) => `<tr${r.front ? ' style="font-weight:bold"' : ''}><td>${r.front ? '★' : ''}</td><td>${esc(r.candidate)}</td><td>${r.width}</td><td>${r.input[0]}x${r.input[1]}</td><td>${r.precision}</td><td>${r.ms}</td>${[r.metrics.det_map50, r.metrics.lane_iou, r.metrics.drivable_iou, r.metrics.depth_absrel, r.metrics.depth_delta1].map((v) => `<td>${v ?? '-'}</td>`).join('')}<td>${r.score}</td></tr>`)
    .join('')}</table>`;
  return `<!doctype html><meta charset="utf-8"><title>Latency–accuracy Pareto front</title>
<style>body{font-family:sans-serif;margin:24px}td,th{font-size:12px}</style>
<h1>Latency–accuracy Pareto front</h1>
<p>x: median <code>session.run</code> of one 1280×720 frame (ms, this machine); y: score = mean of mAP@0.5, lane IoU, drivable IoU, δ&lt;1.25, 1−AbsRel on held-out frames. Blue FP32, red INT8; large dots and the line: the front.</p>
<svg width="${W}" height="${H}" style="border:1px solid #ccc"><line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#000"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#000"/>${ticks}<text x="${W / 2}" y="${H - 16}" text-anchor="middle" font-size="12">ms per frame</text><text x="14" y="${H / 2}" font-size="12" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">score</text><path d="${line}" fill="none" stroke="#555" stroke-dasharray="4 3"/>${dots}</svg>
${table}
<pre>${esc(JSON.stringify(meta, null, 2))}</pre>`;
}

async function main() {
  const argv = process.argv.slice(2);
  const val = (k: string, d: string) => {
    const i = argv.indexOf(k);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : d;
  };
  if (argv.includes('--help')) {
    process.stdout.write('usage: npm run -s pareto -- [--model DIR] [--widths 0.75,0.5] [--steps 300] [--batch 8] [--kd 1] [--scratch] [--no-train] [--all-cached] [--precisions fp32,int8] [--heldout 20] [--rounds 30] [--out DIR] [--json]\n');
    return;
  }
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const bag = await ensureBag({ cameras: ['front'], frames: 60, seed: 4242, width: 1280, height: 720, rateHz: 30 }, log);
  const images = await loadImages(bag, 8);
  const widths = val('--widths', '0.75,0.5').split(',').filter(Boolean).map(Number);
  for (const w of widths) if (!(w > 0 && w <= 2)) throw new Error(`--widths: ${w} is not a width multiplier in (0, 2]`);
  const precisions = val('--precisions', 'fp32,int8').split(',') as ('fp32' | 'int8')[];
  for (const p of precisions) if (p !== 'fp32' && p !== 'int8') throw new Error(`--precisions: '${p}' is not fp32 or int8`);
  const modelDir = resolve(val('--model', 'models/default'));
  const students: Candidate[] = [];
  for (const width of widths) {
    const spec: StudentSpec = { width, steps: Number(val('--steps', '300')), batch: Number(val('--batch', '8')), kd: Number(val('--kd', '1')), init: argv.includes('--scratch') ? 'scratch' : 'auto' };
    const dir = await ensureStudent({ teacherDir: modelDir, spec, train: !argv.includes('--no-train'), log });
    if (dir) students.push({ name: studentLabel(spec), dir, width, spec });
    else log(`pareto: no cached student of width ${width} (${spec.steps} steps); run without --no-train to train it`);
  }
  // --all-cached: every student already built for this teacher (other widths, kd 0, scratch).
  if (argv.includes('--all-cached')) {
    for (const spec of trainedSpecs(modelDir)) {
      const dir = await ensureStudent({ teacherDir: modelDir, spec, train: false, log });
      if (dir && !students.some((s) => s.dir === dir)) students.push({ name: studentLabel(spec), dir, width: spec.width, spec });
    }
  }
  const opts: ParetoOptions = {
    modelDir,
    students,
    precisions,
    heldoutPerDomain: Number(val('--heldout', '20')),
    rounds: Number(val('--rounds', '30')),
    images,
    log,
  };
  const t0 = performance.now();
  const r = await paretoFigures(opts);
  const meta = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg_1m: r.loadavg_1m },
    model: relative(ROOT, opts.modelDir),
    candidates: r.candidates,
    heldout_frames: opts.heldoutPerDomain * 3,
    rounds: opts.rounds,
    wall_s: Math.round((performance.now() - t0) / 100) / 10,
  };
  const out = resolve(val('--out', join(CACHE, 'pareto')));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'pareto.json'), `${JSON.stringify({ ...meta, rows: r.rows }, null, 2)}\n`);
  writeFileSync(join(out, 'pareto.html'), paretoHtml(r.rows, meta));
  log(`pareto: wrote ${join(out, 'pareto.html')} and pareto.json`);
  process.stdout.write(argv.includes('--json') ? `${JSON.stringify({ ...meta, rows: r.rows }, null, 2)}\n` : `${paretoTable(r.rows)}\n(load ${r.loadavg_1m[0]} -> ${r.loadavg_1m[1]}; report ${relative(ROOT, join(out, 'pareto.html'))})\n`);
}

if (process.argv[1]?.endsWith('bench/pareto.ts')) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
