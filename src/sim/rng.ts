/**
 * Seeded randomness. Two kinds: a stream (`Rng`, mulberry32) for set-up decisions made in a
 * fixed order, and stateless hashes (`hash32`, `hashUnit`) for things looked up by key
 * (the k-th car of a lane, the clutter in a road cell) so that any frame can be rendered
 * without replaying the frames before it.
 */

/** 32-bit integer mix (a variant of the murmur3 finaliser). Pure; same input → same output. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hash of up to four integers, unsigned 32-bit. */
export function hash32(a: number, b = 0, c = 0, d = 0): number {
  let h = mix32((a | 0) ^ 0x9e3779b9);
  h = mix32(h ^ Math.imul(b | 0, 0x85ebca6b));
  h = mix32(h ^ Math.imul(c | 0, 0xc2b2ae35));
  return mix32(h ^ Math.imul(d | 0, 0x27d4eb2f));
}

/** Hash of integers mapped to [0, 1). */
export function hashUnit(a: number, b = 0, c = 0, d = 0): number {
  return hash32(a, b, c, d) / 4294967296;
}

/** Derives an independent seed for a named purpose (e.g. 'appearance', 'sequence 3'). */
export function deriveSeed(seed: number, label: string, index = 0): number {
  let h = seed >>> 0;
  for (let i = 0; i < label.length; i++) h = mix32(h ^ label.charCodeAt(i));
  return hash32(h, index);
}

/** mulberry32 stream: small, fast, good enough for scene set-up. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Approximately normal (sum of four uniforms), mean 0, standard deviation `sd`. */
  normal(sd = 1): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * 1.7320508 * sd;
  }
}
