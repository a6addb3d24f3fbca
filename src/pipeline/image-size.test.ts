import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodedSize } from './image-size.js';

describe('encodedSize', () => {
  it('reads JPEG (baseline and progressive) and PNG sizes from their headers', async () => {
    const raw = Buffer.alloc(40 * 24 * 3, 100);
    const img = sharp(raw, { raw: { width: 40, height: 24, channels: 3 } });
    for (const data of [await img.clone().jpeg().toBuffer(), await img.clone().jpeg({ progressive: true }).toBuffer(), await img.clone().png().toBuffer()]) {
      expect(encodedSize({ kind: 'compressed', format: 'jpeg', data })).toEqual([24, 40]);
    }
  });
  it('reads raw sizes and gives up on garbage', () => {
    expect(encodedSize({ kind: 'raw', width: 8, height: 4, encoding: 'rgb8', step: 24, data: new Uint8Array(96) })).toEqual([4, 8]);
    expect(encodedSize({ kind: 'compressed', format: 'jpeg', data: new Uint8Array([0xff, 0xd8, 0x00, 0x01, 2, 3, 4, 5, 6, 7, 8, 9]) })).toBeUndefined();
    expect(encodedSize({ kind: 'compressed', format: 'jpeg', data: new Uint8Array(3) })).toBeUndefined();
  });
});
