/**
 * One behaviour suite for the perception node, run on every Transport adapter (as
 * test/transport/transport.contract.ts does for the transports themselves). Each adapter's test
 * file supplies a harness that builds a node inside a small world able to feed camera frames
 * and observe what the node publishes.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { Engine } from '../../src/engine/engine.js';
import { timeToNs, type Image } from '../../src/msgs/index.js';
import type { DiagnosticArray } from '../../src/ros/diagnostics.js';
import { flattenParams } from '../../src/ros/params.js';
import type { PerceptionNode } from '../../src/ros/perception-node.js';
import type { FeedItem, SimFeed } from './fixtures.js';

export interface NodeRig {
  node: PerceptionNode;
  /** Delivers the feed; resolves once every frame has been handled (run, dropped or rejected). */
  drive(feed: readonly FeedItem[]): Promise<void>;
  /** What an outside observer saw published. Called after the node is shut down. */
  published(): Promise<{ topic: string; msg: unknown }[]>;
  /** Parameter names declared on the underlying node (ROS: the rclnodejs node's table). */
  declared(): string[];
  cleanup(): Promise<void>;
}

export interface NodeHarness {
  name: string;
  /** `overrides` play the part of a params file. */
  create(engine: Engine, overrides?: Record<string, unknown>): Promise<NodeRig>;
  /** Three 160x96 rgb8 frames of the simulated front camera, and one bad frame built from them. */
  feed(): Promise<SimFeed>;
}

const stampOf = (m: unknown) => timeToNs((m as { header: { stamp: { sec: number; nanosec: number } } }).header.stamp);

