import { describe, expect, it } from 'vitest';
import { isPerceptionError } from '../core/errors.js';
import { OverlayRenderer } from './overlay.js';

const px = (f: { width: number; data: Uint8Array }, x: number, y: number) => [...f.data.subarray((y * f.width + x) * 3, (y * f.width + x) * 3 + 3)];

describe('OverlayRenderer', () => {
  const image = { width: 4, height: 2, data: new Uint8Array(4 * 2 * 3).fill(100) };
  image.data.set([10, 20, 30], 0); // pixel (0,0)

  it('scales the camera image nearest to the mask size by default and tints lane and road', () => {
    const r = new OverlayRenderer();
    const mask = { width: 8, height: 4, data: new Uint8Array(32) };
    mask.data[8 * 3 + 7] = 1; // lane at (7,3)
    mask.data[8 * 3 + 6] = 2; // road at (6,3)
    const f = r.render({ image, mask });
    expect([f.width, f.height]).toEqual([8, 4]);
    expect(px(f, 0, 0)).toEqual([10, 20, 30]);
    expect(px(f, 1, 1)).toEqual([10, 20, 30]); // nearest: (1,1) samples camera (0,0)
    expect(px(f, 2, 0)).toEqual([100, 100, 100]);
    // lane: (100*96 + [255,220,0]*160) >> 8
    expect(px(f, 7, 3)).toEqual([(100 * 96 + 255 * 160) >> 8, (100 * 96 + 220 * 160) >> 8, (100 * 96) >> 8]);
    expect(px(f, 6, 3)).toEqual([(100 * 176) >> 8, (100 * 176 + 200 * 80) >> 8, (100 * 176 + 90 * 80) >> 8]);
    expect(r.render({ image, mask }).data).toBe(f.data); // buffer reused
  });

  it('draws a box outline in class colour at the output scale', () => {
    const r = new OverlayRenderer({ width: 8, lineWidth: 1 });
    // camera box [1,0,3,2) → output ×2 → x 2..5, y 0..3
    const f = r.render({ image, detections: [{ cls: 'car', classIndex: 0, score: 1, x0: 1, y0: 0, x1: 3, y1: 2 }] });
    expect([f.width, f.height]).toEqual([8, 4]);
    expect(px(f, 2, 0)).toEqual([255, 64, 64]);
    expect(px(f, 5, 3)).toEqual([255, 64, 64]);
    expect(px(f, 3, 1)).toEqual([100, 100, 100]); // inside is untouched
    expect(px(f, 6, 0)).toEqual([100, 100, 100]);
  });

  it('draws a depth inset in the top-right corner', () => {
    const r = new OverlayRenderer({ width: 8, height: 4, depthInset: 0.5, depthRange: [1, 100] });
    const depth = { width: 2, height: 1, data: Float32Array.of(1, 100) };
    const f = r.render({ image, depth });
    expect(px(f, 4, 0)).toEqual([230, 40, 30]); // nearest = warm end
    expect(px(f, 7, 0)).toEqual([20, 20, 80]); // far = cold end
    expect(px(f, 4, 2)).toEqual([100, 100, 100]); // inset is 4x2
  });

  it('BAD CALL: options', () => {
    for (const [o, field] of [[{ width: 0 }, 'width'], [{ depthInset: 2 }, 'depthInset'], [{ depthRange: [5, 1] }, 'depthRange']] as const) {
      try {
        new OverlayRenderer(o as never);
        throw new Error('expected failure');
      } catch (e) {
        expect(isPerceptionError(e, 'INVALID_CONFIG')).toBe(true);
        expect((e as Error).message).toContain(field);
      }
    }
  });
});
