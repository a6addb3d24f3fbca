import { describe, expect, it } from 'vitest';
import { mergeServed, peaksOnly } from './tails-tf-post.js';

// 2 classes on a 3x4 grid: [K, h, w] heat, [4, h, w] boxes.
const K = 2;
const h = 3;
const w = 4;
const plane = h * w;
const at = (k: number, y: number, x: number) => k * plane + y * w + x;
function maps(cells: { k: number; y: number; x: number; v: number; size: number }[]) {
  const heat = new Float32Array(K * plane);
  const box = new Float32Array(4 * plane);
  for (const c of cells) {
    heat[at(c.k, c.y, c.x)] = c.v;
    for (let j = 0; j < 4; j++) box[j * plane + c.y * w + c.x] = j < 2 ? 0.5 : c.size;
  }
  return { heat: { dims: [K, h, w], data: heat }, box: { dims: [4, h, w], data: box } };
}

describe('mergeServed (what a package merging a second detector serves)', () => {
  it('takes, per cell, the source whose best class is higher, with its box; then keeps 3x3 peaks only', () => {
    const det = maps([
      { k: 0, y: 0, x: 0, v: 0.6, size: 10 },
      { k: 1, y: 2, x: 3, v: 0.2, size: 11 },
    ]);
    const coco = maps([
      { k: 0, y: 0, x: 0, v: 0.4, size: 20 }, // weaker than the tails' box there: not taken
      { k: 0, y: 2, x: 3, v: 0.5, size: 21 }, // stronger: replaces the tails' class-1 cell, box too
      { k: 0, y: 1, x: 1, v: 0.7, size: 22 }, // a new box, and the neighbouring 0.6 is no longer a peak
    ]);
    const m = mergeServed(det, coco);
    expect(m.heat.data[at(0, 0, 0)]).toBe(0); // 0.6 next to 0.7 (same class)
    expect(m.heat.data[at(0, 1, 1)]).toBeCloseTo(0.7);
    expect(m.heat.data[at(0, 2, 3)]).toBeCloseTo(0.5);
    expect(m.heat.data[at(1, 2, 3)]).toBe(0);
    expect(m.box.data[2 * plane + 2 * w + 3]).toBe(21);
    expect(m.box.data[2 * plane + 0]).toBe(10);
    expect(mergeServed(det, maps([])).heat.data).toEqual(det.heat.data); // nothing to merge: the tails' peaks
  });

  it('peaksOnly keeps ties and zeroes lower neighbours of the same class only', () => {
    const heat = new Float32Array(K * plane);
    heat[at(0, 1, 1)] = 0.5;
    heat[at(0, 1, 2)] = 0.5;
    heat[at(0, 0, 0)] = 0.4;
    heat[at(1, 1, 1)] = 0.3;
    const p = peaksOnly(heat, K, h, w);
    expect([p[at(0, 1, 1)], p[at(0, 1, 2)], p[at(0, 0, 0)], p[at(1, 1, 1)]]).toEqual([0.5, 0.5, 0, Math.fround(0.3)]);
  });

  it('BAD CALL: maps of another grid are refused, naming both', () => {
    const other = { heat: { dims: [K, 2, 2], data: new Float32Array(8) }, box: { dims: [4, 2, 2], data: new Float32Array(16) } };
    expect(() => mergeServed(maps([]), other)).toThrow(/\[2, 2, 2\].*\[2, 3, 4\]/);
  });
});
