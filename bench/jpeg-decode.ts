/**
 * `npx tsx bench/jpeg-decode.ts`: what sharp's thread pool and cache cost a camera frame's JPEG
 * decode (the call image-decode.ts makes), side by side in one run: 200 decodes of a 640x360
 * JPEG per setting, alternated three times; median and p90 time, CPU per frame (all threads).
 * Behind image-decode.ts's choice of one libvips thread and no operation cache.
 */
import { availableParallelism } from 'node:os';
import sharp from 'sharp';

const W = 640;
const H = 360;
const N = 200;
const raw = Buffer.alloc(W * H * 3);
for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + (i >> 9)) & 255;
const jpeg = await sharp(raw, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();

const settings = [
  { concurrency: availableParallelism(), cache: true, name: "sharp's defaults (a thread per core, 50 MB cache)" },
  { concurrency: 1, cache: false, name: 'one thread, no cache (image-decode.ts)' },
];
for (let round = 0; round < 3; round++) {
  for (const s of settings) {
    sharp.concurrency(s.concurrency);
    sharp.cache(s.cache);
    const times: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      await sharp(jpeg, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      times.push(performance.now() - t0);
    }
    const cpu = process.cpuUsage(cpu0);
    times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.floor(p * (N - 1))].toFixed(2);
    process.stdout.write(`round ${round + 1}, ${s.name}: median ${q(0.5)} ms, p90 ${q(0.9)} ms, CPU ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms/frame\n`);
  }
}
