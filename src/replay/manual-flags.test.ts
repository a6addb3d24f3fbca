import { describe, expect, it } from 'vitest';
import { manualFlagStamp, parseManualFlag } from './manual-flags.js';

describe('parseManualFlag (replay --adapt --flag CAMERA@STAMP)', () => {
  it('reads absolute stamps exactly and offsets from the bag start', () => {
    expect(parseManualFlag('front@1700000012.5')).toMatchObject({ camera: 'front', stampNs: 1_700_000_012_500_000_000n });
    expect(parseManualFlag('front@1700000012.000000001').stampNs).toBe(1_700_000_012_000_000_001n);
    expect(parseManualFlag('left@1700000012').stampNs).toBe(1_700_000_012_000_000_000n);
    const off = parseManualFlag('rear@+12.25');
    expect(off).toMatchObject({ camera: 'rear', offsetNs: 12_250_000_000n });
    expect(off.stampNs).toBeUndefined();
    expect(manualFlagStamp(off, 1_700_000_000_000_000_000n)).toBe(1_700_000_012_250_000_000n);
    expect(manualFlagStamp(parseManualFlag('front@5'), 1n)).toBe(5_000_000_000n);
  });

  it('refuses malformed flags with a message that shows the expected form', () => {
    for (const [spec, why] of [
      ['front', /no "@"/],
      ['@12', /no camera/],
      ['front@', /is not a number/],
      ['front@12s', /is not a number/],
      ['front@-3', /is not a number/],
      ['front@1.0000000001', /is not a number/],
      ['fr ont@1', /characters/],
    ] as const) {
      expect(() => parseManualFlag(spec)).toThrow(why);
      expect(() => parseManualFlag(spec)).toThrow(/expected CAMERA@SECONDS/);
    }
  });
});