export function runPerceptionNodeContract(harness: NodeHarness): void {
  describe(`PerceptionNode: ${harness.name}`, () => {
    let engine: Engine;
    let rig: NodeRig | undefined;
    let good: FeedItem[];
    let bad: FeedItem[];
    let framed: FeedItem[];
    beforeAll(async () => {
      engine = await Engine.create({ modelDir: 'models/default', providers: ['cpu'], threads: 1 });
      ({ good, bad, framed } = await harness.feed());
    });
    afterAll(() => engine?.dispose());
    const make = async (overrides?: Record<string, unknown>) => {
      rig = await harness.create(engine, overrides);
      await rig.node.configure();
      // The machine is shared and the wall clock runs on (ROS): a generous deadline, so a
      // frame is not dropped as late when another test hogs the CPU. Deadlines are the scheduler's tests.
      expect(rig.node.params.set('cameras.front.budget_ms', 1000).successful).toBe(true);
      await rig.node.activate();
      return rig;
    };
    afterEach(async () => {
      await rig?.node.shutdown();
      await rig?.cleanup();
      rig = undefined;
    });

    it.each([
      ['on the node thread', {}],
      ['in a worker thread', { model_path: 'models/default', inference: 'worker' }],
    ] as const)('results appear on the result topics, stamped with the source frames; diagnostics report per camera and the model (inference %s)', async (where, overrides) => {
      const r = await make(overrides);
      expect(r.node.inferenceThread).toBe(where === 'in a worker thread' ? 'worker' : 'node');
      await r.drive(good);
      const diag = r.node.publishDiagnostics();
      await r.node.shutdown();
      const out = await r.published();
      const stamps = good.map((f) => stampOf(f.msg));
      const on = (topic: string) => out.filter((o) => o.topic === topic);
      expect(on('/front/perception/detections').map((o) => stampOf(o.msg))).toEqual(stamps);
      for (const t of ['lane_mask', 'depth', 'markers', 'latency_ms']) expect(on(`/front/perception/${t}`).length, t).toBe(3);
      expect((on('/front/perception/depth')[0].msg as Image).encoding).toBe('32FC1');
      // Header stamp to publish, on the node's clock: never negative here (the frames are stamped before they are sent).
      for (const o of on('/front/perception/latency_ms')) expect((o.msg as { data: number }).data).toBeGreaterThanOrEqual(0);
      // 3 frames 100 ms apart at most 10 overlays/s: the first two (period 100 ms) at least.
      expect(on('/front/perception/overlay').length).toBeGreaterThanOrEqual(2);
      const markers = on('/front/perception/markers')[0].msg as { markers: { header: { frame_id: string }; action: number }[] };
      expect(markers.markers[0]).toMatchObject({ action: 3, header: { frame_id: 'front_camera_optical_frame' } });
      const published = on('/diagnostics').map((o) => o.msg as DiagnosticArray);
      expect(published.length).toBeGreaterThanOrEqual(1);
      for (const d of [diag, published.at(-1)!]) {
        const cam = d.status.find((s) => s.name === 'perception: camera front')!;
        expect(cam.hardware_id).toBe('/front/image_raw');
        expect(cam.values).toContainEqual({ key: 'frames processed', value: '3' });
        expect(cam.values).toContainEqual({ key: 'input size', value: '160x96 rgb8' });
        const model = d.status.find((s) => s.name === 'perception: model')!;
        expect(model).toMatchObject({ level: 0, hardware_id: `${engine.manifest.name}@${engine.manifest.version}` });
        expect(model.values).toContainEqual({ key: 'execution provider', value: 'cpu' });
      }
    });

    it("results are published in the source image's frame (its header's frame_id), else <camera>_camera_optical_frame", async () => {
      const r = await make({ model_path: 'models/default', inference: 'worker' });
      await r.drive(framed);
      await r.node.shutdown();
      const out = await r.published();
      const frames = (topic: string) => out.filter((o) => o.topic === topic).map((o) => (topic.endsWith('markers') ? (o.msg as { markers: { header: { frame_id: string } }[] }).markers[0].header.frame_id : (o.msg as Image).header.frame_id));
      for (const t of ['detections', 'lane_mask', 'depth', 'markers']) {
        expect(frames(`/front/perception/${t}`), t).toEqual(['camera_color_optical_frame', 'camera_color_optical_frame', 'front_camera_optical_frame']);
      }
      expect(frames('/front/perception/overlay')[0]).toBe('camera_color_optical_frame');
    });

    it('a bad image is counted and reported (WARN or ERROR with the reason); the node keeps running', async () => {
      const r = await make();
      await r.drive([good[0], ...bad, good[1]]);
      expect(r.node.state).toBe('active');
      const diag = r.node.publishDiagnostics();
      const cam = diag.status.find((s) => s.name === 'perception: camera front')!;
      expect(cam.level).toBeGreaterThanOrEqual(1);
      expect(cam.message).toMatch(/rejected: .*(expected at least|not a camera encoding)/);
      expect(cam.values).toContainEqual({ key: 'frames processed', value: '2' });
      await r.node.shutdown();
      const out = await r.published();
      expect(out.filter((o) => o.topic === '/front/perception/detections').length).toBe(2);
    });

    it('a parameter set out of range, or of a restart-only parameter, is refused with the reason; valid sets apply live', async () => {
      const r = await make();
      const p = r.node.params;
      const budget = p.set('cameras.front.budget_ms', 5000);
      expect(budget.successful).toBe(false);
      expect(budget.reason).toMatch(/cameras\.front\.budget_ms.*5000.*1\.\.1000/);
      expect(p.get('cameras.front.budget_ms')).toBe(1000);
      const cams = p.set('camera_topics', ['/rear/image_raw']);
      expect(cams.successful).toBe(false);
      expect(cams.reason).toMatch(/read-only/);
      const before = r.node.counts().publishers;
      expect(p.set('publish.depth', false).successful).toBe(true);
      expect(r.node.counts().publishers).toBe(before - 1);
      expect(p.set('cameras.front.budget_ms', 900).successful).toBe(true);
      expect(p.set('cameras.front.priority', 7).successful).toBe(true);
      const firm = p.set('deadline_admission', 'firm');
      expect(firm.successful).toBe(false);
      expect(firm.reason).toMatch(/deadline_admission.*expected, high/);
      expect(p.set('deadline_admission', 'high').successful).toBe(true); // a new scheduler, frames keep flowing
      await r.drive(good.slice(0, 2));
      expect(r.node.publishDiagnostics().status[0].values).toContainEqual({ key: 'budget (ms)', value: '900.0' });
      await r.node.shutdown();
      const out = await r.published();
      expect(out.filter((o) => o.topic === '/front/perception/detections').length).toBe(2);
      expect(out.filter((o) => o.topic === '/front/perception/depth').length).toBe(0);
    });

    it('deactivate and cleanup bring the counts back to zero and are idempotent; the node can be configured again', async () => {
      const r = await make();
      expect(r.node.counts().subscriptions).toBeGreaterThan(0);
      expect(r.node.counts().publishers).toBeGreaterThan(0);
      await Promise.all([r.node.deactivate(), r.node.deactivate()]);
      expect(r.node.counts()).toEqual({ subscriptions: 0, publishers: 0 });
      expect(r.node.state).toBe('inactive');
      await r.node.cleanup();
      await r.node.cleanup();
      expect(r.node.state).toBe('unconfigured');
      expect(r.node.engine).toBeUndefined();
      await expect(r.node.activate()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await r.node.configure();
      await r.node.activate();
      await r.drive(good.slice(0, 1));
      await r.node.shutdown();
      await r.node.shutdown();
      expect(r.node.state).toBe('finalized');
      expect(r.node.counts()).toEqual({ subscriptions: 0, publishers: 0 });
    });

    it('every parameter in config/perception.params.yaml is declared by the node', async () => {
      const yaml = parseYaml(readFileSync('config/perception.params.yaml', 'utf8')) as { perception: { ros__parameters: unknown } };
      const values = flattenParams(yaml.perception.ros__parameters);
      // Names only: adaptation stays off here (it would open keys and a channel; test/node/adaptation.test.ts covers it).
      const r = await make({ ...values, 'adaptation.enabled': false });
      const declared = new Set(r.declared());
      for (const name of Object.keys(values)) expect(declared, name).toContain(name);
    });
  });
}
