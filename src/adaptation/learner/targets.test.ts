import { describe, expect, it } from 'vitest';
import { depthTargets, detTargets, segTargets } from './targets.js';

describe('targets', () => {
  it('det: centre heat 1, gaussian around it, offsets and log sizes at the centre (boxes scaled camera → input)', () => {
    // camera 128×64, input 64×128 (H×W) → scale 1; stride 4 → grid 16×32
    const t = detTargets([{ classIndex: 1, x0: 40, y0: 20, x1: 58, y1: 30 }], { inputSize: [64, 128], cameraSize: { width: 256, height: 128 }, stride: 4, numClasses: 2 });
    // scaled box: 20..29 × 10..15 → centre (24.5, 12.5)/4 = (6.125, 3.125) → cell (6, 3)
    const plane = t.h * t.w;
    const i = 3 * t.w + 6;
    expect([t.h, t.w]).toEqual([16, 32]);
    expect(t.heat[plane + i]).toBe(1);
    expect(t.heat[i]).toBe(0); // other class untouched
    expect(t.heat[plane + i + 1]).toBeGreaterThan(0);
    expect(t.heat[plane + i + 1]).toBeLessThan(1);
    expect(t.mask[i]).toBe(1);
    expect(t.reg[i]).toBeCloseTo(0.125);
    expect(t.reg[plane + i]).toBeCloseTo(0.125);
    expect(t.reg[2 * plane + i]).toBeCloseTo(Math.log(9));
    expect(t.reg[3 * plane + i]).toBeCloseTo(Math.log(5));
    expect(t.mask.reduce((a, b) => a + b, 0)).toBe(1);
    expect(() => detTargets([{ classIndex: 5, x0: 0, y0: 0, x1: 1, y1: 1 }], { inputSize: [64, 128], cameraSize: { width: 128, height: 64 }, stride: 4, numClasses: 2 })).toThrow(/class 5/);
  });

  it('seg: nearest resize keeps label values and ignore', () => {
    const lane = { width: 4, height: 2, data: Uint8Array.of(0, 0, 1, 1, 2, 2, 255, 255) };
    expect(Array.from(segTargets(lane, 1, 2))).toEqual([2, 255]); // row centre 0.5·2 → row 1
    expect(Array.from(segTargets(lane, 2, 2))).toEqual([0, 1, 2, 255]);
  });

  it('depth: ln metres at cell centres, invalid where ≤ 0 or ≥ max', () => {
    const depth = { width: 4, height: 2, data: Float32Array.of(10, 10, 0, 0, 200, 200, 5, 5) };
    const t = depthTargets(depth, 2, 2, { minM: 1, maxM: 120 });
    expect(Array.from(t.valid)).toEqual([1, 0, 0, 1]);
    expect(t.logDepth[0]).toBeCloseTo(Math.log(10));
    expect(t.logDepth[3]).toBeCloseTo(Math.log(5));
  });
});

describe('detTargets ignore regions', () => {
  it('small or hidden boxes mark their cells ignored and make no centre; visible ones stay targets', () => {
    const g = { inputSize: [96, 192] as [number, number], cameraSize: { width: 640, height: 320 }, stride: 4, numClasses: 2 };
    const t = detTargets(
      [
        { classIndex: 0, x0: 40, y0: 40, x1: 200, y1: 200 }, // visible
        { classIndex: 1, x0: 400, y0: 100, x1: 420, y1: 110 }, // 10 px high of 320: too small
        { classIndex: 1, x0: 300, y0: 100, x1: 380, y1: 200, visibility: 0.1 }, // hidden
      ],
      g,
    );
    const centres = [...t.mask].reduce((a, v) => a + v, 0);
    expect(centres).toBe(1);
    const cell = (x: number, y: number) => Math.floor((y * 96) / 320 / 4) * t.w + Math.floor((x * 192) / 640 / 4);
    expect(t.ignore[cell(410, 105)]).toBe(1);
    expect(t.ignore[cell(340, 150)]).toBe(1);
    expect(t.ignore[cell(120, 120)]).toBe(0);
    expect(t.heat[1 * t.h * t.w + cell(340, 150)]).toBe(0); // no positive heat from an ignored box
  });
});
