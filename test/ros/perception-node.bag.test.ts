import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { McapBagWriter, openBag } from '../../src/bag/index.js';
import { MemoryParameterHost } from '../../src/ros/params-host.js';
import { PerceptionNode } from '../../src/ros/perception-node.js';
import { BagTransport } from '../../src/ros/transport/index.js';
import { IMAGE, idle, simFeed } from './fixtures.js';
import { runPerceptionNodeContract, type NodeHarness } from './perception-node.contract.js';

runPerceptionNodeContract({
  name: 'BagTransport (sim time, fast playback)',
  feed: simFeed,
  async create(engine, overrides) {
    const dir = await mkdtemp(join(tmpdir(), 'ap-node-bag-'));
    const { good, bad, framed } = await simFeed();
    // Every frame of every test in one bag; each drive plays just the frames it names.
    const input = join(dir, 'in.mcap');
    const w = await McapBagWriter.open(input, { compression: 'none' });
    await w.addTopic('/front/image_raw', IMAGE);
    for (const f of [...good, ...bad, ...framed].sort((a, b) => (a.timeNs < b.timeNs ? -1 : 1))) await w.write(f.topic, f.timeNs, f.msg);
    await w.close();
    const output = join(dir, 'out.mcap');
    const ref: { node?: PerceptionNode } = {};
    const transport = await BagTransport.open({ input, output, onEvent: (e) => ref.node?.handleTransportEvent(e) });
    const params = new MemoryParameterHost(overrides);
    ref.node = new PerceptionNode({ transport, params, engine });
    const n = ref.node;
    return {
      node: n,
      async drive(feed) {
        for (const f of feed) await transport.play({ rate: 'fast', startNs: f.timeNs, endNs: f.timeNs });
        await idle(() => n.pendingFrames());
      },
      async published() {
        await transport.dispose();
        const reader = await openBag(output);
        const out: { topic: string; msg: unknown }[] = [];
        for await (const m of reader.messages()) out.push({ topic: m.topic, msg: structuredClone(m.msg) });
        await reader.close();
        return out;
      },
      declared: () => params.names(),
      async cleanup() {
        await transport.dispose();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
} satisfies NodeHarness);
