/**
 * A package teacher's dense labels against the student it would teach, per domain: lane IoU and
 * depth AbsRel of the student (the package being adapted, replay's scoring) and of the teacher,
 * plain and with mirror agreement (the pixels the mirrored run agrees on; their share "kept").
 * Prints figures; asserts nothing. Run:
 *   npx tsx bench/teacher-dense.ts [--student models/default] [--teacher models/candidates/real]
 *     [--domains day,night,rain,camshift] [--seeds 99,4711,9001] [--frames 60] [--out /tmp/teacher-dense]
 * Bags: 640x360 JPEG (q85), front camera, 1 Hz, rendered by the sim's code into --out and reused.
 * The day rows are the teacher's check on a training domain; the others are shifts it would label.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSimBag } from '../src/sim/bag-writer.js';
import { readLabelledFrames } from '../src/compress/frames.js';
import { Engine } from '../src/engine/engine.js';
import { evaluateEngine } from '../src/compress/evaluate.js';
import { segTargets } from '../src/adaptation/learner/targets.js';
import { Teacher } from '../src/adaptation/learner/teacher/teacher.js';
import type { Domain } from '../src/sim/index.js';
import { DepthEvaluator } from '../src/eval/depth.js';
import { DEPTH_EVAL_MAX_M } from '../src/replay/scoring.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
const student = args.get('student') ?? 'models/default';
const teacherDir = args.get('teacher');
const domains = (args.get('domains') ?? 'day,night,rain,camshift').split(',') as Domain[];
const seeds = (args.get('seeds') ?? '99,4711,9001').split(',').map(Number);
const n = Number(args.get('frames') ?? 60);
const out = args.get('out') ?? '/tmp/teacher-dense';
await mkdir(out, { recursive: true });

const engine = await Engine.create({ modelDir: student, providers: ['cpu'] });
const teachers = {
  plain: await Teacher.create({ model: 'package', heads: ['seg', 'depth'], flip: false, ...(teacherDir ? { weights: teacherDir } : {}) }),
  flip: await Teacher.create({ model: 'package', heads: ['seg', 'depth'], flip: true, ...(teacherDir ? { weights: teacherDir } : {}) }),
};
const f3 = (v: number | null) => (v === null || !Number.isFinite(v) ? '  -  ' : v.toFixed(3));
console.log(`student ${student}, teacher ${teachers.plain.description}; ${n} frames a drive`);
console.log('domain    seed  | student lane  absrel | teacher lane  absrel | mirror-agreed lane  absrel  kept (lane, depth)');
for (const seed of seeds) {
  for (const d of domains) {
    const file = join(out, `${d}-${seed}-${n}.mcap`);
    if (!existsSync(file)) await writeSimBag({ out: file, domain: d, frames: n, seed, cameras: ['front'], width: 640, height: 360, rateHz: 1, compressed: true, jpegQuality: 85, gtScale: 4 });
    const frames = await readLabelledFrames([file], n);
    const s = await evaluateEngine(engine, frames);
    const row: Record<string, { i: number; u: number; dep: DepthEvaluator; kept: number; all: number; keptD: number; allD: number }> = {};
    for (const [name, t] of Object.entries(teachers)) {
      const r = (row[name] = { i: 0, u: 0, dep: new DepthEvaluator({ maxDepth: DEPTH_EVAL_MAX_M }), kept: 0, all: 0, keptD: 0, allD: 0 });
      for (const f of frames) {
        const { lane, depth } = await t.label({ rgb: f.image.data, width: f.image.width, height: f.image.height });
        const tl = f.truth.lane as { width: number; height: number; data: Uint8Array } | undefined;
        if (lane && tl) {
          const g = segTargets(tl, lane.height, lane.width);
          for (let k = 0; k < g.length; k++) {
            if (g[k] === 255) continue;
            r.all++;
            if (lane.data[k] === 255) continue;
            r.kept++;
            const p = lane.data[k] === 1, q = g[k] === 1;
            if (p && q) r.i++;
            if (p || q) r.u++;
          }
        }
        const td = f.truth.depth as { width: number; height: number; data: Float32Array } | undefined;
        if (depth && td) {
          // labels sampled (nearest) at the teacher's cells; a cell the mirrored run disagreed on (0) is left out
          const gt = new Float32Array(depth.data.length);
          for (let y = 0; y < depth.height; y++) for (let x = 0; x < depth.width; x++) {
            const k = y * depth.width + x;
            const g = td.data[Math.min(td.height - 1, Math.floor(((y + 0.5) * td.height) / depth.height)) * td.width + Math.min(td.width - 1, Math.floor(((x + 0.5) * td.width) / depth.width))];
            if (!(g > 0 && g < DEPTH_EVAL_MAX_M)) continue;
            r.allD++;
            if (!(depth.data[k] > 0)) continue;
            r.keptD++;
            gt[k] = g;
          }
          r.dep.add(depth.data, gt);
        }
      }
    }
    const p = row.plain, q = row.flip;
    console.log(
      `${d.padEnd(9)} ${String(seed).padEnd(5)} |         ${f3(s.lane_iou)}  ${f3(s.depth_absrel)} |         ${f3(p.i / p.u)}  ${f3(p.dep.result().absRel)} |               ${f3(q.i / q.u)}  ${f3(q.dep.result().absRel)}  ${f3(q.kept / q.all)}, ${f3(q.keptD / q.allD)}`,
    );
  }
}
await engine.dispose();
await teachers.plain.dispose();
await teachers.flip.dispose();
