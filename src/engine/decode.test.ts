import { describe, expect, it } from 'vitest';
import { isPerceptionError } from '../core/errors.js';
import { iou } from '../eval/boxes.js';
import { decodeDetections, upscaleDepth, upscaleMask, type FloatMap } from './decode.js';

const CLASSES = ['car', 'pedestrian'];

/** det maps for a 64x128 input at stride 4 (grid 16x32) with given peaks. */
function maps(peaks: { k: number; x: number; y: number; score: number; off: [number, number]; size: [number, number] }[]): { heat: FloatMap; box: FloatMap } {
  const h = 16;
  const w = 32;
  const heat = new Float32Array(2 * h * w);
  const box = new Float32Array(4 * h * w);
  for (const p of peaks) {
    const i = p.y * w + p.x;
    heat[p.k * h * w + i] = p.score;
    box[i] = p.off[0];
    box[h * w + i] = p.off[1];
    box[2 * h * w + i] = p.size[0];
    box[3 * h * w + i] = p.size[1];
  }
  return { heat: { dims: [2, h, w], data: heat }, box: { dims: [4, h, w], data: box } };
}

const opts = { threshold: 0.3, maxDetections: 10, stride: 4, inputSize: [64, 128] as const, cameraSize: { width: 256, height: 192 }, classes: CLASSES };

describe('decodeDetections', () => {
  it('a single peak becomes the expected camera-pixel box', () => {
    // cell (x=10, y=5), offset (0.5, 0.25) → centre (42, 21) model px; size 16x8 → [34, 17, 50, 25]
    // camera scale: 256/128 = 2 in x, 192/64 = 3 in y → [68, 51, 100, 75]
    const { heat, box } = maps([{ k: 1, x: 10, y: 5, score: 0.9, off: [0.5, 0.25], size: [16, 8] }]);
    const dets = decodeDetections(heat, box, opts);
    expect(dets).toHaveLength(1);
    const d = dets[0];
    expect(d.cls).toBe('pedestrian');
    expect(d.classIndex).toBe(1);
    expect(d.score).toBeCloseTo(0.9, 6);
    expect([d.x0, d.y0, d.x1, d.y1]).toEqual([68, 51, 100, 75]);
  });

  it('clips to the camera image, thresholds, sorts and caps', () => {
    const { heat, box } = maps([
      { k: 0, x: 0, y: 0, score: 0.5, off: [0, 0], size: [20, 20] }, // centre (0,0) → [0,0,20,30]
      { k: 0, x: 20, y: 10, score: 0.8, off: [0, 0], size: [8, 8] },
      { k: 1, x: 5, y: 5, score: 0.2, off: [0, 0], size: [8, 8] }, // below threshold
    ]);
    const dets = decodeDetections(heat, box, opts);
    expect(dets.map((d) => d.score)).toEqual([expect.closeTo(0.8, 6), expect.closeTo(0.5, 6)]);
    expect([dets[1].x0, dets[1].y0, dets[1].x1, dets[1].y1]).toEqual([0, 0, 20, 30]);
    expect(decodeDetections(heat, box, { ...opts, maxDetections: 1 })).toHaveLength(1);
  });

  it('class-wise NMS drops a same-class overlap but keeps another class', () => {
    const { heat, box } = maps([
      { k: 0, x: 10, y: 5, score: 0.9, off: [0, 0], size: [16, 16] },
      { k: 0, x: 11, y: 5, score: 0.7, off: [0, 0], size: [16, 16] }, // IoU 192/320 = 0.6 exactly: kept (suppression needs > 0.6)
      { k: 0, x: 10, y: 6, score: 0.6, off: [0, 0.5], size: [16, 16] }, // shifted 6 px: IoU 10*16/(2*256-160) = 0.4545 kept
      { k: 1, x: 10, y: 5, score: 0.8, off: [0, 0], size: [16, 16] },
    ]);
    const dets = decodeDetections(heat, box, { ...opts, cameraSize: { width: 128, height: 64 } });
    expect(dets.map((d) => [d.classIndex, Math.round(d.score * 10)])).toEqual([[0, 9], [1, 8], [0, 7], [0, 6]]);
    const strict = decodeDetections(heat, box, { ...opts, cameraSize: { width: 128, height: 64 }, nmsIou: 0.5 });
    expect(strict.map((d) => Math.round(d.score * 10))).toEqual([9, 8, 6]);
  });

  it('BAD CALL: mismatched dims, class names, threshold', () => {
    const { heat, box } = maps([]);
    const cases: [() => unknown, string][] = [
      [() => decodeDetections(heat, { dims: [4, 16, 31], data: box.data }, opts), 'box'],
      [() => decodeDetections(heat, box, { ...opts, classes: ['car'] }), 'classes'],
      [() => decodeDetections(heat, box, { ...opts, threshold: 0 }), 'threshold'],
      [() => decodeDetections(heat, box, { ...opts, stride: 8 }), 'stride'],
    ];
    for (const [f, field] of cases) {
      try {
        f();
        throw new Error(`expected failure for ${field}`);
      } catch (e) {
        expect(isPerceptionError(e, 'INVALID_ARGUMENT'), String(e)).toBe(true);
        expect((e as { context: { field: string } }).context.field).toBe(field);
      }
    }
  });
});

describe('iou', () => {
  it('hand cases', () => {
    expect(iou({ x0: 0, y0: 0, x1: 2, y1: 2 }, { x0: 1, y0: 1, x1: 3, y1: 3 })).toBeCloseTo(1 / 7);
    expect(iou({ x0: 0, y0: 0, x1: 1, y1: 1 }, { x0: 1, y0: 0, x1: 2, y1: 1 })).toBe(0);
  });
});

describe('upscale', () => {
  it('mask nearest 2x2 → 4x4 and 3x1 → 2x1', () => {
    expect([...upscaleMask(Uint8Array.of(0, 1, 2, 0), 2, 2, 4, 4)]).toEqual([0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 0, 0, 2, 2, 0, 0]);
    expect([...upscaleMask(Uint8Array.of(5, 6, 7), 3, 1, 2, 1)]).toEqual([5, 7]);
    const out = new Uint8Array(16);
    expect(upscaleMask(Uint8Array.of(0, 1, 2, 0), 2, 2, 4, 4, out)).toBe(out);
  });

  it('depth bilinear 2x1 → 4x1 with half-pixel centres, and nearest', () => {
    // dst centres 0.5,1.5,2.5,3.5 → src -0.25,0.25,0.75,1.25 → clamp → 0, .25, .75, 1
    expect([...upscaleDepth(Float32Array.of(10, 20), 2, 1, 4, 1)]).toEqual([10, 12.5, 17.5, 20]);
    expect([...upscaleDepth(Float32Array.of(10, 20), 2, 1, 4, 1, { mode: 'nearest' })]).toEqual([10, 10, 20, 20]);
  });

  it('BAD CALL: wrong length', () => {
    expect(() => upscaleMask(new Uint8Array(3), 2, 2, 4, 4)).toThrow(/mask has 3 values, 2x2 needs 4/);
  });
});
