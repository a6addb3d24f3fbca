/**
 * Renderer speed: median frames/s of one front camera for `day`, `night` and `rain` at 1280x720 and
 * 640x360. Run: `npx tsx src/sim/bench.ts [frames]`. Prints figures; asserts nothing.
 */
import { Simulation } from '../src/sim/simulation.js';
import type { Domain } from '../src/sim/domains.js';

const frames = Number(process.argv[2] ?? 30);

function bench(domain: Domain, width: number, height: number): void {
  const sim = Simulation.create({ seed: 7, domain, width, height });
  for (let i = 0; i < 3; i++) sim.next(); // warm up the JIT
  const ms: number[] = [];
  for (let i = 0; i < frames; i++) {
    const t0 = performance.now();
    sim.next();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const med = ms[Math.floor(ms.length / 2)];
  const p90 = ms[Math.floor(ms.length * 0.9)];
  console.log(`${domain.padEnd(6)} ${`${width}x${height}`.padStart(9)}  median ${med.toFixed(1).padStart(6)} ms  ${(1000 / med).toFixed(1).padStart(6)} fps  p90 ${p90.toFixed(1)} ms  (${frames} frames)`);
}

for (const [w, h] of [[1280, 720], [640, 360]] as const) {
  for (const d of ['day', 'night', 'rain'] as const) bench(d, w, h);
}
