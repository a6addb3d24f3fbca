import { describe, expect, it } from 'vitest';
import { PerceptionError } from '../core/errors.js';
import { makeImage, validateImage } from './image.js';
import { nsToTime, timeToNs } from './time.js';
import { sampleDepthImage, sampleRgbImage } from './samples.js';

const ctx = { topic: '/cam/image_raw', index: 7 };

function codeOf(fn: () => unknown): { code: string; message: string; context: object } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PerceptionError);
    const e = err as PerceptionError;
    return { code: e.code, message: e.message, context: e.context };
  }
  throw new Error('expected a throw');
}

describe('validateImage', () => {
  it('accepts good rgb8 and 32FC1 images', () => {
    expect(validateImage(sampleRgbImage(), ctx).width).toBe(4);
    expect(validateImage(sampleDepthImage(), ctx).encoding).toBe('32FC1');
  });

  it('rejects a step shorter than a row', () => {
    const e = codeOf(() => validateImage({ ...sampleRgbImage(4, 3), step: 11 }, ctx));
    expect(e.code).toBe('BAD_IMAGE');
    expect(e.context).toMatchObject({ ...ctx, field: 'step' });
    expect(e.message).toContain('topic=/cam/image_raw');
    expect(e.message).toContain('index=7');
  });

  it('rejects short data', () => {
    const img = sampleRgbImage(4, 3);
    const e = codeOf(() => validateImage({ ...img, data: img.data.subarray(0, 35) }, ctx));
    expect(e).toMatchObject({ code: 'BAD_IMAGE', context: { field: 'data' } });
  });

  it('rejects an unknown encoding', () => {
    const e = codeOf(() => validateImage({ ...sampleRgbImage(), encoding: 'yuv422' }, ctx));
    expect(e).toMatchObject({ code: 'UNSUPPORTED_ENCODING', context: { ...ctx, field: 'encoding' } });
    expect(e.message).toContain('yuv422');
  });

  it('rejects zero and absurd sizes and non-objects', () => {
    expect(codeOf(() => validateImage({ ...sampleRgbImage(), width: 0 }, ctx)).context).toMatchObject({ field: 'width' });
    expect(codeOf(() => validateImage({ ...sampleRgbImage(), height: 0 }, ctx)).code).toBe('BAD_IMAGE');
    expect(codeOf(() => validateImage({ ...sampleRgbImage(), height: 16385 }, ctx)).code).toBe('BAD_IMAGE');
    expect(codeOf(() => validateImage(null, ctx)).code).toBe('BAD_IMAGE');
  });

  it('rejects big-endian multi-byte images', () => {
    expect(codeOf(() => validateImage({ ...sampleDepthImage(), is_bigendian: 1 }, ctx)).code).toBe('UNSUPPORTED_ENCODING');
  });
});

describe('makeImage and time helpers', () => {
  it('computes step from width and encoding', () => {
    const img = makeImage({ stamp: 1_500_000_002n, frameId: 'cam', width: 2, height: 2, encoding: '16UC1', data: new Uint8Array(8) });
    expect(img.step).toBe(4);
    expect(img.header).toEqual({ stamp: { sec: 1, nanosec: 500_000_002 }, frame_id: 'cam' });
  });

  it('refuses data that does not fill the image', () => {
    expect(() => makeImage({ stamp: 0n, frameId: 'c', width: 2, height: 2, encoding: 'rgb8', data: new Uint8Array(11) })).toThrow(/BAD|expected at least/);
  });

  it('converts ns ↔ Time exactly', () => {
    const ns = 1_700_000_000_123_456_789n;
    expect(nsToTime(ns)).toEqual({ sec: 1_700_000_000, nanosec: 123_456_789 });
    expect(timeToNs(nsToTime(ns))).toBe(ns);
    expect(timeToNs({ sec: 2, nsec: 3 })).toBe(2_000_000_003n);
    expect(() => nsToTime(-1n)).toThrow(PerceptionError);
  });
});
