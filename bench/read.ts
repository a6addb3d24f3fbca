/**
 * `npx tsx bench/read.ts [--rounds N] [--json] [bag...]` — what reading a bag costs, per camera
 * frame: every topic replay reads (cameras + /gt, not camera_info), on the main thread. Three
 * read paths side by side, in the same run:
 *   native  zstd-napi, zlib.crc32 (vendor/crc-native), messages as views (mcap-views.ts): in use
 *   wasm    @foxglove/wasm-zstd and the JS CRC32 forced, views kept: the codecs' share
 *   before  wasm, JS CRC32 and @mcap/core's readMessages (a copy of every message): the read
 *           path as it was before these changes
 * Each read runs in its own Node process (AP_CRC32=js is read once at load, and a process's
 * JIT and heap stay out of the next one's figure), after one untimed read that warms it up.
 * The modes take turns, N rounds (default 3); each prints the median. A benchmark, not a test:
 * it asserts nothing.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { loadCodecs, type CodecInfo } from '../src/bag/compression.js';
import { McapBagReader } from '../src/bag/mcap-reader.js';

const CACHE = join(import.meta.dirname, '.cache');
const DEFAULT_BAGS = ['day_1cam_1280x720_30hz_n60_s4242.mcap', 'day_1cam_1280x720_30hz_n60_s4242_nocomp.mcap'].map((b) => join(CACHE, b));
const MODES = ['native', 'wasm', 'before'] as const;

type Mode = (typeof MODES)[number];
interface Read {
  codecs: CodecInfo;
  views: boolean;
  frames: number;
  ms_per_frame: number;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** One process, one bag, one mode: a warm-up read, then the timed one. */
async function child(bag: string, mode: Mode): Promise<Read> {
  const codecs = await loadCodecs({ zstd: mode === 'native' ? 'auto' : 'wasm' });
  const views = mode !== 'before';
  const readOnce = async () => {
    const reader = await McapBagReader.open(bag, { codecs, messageViews: views });
    try {
      const topics = reader.info().topics.filter((t) => !t.topic.endsWith('/camera_info')).map((t) => t.topic);
      let frames = 0;
      const t0 = performance.now();
      for await (const m of reader.messages({ topics })) if (m.topic.endsWith('/image_raw')) frames++;
      return { frames, ms: performance.now() - t0 };
    } finally {
      await reader.close();
    }
  };
  await readOnce();
  const { frames, ms } = await readOnce();
  return { codecs: codecs.info, views, frames, ms_per_frame: ms / Math.max(1, frames) };
}

function runChild(bag: string, mode: Mode): Promise<Read> {
  const env = { ...process.env };
  if (mode === 'native') delete env.AP_CRC32;
  else env.AP_CRC32 = 'js';
  const argv = [...process.execArgv, import.meta.filename, '--child', mode, bag];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench/read.ts child (${mode}, ${bag}) exited with ${code}`));
      else resolve(JSON.parse(out) as Read);
    });
  });
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

interface Args {
  child?: Mode;
  rounds: number;
  json: boolean;
  bags: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 3, json: false, bags: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--json') a.json = true;
    else if (k === '--rounds') {
      a.rounds = Number(argv[++i]);
      if (!Number.isInteger(a.rounds) || a.rounds < 1) throw new Error('--rounds needs a positive integer');
    } else if (k === '--child') {
      const v = argv[++i] as Mode;
      if (!MODES.includes(v)) throw new Error(`--child needs one of ${MODES.join(', ')}`);
      a.child = v;
    } else if (k === '--help' || k === '-h') {
      process.stdout.write('usage: npx tsx bench/read.ts [--rounds N] [--json] [bag...]\n');
      process.exit(0);
    } else if (k.startsWith('--')) throw new Error(`unknown option ${k} (try --help)`);
    else a.bags.push(k);
  }
  if (a.bags.length === 0) a.bags = DEFAULT_BAGS;
  return a;
}

const args = parseArgs(process.argv.slice(2));
if (args.child) {
  process.stdout.write(JSON.stringify(await child(args.bags[0], args.child)));
} else {
  const out: { bag: string; frames: number; modes: Record<string, { median_ms_per_frame: number; runs_ms_per_frame: number[]; zstd: string; crc32: string; views: boolean }> }[] = [];
  for (const bag of args.bags) {
    const reads = new Map<Mode, Read[]>(MODES.map((m) => [m, []]));
    for (let r = 0; r < args.rounds; r++) for (const mode of MODES) reads.get(mode)!.push(await runChild(bag, mode));
    const modes: (typeof out)[number]['modes'] = {};
    for (const [mode, rs] of reads) {
      modes[mode] = {
        median_ms_per_frame: r3(median(rs.map((x) => x.ms_per_frame))),
        runs_ms_per_frame: rs.map((x) => r3(x.ms_per_frame)),
        zstd: rs[0].codecs.zstd,
        crc32: rs[0].codecs.crc32,
        views: rs[0].views,
      };
    }
    out.push({ bag, frames: reads.get('native')![0].frames, modes });
  }
  if (args.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else {
    process.stdout.write(`bag read, median ms per camera frame over ${args.rounds} rounds (one process per read)\n`);
    for (const { bag, frames, modes } of out) {
      process.stdout.write(`${bag.split('/').pop()} (${frames} frames)\n`);
      for (const [mode, m] of Object.entries(modes)) {
        const how = `zstd ${m.zstd}, crc32 ${m.crc32}, ${m.views ? 'views' : 'copies (@mcap/core readMessages)'}`;
        process.stdout.write(`  ${mode.padEnd(7)} ${m.median_ms_per_frame.toFixed(2).padStart(6)} ms  [${m.runs_ms_per_frame.join(', ')}]  ${how}\n`);
      }
    }
  }
}
