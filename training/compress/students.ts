/**
 * Student packages for the size search (bench/pareto.ts): for a teacher package and a student
 * spec (width multiplier, neck channels, steps), each step cached under
 * training/.runs/compress/<teacher>-<sha8>/ (git-ignored):
 *   1. the training frames: `adaptive-perception dataset` (training/.data/compress/...);
 *   2. the teacher's raw head maps on them (teacher_targets.ts, onnxruntime-node: any package);
 *   3. distill.py: the student trained on ground truth + the teacher's maps;
 *   4. training/export.py: the student as a model package (model.onnx, tails.json, manifest).
 * Nothing here depends on the teacher's architecture; the students are training/model.py's
 * network at a width multiplier.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PerceptionError } from '../../src/core/errors.js';
import { teacherTargets } from './teacher_targets.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const RUNS = join(ROOT, 'training', '.runs', 'compress');

export interface StudentSpec {
  /** Width multiplier of every backbone stage (training/model.py Net). */
  readonly width: number;
  /** FPN channels (default 64 × width, a multiple of 8). */
  readonly neck?: number;
  readonly steps: number;
  readonly batch: number;
  /** Weight of the distillation terms (0: ground truth only). */
  readonly kd: number;
  /** Initialisation: pruned from the teacher where it can be (default), or from scratch. */
  readonly init?: 'auto' | 'scratch';
}

export interface StudentOptions {
  readonly teacherDir: string;
  readonly spec: StudentSpec;
  /** Frames per domain of the training set (default 200; day, dusk, fog; seed 1). */
  readonly framesPerDomain?: number;
  /** Train when the student is not cached (default true); false: return undefined instead. */
  readonly train?: boolean;
  readonly python?: string;
  readonly log?: (l: string) => void;
}

export const neckOf = (s: StudentSpec) => s.neck ?? Math.max(8, Math.round((64 * s.width) / 8) * 8);
export const studentName = (s: StudentSpec) => `student-w${s.width}-n${neckOf(s)}-s${s.steps}-b${s.batch}-kd${s.kd}${s.init === 'scratch' ? '-scratch' : ''}`;
/** A short label for tables: width, and what differs from the defaults (kd 1, pruned init). */
export const studentLabel = (s: StudentSpec) => `w${s.width}${s.kd !== 1 ? ` kd${s.kd}` : ''}${s.init === 'scratch' ? ' scratch' : ''}`;

export function teacherKey(teacherDir: string): string {
  const m = JSON.parse(readFileSync(join(teacherDir, 'manifest.json'), 'utf8')) as { name: string; sha256: Record<string, string>; files: { model: string } };
  return `${m.name}-${m.sha256[m.files.model].slice(0, 8)}`;
}

