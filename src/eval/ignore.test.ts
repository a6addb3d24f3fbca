import { describe, expect, it } from 'vitest';
import { isIgnoredBox, MIN_BOX_HEIGHT_FRACTION } from './ignore.js';

describe('detection ignore regions', () => {
  it('are small or hidden boxes, measured in camera pixels', () => {
    const h = 720;
    const limit = MIN_BOX_HEIGHT_FRACTION * h; // 30 px at 720p
    expect(isIgnoredBox({ y0: 100, y1: 100 + limit - 1 }, h)).toBe(true);
    expect(isIgnoredBox({ y0: 100, y1: 100 + limit + 1 }, h)).toBe(false);
    expect(isIgnoredBox({ y0: 100, y1: 300, visibility: 0.2 }, h)).toBe(true);
    expect(isIgnoredBox({ y0: 100, y1: 300, visibility: 0.5 }, h)).toBe(false);
    // The same object in a camera of half the resolution is the same share of the image.
    expect(isIgnoredBox({ y0: 50, y1: 50 + (limit + 1) / 2 }, h / 2)).toBe(false);
  });
});
