import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { GcRecorder } from './gc-stats.js';

describe('GcRecorder', () => {
  it('counts this thread’s collections between start and stop, and none after', async () => {
    const rec = new GcRecorder();
    rec.start();
    // Young-generation garbage: scavenges, surely, in ~100 MB of short-lived arrays.
    let keep = 0;
    for (let i = 0; i < 2000; i++) keep += new Array(5000).fill(i).length;
    await tick();
    const s = rec.stop();
    expect(keep).toBe(2000 * 5000);
    expect(s.minor.count).toBeGreaterThan(0);
    expect(s.minor.total_ms).toBeGreaterThan(0);
    expect(s.minor.max_ms).toBeLessThanOrEqual(s.minor.total_ms);
    for (const k of ['major', 'incremental', 'weak_callbacks'] as const) expect(s[k].count).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 2000; i++) keep += new Array(5000).fill(i).length;
    await tick();
    expect(rec.stop()).toEqual(s); // stopped: later collections are not counted
  });
});
