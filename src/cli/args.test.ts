import { describe, expect, it } from 'vitest';
import { parseFloatOption, parseIntOption, parseList, parseSize } from './args.js';

describe('CLI argument parsers', () => {
  it('BAD CALL: integers out of range or malformed name the option', () => {
    const p = parseIntOption('--frames', 1, 100);
    expect(p('7')).toBe(7);
    expect(() => p('0')).toThrow(/--frames must be an integer in \[1, 100\], got '0'/);
    expect(() => p('1.5')).toThrow(/--frames/);
    expect(() => p('abc')).toThrow(/--frames/);
  });
  it('BAD CALL: floats', () => {
    const p = parseFloatOption('--rate', 0.1, 1000);
    expect(p('2.5')).toBe(2.5);
    expect(() => p('')).toThrow(/--rate/);
    expect(() => p('0')).toThrow(/--rate/);
    expect(() => p('NaN')).toThrow(/--rate/);
  });
  it('sizes parse as WxH', () => {
    const p = parseSize('--size');
    expect(p('640x360')).toEqual({ width: 640, height: 360 });
    expect(() => p('640')).toThrow(/--size must be WxH/);
    expect(() => p('8x8')).toThrow(/--size/);
  });
  it('lists accept only allowed values, without duplicates', () => {
    const p = parseList('--cameras', ['front', 'left'] as const);
    expect(p('front,left')).toEqual(['front', 'left']);
    expect(() => p('front,back')).toThrow(/unknown value 'back'/);
    expect(() => p('front,front')).toThrow(/duplicate/);
  });
});
