import { describe, expect, it } from 'vitest';
import { steadyWindows } from './adapt.js';

describe('steadyWindows (the swap-window test applied to steady frames)', () => {
  it('cuts the steady frames into windows of the swap windows size and counts those over the target', () => {
    // 10 ms frames, with one 30 ms frame in the second window of 100 and one in the fourth.
    const ms: number[] = Array.from({ length: 450 }, (_, i) => (i === 150 || i === 320 ? 30 : 10));
    const r = steadyWindows(ms, 100, 11);
    expect(r).toMatchObject({ frames_per_window: 100, windows: 4, over_target: 0 }); // one slow frame of 100: the p99 is the second slowest
    const two = ms.slice();
    two[151] = 29;
    expect(steadyWindows(two, 100, 11)).toMatchObject({ windows: 4, over_target: 1 });
    expect(steadyWindows(two, 100, 11)!.worst_ratio).toBeCloseTo(29 / 10, 1);
    // Windows of 80 frames: the slowest frame is the p99, so each window holding one fails.
    expect(steadyWindows(ms, 80, 11)).toMatchObject({ frames_per_window: 80, windows: 5, over_target: 2 });
  });

  it('has no reference without enough steady frames or a target', () => {
    expect(steadyWindows([10, 10], 5, 11)).toBeNull();
    expect(steadyWindows([10, 10], 0, 11)).toBeNull();
    expect(steadyWindows([10, 10], 1, Number.NaN)).toBeNull();
  });
});
