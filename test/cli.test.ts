import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'adaptive-perception.js');
const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 64 << 20, env: { ...process.env, ADAPTIVE_PERCEPTION_FROM_SOURCE: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('adaptive-perception CLI', () => {
  it('lists its commands', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['sim', 'replay', 'bag', 'dataset']) expect(r.stdout).toContain(c);
  });

  it('replay --json prints the summary on stdout and nothing else', async () => {
    const out = join(dir, 'replay');
    const r = await cli(['replay', 'bags/day_front_ros1.bag', '--out', out, '--json', '--fast']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    for (const k of ['frames', 'processed', 'dropped', 'latency_ms', 'metrics', 'model', 'per_camera']) expect(summary).toHaveProperty(k);
    for (const k of ['p50', 'p90', 'p99', 'max']) expect(typeof summary.latency_ms[k]).toBe('number');
    for (const k of ['det_map50', 'lane_iou', 'drivable_iou', 'depth_absrel', 'depth_delta1']) expect(summary.metrics).toHaveProperty(k);
    expect(summary.frames).toBe(10);
    expect((await stat(join(out, 'report.html'))).size).toBeGreaterThan(1000);
  });

  it('bag info reads MCAP and ROS 1 bags', async () => {
    for (const bag of ['bags/day_4cam.mcap', 'bags/day_front_ros1.bag']) {
      const r = await cli(['bag', 'info', bag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/\/front\/image_raw\/compressed\s+sensor_msgs\/msg\/CompressedImage\s+\d+/);
    }
  });

  it('BAD CALL: bad options and bad files exit non-zero with a message naming what is wrong', async () => {
    const bad = await cli(['sim', '--out', join(dir, 'x.mcap'), '--domain', 'mars']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--domain: unknown value 'mars'/);
    const missing = await cli(['replay', join(dir, 'missing.mcap'), '--out', join(dir, 'o')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/IO: .*missing\.mcap/);
    const notBag = await cli(['bag', 'info', 'README.md']);
    expect(notBag.code).toBe(1);
    expect(notBag.stderr).toMatch(/BAG_UNSUPPORTED: .*file=README\.md/);
    const badFlag = await cli(['replay', 'bags/day_front.mcap', '--adapt', '--flag', 'front@soon', '--out', join(dir, 'o')]);
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toMatch(/INVALID_ARGUMENT: --flag "front@soon": time "soon" is not a number of seconds \(expected CAMERA@SECONDS/);
    const flagAlone = await cli(['replay', 'bags/day_front.mcap', '--flag', 'front@+1', '--out', join(dir, 'o')]);
    expect(flagAlone.code).toBe(1);
    expect(flagAlone.stderr).toMatch(/--flag .* needs --adapt/);
    const admission = await cli(['replay', 'bags/day_front.mcap', '--admission', 'hopeful', '--out', join(dir, 'o')]);
    expect(admission.code).not.toBe(0);
    expect(admission.stderr).toMatch(/--admission/);
    const gateAlone = await cli(['replay', 'bags/day_front.mcap', '--gate-tolerance', '0.005', '--out', join(dir, 'o')]);
    expect(gateAlone.code).toBe(1);
    expect(gateAlone.stderr).toMatch(/--gate-tolerance sets the learner's gate: it needs --adapt/);
    const gateRange = await cli(['learner', '--model', 'models/default', '--keys', dir, '--state', dir, '--uplink', 'tcp://127.0.0.1:1', '--downlink', 'tcp://127.0.0.1:2', '--gate-margin', '2']);
    expect(gateRange.code).not.toBe(0);
    expect(gateRange.stderr).toMatch(/--gate-margin/);
    const cacheRange = await cli(['learner', '--model', 'models/default', '--keys', dir, '--state', dir, '--uplink', 'tcp://127.0.0.1:1', '--downlink', 'tcp://127.0.0.1:2', '--cache-mb', '-5']);
    expect(cacheRange.code).not.toBe(0);
    expect(cacheRange.stderr).toMatch(/--cache-mb/);
    const cacheAlone = await cli(['replay', 'bags/day_front.mcap', '--cache-mb', '256', '--out', join(dir, 'o')]);
    expect(cacheAlone.code).toBe(1);
    expect(cacheAlone.stderr).toMatch(/--cache-mb sizes the learner's memory: it needs --adapt/);
    const teacherAlone = await cli(['replay', 'bags/day_front.mcap', '--adapt', '--teacher', 'package', '--out', join(dir, 'o')]);
    expect(teacherAlone.code).toBe(1);
    expect(teacherAlone.stderr).toMatch(/--teacher chooses the label-free teacher: it needs --adapt --labels teacher or both/);
    const teacherHeads = await cli(['replay', 'bags/day_front.mcap', '--adapt', '--labels', 'teacher', '--teacher-heads', 'seg,lane', '--out', join(dir, 'o')]);
    expect(teacherHeads.code).not.toBe(0);
    expect(teacherHeads.stderr).toMatch(/--teacher-heads must be distinct heads among det, seg, depth, got 'seg,lane'/);
    const teacherModel = await cli(['replay', 'bags/day_front.mcap', '--adapt', '--labels', 'teacher', '--teacher', 'yolo', '--out', join(dir, 'o')]);
    expect(teacherModel.code).not.toBe(0);
    expect(teacherModel.stderr).toMatch(/--teacher must be one of fastestdet, nanodet, centernet, package, got 'yolo'/);
    const heightAlone = await cli(['replay', 'bags/day_front.mcap', '--adapt', '--camera-height', '1.2', '--out', join(dir, 'o')]);
    expect(heightAlone.code).toBe(1);
    expect(heightAlone.stderr).toMatch(/--camera-height chooses the label-free teacher: it needs --adapt --labels teacher or both/);
    const heightRange = await cli(['replay', 'bags/day_front.mcap', '--adapt', '--labels', 'teacher', '--camera-height', '0.05', '--out', join(dir, 'o')]);
    expect(heightRange.code).not.toBe(0);
    expect(heightRange.stderr).toMatch(/--camera-height must be 0 \(off\) or the cameras' height above the road in metres, 0.1..20, got '0.05'/);
    const groundAlone = await cli(['replay', 'bags/day_front.mcap', '--ground-frame', 'base_link', '--out', join(dir, 'o')]);
    expect(groundAlone.code).toBe(1);
    expect(groundAlone.stderr).toMatch(/--ground-frame chooses the label-free teacher: it needs --adapt --labels teacher or both/);
  });
});
