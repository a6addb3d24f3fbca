import { describe, expect, it } from 'vitest';
import { loadCodecs } from './compression.js';
import { lz4FrameCompress } from './lz4-frame.js';

describe('lz4FrameCompress', () => {
  it('round-trips through the reference decoder for many shapes of input', async () => {
    const { decompressHandlers } = await loadCodecs();
    const inputs: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(1),
      new Uint8Array(13),
      new Uint8Array(100_000).fill(7),
      Uint8Array.from({ length: 70_000 }, (_, i) => (i * 2654435761) >>> 24), // incompressible
      Uint8Array.from({ length: 200_000 }, (_, i) => (i % 1000 < 600 ? i % 17 : (i * 31) & 0xff)),
    ];
    for (const input of inputs) {
      const packed = lz4FrameCompress(input);
      const back = decompressHandlers.lz4(packed, BigInt(input.length));
      expect(Buffer.from(back).equals(Buffer.from(input)), `length ${input.length}`).toBe(true);
    }
    expect(lz4FrameCompress(new Uint8Array(100_000)).length).toBeLessThan(1000);
  });
});