/** Runs a command, its output lines to `log` (prefixed) and to `logFile`; rejects on a non-zero exit. */
function run(cmd: string, args: string[], log: (l: string) => void, prefix: string, logFile?: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn('nice', ['-n', '10', cmd, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const file = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
    let tail = '';
    const on = (d: Buffer) => {
      file?.write(d);
      tail = (tail + d.toString()).slice(-4000);
      for (const l of d.toString().split('\n')) if (l.trim()) log(`${prefix}: ${l}`);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('error', rej);
    child.on('close', (code) => {
      file?.end();
      if (code === 0) res();
      else rej(new PerceptionError('IO', `${cmd} ${args.join(' ')} exited ${code}: ${tail.split('\n').slice(-6).join(' | ')}`, { file: logFile }));
    });
  });
}

/** The training set (rendered once): day, dusk, fog at 384x192, seed 1. */
export async function ensureDataset(framesPerDomain: number, log: (l: string) => void): Promise<string> {
  const dir = join(ROOT, 'training', '.data', 'compress', `train-s1-n${framesPerDomain}`);
  if (existsSync(join(dir, 'meta.json'))) return dir;
  mkdirSync(join(ROOT, 'training', '.data', 'compress'), { recursive: true });
  log(`students: rendering the training set (${framesPerDomain} frames per domain) -> ${dir}`);
  await run(process.execPath, ['--import', 'tsx', join(ROOT, 'bin', 'adaptive-perception.js'), 'dataset', '--out', dir, '--domains', 'day,dusk,fog', '--frames', String(framesPerDomain), '--seed', '1', '--size', '384x192'], log, 'dataset');
  return dir;
}

/** The student's package folder (cached), or undefined when it is not cached and `train` is false. */
export async function ensureStudent(o: StudentOptions): Promise<string | undefined> {
  const log = o.log ?? (() => {});
  const python = o.python ?? '/usr/bin/python3';
  const tdir = join(RUNS, teacherKey(o.teacherDir));
  const runDir = join(tdir, studentName(o.spec));
  const pkg = join(runDir, 'pkg');
  if (existsSync(join(pkg, 'manifest.json'))) return pkg;
  const ckpt = join(runDir, 'model.pt');
  if (!existsSync(ckpt)) {
    if (o.train === false) return undefined;
    const n = o.framesPerDomain ?? 200;
    const data = await ensureDataset(n, log);
    const targets = join(tdir, `targets-train-s1-n${n}`);
    await teacherTargets({ teacherDir: o.teacherDir, dataDir: data, outDir: targets, log });
    mkdirSync(runDir, { recursive: true });
    const s = o.spec;
    log(`students: distilling ${studentName(s)} from ${o.teacherDir} (${s.steps} steps of ${s.batch}; progress in ${join(runDir, 'train.log')})`);
    await run(python, [join(ROOT, 'training', 'compress', 'distill.py'), '--data', data, '--targets', targets, '--run', runDir, '--width', String(s.width), '--neck', String(neckOf(s)), '--steps', String(s.steps), '--batch', String(s.batch), '--kd', String(s.kd), '--init', s.init ?? 'auto'], log, studentName(s), join(runDir, 'train.log'));
  }
  // Without --data: no feature_stats (the drift trigger's reference); they cost minutes on a
  // loaded machine and the size search does not use them. For a student to deploy:
  // training/export.py --ckpt RUN/model.pt --out PKG --data DATASET.
  log(`students: exporting ${studentName(o.spec)} -> ${pkg}`);
  await run(python, [join(ROOT, 'training', 'export.py'), '--ckpt', ckpt, '--out', pkg, '--name', studentName(o.spec), '--version', '0.1.0'], log, 'export', join(runDir, 'export.log'));
  return pkg;
}

/** Specs of the students trained for this teacher (a checkpoint exists), widest first. */
export function trainedSpecs(teacherDir: string): StudentSpec[] {
  const tdir = join(RUNS, teacherKey(teacherDir));
  if (!existsSync(tdir)) return [];
  const out: StudentSpec[] = [];
  for (const d of readdirSync(tdir)) {
    const m = /^student-w([\d.]+)-n(\d+)-s(\d+)-b(\d+)-kd([\d.]+)(-scratch)?$/.exec(d);
    if (m && existsSync(join(tdir, d, 'model.pt'))) out.push({ width: Number(m[1]), neck: Number(m[2]), steps: Number(m[3]), batch: Number(m[4]), kd: Number(m[5]), init: m[6] ? 'scratch' : 'auto' });
  }
  return out.sort((a, b) => b.width - a.width);
}

/** Student packages already built (exported) for this teacher (any spec), widest first. */
export function cachedStudents(teacherDir: string): { name: string; dir: string; width: number; spec: StudentSpec }[] {
  const tdir = join(RUNS, teacherKey(teacherDir));
  if (!existsSync(tdir)) return [];
  const out = [];
  for (const d of readdirSync(tdir)) {
    const m = /^student-w([\d.]+)-n(\d+)-s(\d+)-b(\d+)-kd([\d.]+)(-scratch)?$/.exec(d);
    if (!m || !existsSync(join(tdir, d, 'pkg', 'manifest.json'))) continue;
    const spec: StudentSpec = { width: Number(m[1]), neck: Number(m[2]), steps: Number(m[3]), batch: Number(m[4]), kd: Number(m[5]), init: m[6] ? 'scratch' : 'auto' };
    out.push({ name: studentLabel(spec), dir: join(tdir, d, 'pkg'), width: spec.width, spec });
  }
  return out.sort((a, b) => b.width - a.width);
}
