import { describe, expect, it } from 'vitest';
import { FlagBudget } from './service.js';

describe('FlagBudget (the learner node\'s flag rate limit)', () => {
  it('limits new-domain samples per sliding minute; old-domain reference frames never spend or hit it', () => {
    const b = new FlagBudget(3);
    for (let i = 0; i < 40; i++) {
      expect(b.allows('old', i)).toBe(true); // the reference burst at connect time
      b.spend('old', i);
    }
    for (let i = 0; i < 3; i++) {
      expect(b.allows('new', 100 + i)).toBe(true);
      b.spend('new', 100 + i);
    }
    expect(b.allows('new', 200)).toBe(false);
    expect(b.allows('old', 200)).toBe(true);
    expect(b.allows('new', 100 + 60_001)).toBe(true); // the first one left the window
  });
});
