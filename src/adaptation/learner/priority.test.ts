import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { lowerLearnerPriority, lowerProcessPriority, useIdleScheduling } from './priority.js';

const hasChrt = (() => {
  try {
    execFileSync('chrt', ['--help'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('learner CPU priority', () => {
  it.runIf(process.platform === 'linux')('renices every thread of the process, including ones started before the call', () => {
    // A child process, so that this test runner keeps its own priority.
    const script = `
      const { Worker } = require('node:worker_threads');
      const { readdirSync, readFileSync } = require('node:fs');
      const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
      w.once('online', async () => {
        const { lowerProcessPriority } = await import(${JSON.stringify(new URL('./priority.ts', import.meta.url).pathname)});
        const n = lowerProcessPriority(7);
        // Field 19 of /proc/<pid>/task/<tid>/stat is the nice value (after the ")" of the name).
        const nices = readdirSync('/proc/self/task').map((t) => Number(readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ')[16]));
        process.stdout.write(JSON.stringify({ n, nices }));
        process.exit(0);
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' })) as { n: number; nices: number[] };
    expect(out.n).toBeGreaterThan(2); // main, the worker and V8's own threads
    expect(out.nices.length).toBeGreaterThanOrEqual(out.n);
    expect(out.nices.every((v) => v === 7)).toBe(true);
  });

  it.runIf(process.platform === 'linux' && hasChrt)('puts every thread under SCHED_IDLE, including ones started before the call and after it', () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const { readdirSync, readFileSync } = require('node:fs');
      // Field 41 of /proc/<pid>/task/<tid>/stat is the policy (5: SCHED_IDLE), field 19 the nice value.
      const stat = () => readdirSync('/proc/self/task').map((t) => readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' '));
      const before = new Worker('setInterval(() => {}, 1000)', { eval: true });
      before.once('online', async () => {
        const { lowerLearnerPriority } = await import(${JSON.stringify(new URL('./priority.ts', import.meta.url).pathname)});
        const line = lowerLearnerPriority({ nice: 5, sched: 'idle' });
        const after = new Worker('setInterval(() => {}, 1000)', { eval: true });
        after.once('online', () => {
          const s = stat();
          process.stdout.write(JSON.stringify({ line, policies: s.map((f) => Number(f[38])), nices: s.map((f) => Number(f[16])) }));
          process.exit(0);
        });
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' })) as { line: string; policies: number[]; nices: number[] };
    expect(out.line).toMatch(/SCHED_IDLE \(runs only on otherwise idle cores\), nice 5/);
    expect(out.policies.length).toBeGreaterThan(3);
    expect(out.policies.every((p) => p === 5)).toBe(true);
    expect(out.nices.every((n) => n === 5)).toBe(true);
  });

  it('without chrt (or where it fails) says why and keeps the niceness', () => {
    const missing = Object.assign(new Error('spawn chrt ENOENT'), { code: 'ENOENT' });
    expect(useIdleScheduling(() => { throw missing; })).toBe(process.platform === 'linux' ? 'chrt (util-linux) is not installed' : `SCHED_IDLE is Linux's (this is ${process.platform})`);
    const refused = Object.assign(new Error('Command failed'), { status: 1, stderr: Buffer.from('chrt: failed to set pid 1 policy: Operation not permitted\n') });
    if (process.platform === 'linux') expect(useIdleScheduling(() => { throw refused; })).toBe('chrt failed: chrt: failed to set pid 1 policy: Operation not permitted');
    expect(lowerLearnerPriority({ nice: 0, sched: 'normal' })).toBe('learner CPU priority: nice unchanged, normal scheduling');
  });

  it('BAD INPUT: a niceness outside 0..19', () => {
    expect(() => lowerProcessPriority(-1)).toThrow(/nice must be an integer in 0..19, got -1/);
    expect(() => lowerProcessPriority(20)).toThrow(/0..19/);
    expect(() => lowerProcessPriority(2.5)).toThrow(/0..19/);
  });
});
