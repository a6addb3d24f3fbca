import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ImageDecoder } from './image-decode.js';

const ctx = { camera: 'front', topic: '/front/image_raw', index: 4 };

describe('ImageDecoder', () => {
  it('returns packed rgb8 as a view without copying', async () => {
    const data = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const out = await new ImageDecoder().decode({ kind: 'raw', width: 2, height: 1, encoding: 'rgb8', step: 6, data }, ctx);
    expect(out.data.buffer).toBe(data.buffer);
    expect(Array.from(out.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });
  it('converts bgr8 with row padding and mono8', async () => {
    const dec = new ImageDecoder();
    const bgr = new Uint8Array([3, 2, 1, 99, 6, 5, 4, 99]); // 1x2, step 4
    const out = await dec.decode({ kind: 'raw', width: 1, height: 2, encoding: 'bgr8', step: 4, data: bgr }, ctx);
    expect(Array.from(out.data)).toEqual([1, 2, 3, 4, 5, 6]);
    const mono = await dec.decode({ kind: 'raw', width: 2, height: 1, encoding: 'mono8', step: 2, data: new Uint8Array([7, 9]) }, { ...ctx, camera: 'left' });
    expect(Array.from(mono.data)).toEqual([7, 7, 7, 9, 9, 9]);
  });
  it('BAD CALL: disagreeing size, step and data name the topic and index', async () => {
    const dec = new ImageDecoder();
    await expect(dec.decode({ kind: 'raw', width: 4, height: 4, encoding: 'rgb8', step: 12, data: new Uint8Array(40) }, ctx)).rejects.toThrow(
      /needs 48 bytes, has 40 \[camera=front, topic=\/front\/image_raw, index=4\]/,
    );
    await expect(dec.decode({ kind: 'raw', width: 4, height: 1, encoding: 'rgb8', step: 6, data: new Uint8Array(12) }, ctx)).rejects.toMatchObject({ code: 'BAD_IMAGE' });
    await expect(dec.decode({ kind: 'raw', width: 0, height: 1, encoding: 'rgb8', step: 0, data: new Uint8Array(0) }, ctx)).rejects.toMatchObject({ code: 'BAD_IMAGE' });
    await expect(dec.decode({ kind: 'raw', width: 1, height: 1, encoding: 'yuv422', step: 2, data: new Uint8Array(2) }, ctx)).rejects.toMatchObject({
      code: 'UNSUPPORTED_ENCODING',
    });
  });
  it('decodes with one libvips thread and no operation cache (frames are decoded once, beside the model)', () => {
    expect(sharp.concurrency()).toBe(1);
    expect(sharp.cache().memory.max).toBe(0);
  });

  it('decodes JPEG and rejects garbage', async () => {
    const raw = Buffer.alloc(16 * 8 * 3, 128);
    const jpeg = await sharp(raw, { raw: { width: 16, height: 8, channels: 3 } }).jpeg().toBuffer();
    const out = await new ImageDecoder().decode({ kind: 'compressed', format: 'jpeg', data: jpeg }, ctx);
    expect([out.width, out.height, out.data.length]).toEqual([16, 8, 384]);
    expect(Math.abs(out.data[100] - 128)).toBeLessThan(4);
    await expect(new ImageDecoder().decode({ kind: 'compressed', format: 'jpeg', data: jpeg.subarray(0, 20) }, ctx)).rejects.toMatchObject({ code: 'BAD_IMAGE' });
    await expect(new ImageDecoder().decode({ kind: 'compressed', format: 'webp', data: jpeg }, ctx)).rejects.toMatchObject({ code: 'UNSUPPORTED_ENCODING' });
  });
});
