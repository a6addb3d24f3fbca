import { describe, expect, it } from 'vitest';
import { PerceptionError, isPerceptionError } from './errors.js';

describe('PerceptionError', () => {
  it('names its context in the message and keeps the cause', () => {
    const cause = new Error('short read');
    const err = new PerceptionError('BAG_TRUNCATED', 'bag ends early', { file: 'a.mcap', topic: '/front/image_raw', index: 3 }, { cause });
    expect(err.message).toBe('bag ends early [file=a.mcap, topic=/front/image_raw, index=3]');
    expect(err.code).toBe('BAG_TRUNCATED');
    expect(err.cause).toBe(cause);
    expect(isPerceptionError(err, 'BAG_TRUNCATED')).toBe(true);
    expect(isPerceptionError(err, 'IO')).toBe(false);
    expect(isPerceptionError(new Error('x'))).toBe(false);
  });
});
