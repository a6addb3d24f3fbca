import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { lowerProcessPriority } from './priority.js';

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

  it('BAD INPUT: a niceness outside 0..19', () => {
    expect(() => lowerProcessPriority(-1)).toThrow(/nice must be an integer in 0..19, got -1/);
    expect(() => lowerProcessPriority(20)).toThrow(/0..19/);
    expect(() => lowerProcessPriority(2.5)).toThrow(/0..19/);
  });
});
