/**
 * The compression figures of `npm run bench` (issue 17): `int8` (bench/int8.ts: INT8 against
 * FP32, same process, alternated, and both scored on the same held-out frames) and `pareto`
 * (bench/pareto.ts: input size × precision × width, with the students already built by
 * `npm run -s pareto` for this model; the bench never trains). run.ts calls these.
 */
import { cachedStudents } from '../training/compress/students.js';
import { int8Figures } from './int8.js';
import { paretoFigures } from './pareto.js';
import type { Image } from '../src/msgs/index.js';

export async function compressionFigures(o: { modelDir: string; images: readonly Image[]; quick: boolean; log: (l: string) => void }): Promise<{ int8: unknown; pareto: unknown }> {
  o.log('bench: int8 against fp32 (bench/int8.ts)');
  const i = await int8Figures({ modelDir: o.modelDir, images: o.images, rounds: o.quick ? 20 : 60, heldoutPerDomain: o.quick ? 10 : 40, log: o.log });
  const int8 = {
    floor_ms: i.floor_ms,
    speedup_vs_fp32: i.speedup_vs_fp32,
    metrics_fp32: i.metrics_fp32,
    metrics_int8: i.metrics_int8,
    fp32_floor_ms: i.fp32_floor_ms,
    fp32_resize_first: i.fp32_resize_first,
    batch4: i.batch4,
    cpu_ms_per_run: { fp32: i.batch1.fp32_cpu_ms, int8: i.batch1.int8_cpu_ms, ratio: i.batch1.cpu_speedup },
    loss_points: i.loss_points,
    kernels_int8: i.kernels_int8,
    package: i.package,
    quantization: i.quantization,
    loadavg_1m: i.loadavg_1m,
    target: i.target,
  };
  o.log('bench: pareto rows (bench/pareto.ts; students from npm run -s pareto)');
  const students = cachedStudents(o.modelDir);
  const p = await paretoFigures({ modelDir: o.modelDir, students, precisions: ['fp32', 'int8'], heldoutPerDomain: o.quick ? 5 : 20, rounds: o.quick ? 10 : 30, images: o.images, log: o.log });
  const pareto = p.rows.map((r) => ({ input: r.input, precision: r.precision, width: r.width, candidate: r.candidate, ms: r.ms, cpu_ms: r.cpu_ms, metrics: r.metrics, score: r.score, front: r.front }));
  return { int8, pareto };
}

/** Lines for run.ts's text table. */
export function compressionTable(r: { int8?: unknown; pareto?: unknown }): string {
  const i = r.int8 as { floor_ms?: number; fp32_floor_ms?: number; speedup_vs_fp32?: number; loss_points?: { worst: number } | null } | undefined;
  const rows = (r.pareto as { front: boolean; candidate: string; input: number[]; precision: string; ms: number; score: number }[] | undefined) ?? [];
  const lines = [];
  if (i) lines.push(`int8: session.run ${i.floor_ms} ms vs fp32 ${i.fp32_floor_ms} ms: ${i.speedup_vs_fp32}x (target >= 2x); worst metric change ${i.loss_points?.worst ?? '-'} points (target >= -1)`);
  const front = rows.filter((x) => x.front).map((x) => `${x.candidate} ${x.input.join('x')} ${x.precision} ${x.ms} ms score ${x.score}`);
  if (rows.length) lines.push(`pareto: ${rows.length} rows; front: ${front.join('; ')}`);
  return lines.length ? `${lines.join('\n')}\n` : '';
}
