import { afterEach, describe, expect, it } from 'vitest';
import { isPerceptionError } from '../../core/errors.js';
import { ChannelClient, ChannelServer } from './channel.js';
import { DEFAULT_LIMITS, TO_LEARNER, TO_PERCEPTION, decodeMessage, encodeMessage, type ToLearner, type ToPerception } from './channel-codec.js';
import { generateCurveKeys } from './keys.js';

const serverKeys = generateCurveKeys();
const learnerKeys = generateCurveKeys();
const strangerKeys = generateCurveKeys();
const LOCAL = { uplink: 'tcp://127.0.0.1:*', downlink: 'tcp://127.0.0.1:*' };

const open: { close(): Promise<void>; closed: boolean }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function serve(log: string[] = []) {
  const got: ToPerception[] = [];
  const server = await ChannelServer.bind({ endpoints: LOCAL, keys: serverKeys, allowedClients: [learnerKeys.publicKey], onMessage: (m) => got.push(m), log: (l) => log.push(l) });
  open.push(server);
  return { server, got, log };
}
function client(endpoints: { uplink: string; downlink: string }, keys = learnerKeys, serverKey = serverKeys.publicKey, sendTimeoutMs = 3000) {
  const got: ToLearner[] = [];
  const c = ChannelClient.connect({ endpoints, keys, serverKey, onMessage: (m) => got.push(m), sendTimeoutMs });
  open.push(c);
  return { c, got };
}

describe('channel codec', () => {
  it('round-trips every kind, tensors as binary frames', () => {
    const feat = Float32Array.from({ length: 24 }, (_, i) => i / 3);
    const sample: ToLearner = { kind: 'sample', id: 's1', camera: 'front', stampNs: 1700000000123456789n, reasons: ['uncertain'], tensors: { det_feat: { dtype: 'float32', shape: [1, 2, 3, 4], data: feat } }, info: { score: 0.4 } };
    const frames = encodeMessage(sample);
    expect(frames).toHaveLength(2);
    expect(frames[1].length).toBe(96);
    const back = decodeMessage(frames, TO_LEARNER);
    expect(back).toEqual(sample);
    for (const m of [{ kind: 'slack', grantMs: 250 }, { kind: 'pause' }, { kind: 'label', camera: 'c', stampNs: 5n, label: { boxes: [] } }, { kind: 'serving', version: 3, reason: 'swapped from v2' }, { kind: 'serving', version: 0 }] as ToLearner[]) {
      expect(decodeMessage(encodeMessage(m), TO_LEARNER)).toEqual(m);
    }
    const bundle: ToPerception = { kind: 'bundle', version: 4, bytes: Uint8Array.of(1, 2, 3) };
    expect(decodeMessage(encodeMessage(bundle), TO_PERCEPTION)).toEqual(bundle);
  });

  it('refuses wrong direction, oversize, and lying shapes', () => {
    const bad = (frames: Uint8Array[], re: RegExp, accept = TO_PERCEPTION, limits = DEFAULT_LIMITS) => {
      let err: unknown;
      try {
        decodeMessage(frames, accept, limits);
      } catch (e) {
        err = e;
      }
      expect(isPerceptionError(err, 'MESSAGE_DECODE'), String(err)).toBe(true);
      expect(String(err)).toMatch(re);
    };
    bad(encodeMessage({ kind: 'pause' }), /kind "pause" is not accepted here/);
    bad(encodeMessage({ kind: 'bundle', version: 1, bytes: new Uint8Array(100) }), /frame 1 is 100 bytes, at most 10/, TO_PERCEPTION, { ...DEFAULT_LIMITS, maxFrameBytes: 10 });
    const [h] = encodeMessage({ kind: 'bundle', version: 1, bytes: new Uint8Array(4) });
    bad([h, new Uint8Array(3)], /needs 4 bytes, its frame has 3/);
    bad([h], /one entry per binary frame/);
    bad([Buffer.from('{nope')], /not JSON/);
  });
});

describe('ZeroMQ channel with CURVE', () => {
  it('an allowed learner and perception exchange messages both ways; close is idempotent', async () => {
    const { server, got } = await serve();
    const { c, got: down } = client(server.endpoints);
    await c.send({ kind: 'status', state: 'training', version: 2 });
    await c.send({ kind: 'bundle', version: 3, bytes: new Uint8Array(1000).fill(9) });
    await until(() => got.length === 2);
    expect(got[0]).toEqual({ kind: 'status', state: 'training', version: 2 });
    expect(got[1].kind === 'bundle' && got[1].bytes.length).toBe(1000);
    // The downlink is connected once the learner's CURVE handshake is done; until then perception drops.
    const end = Date.now() + 3000;
    while (!(await server.send({ kind: 'slack', grantMs: 100 })) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await until(() => down.length > 0);
    expect(down[0]).toEqual({ kind: 'slack', grantMs: 100 });
    await Promise.all([server.close(), server.close(), c.close(), c.close()]);
    expect(server.closed && c.closed).toBe(true);
  });

  it('perception never waits: with no learner a downlink message is dropped and counted', async () => {
    const { server } = await serve();
    expect(await server.send({ kind: 'pause' })).toBe(false);
    expect(server.stats.dropped).toBe(1);
  });

  it('a send that may wait (the reference set) waits for the learner, and only that send', async () => {
    const { server } = await serve();
    const waited = server.send({ kind: 'slack', grantMs: 7 }, { waitMs: 5000 });
    await new Promise((r) => setTimeout(r, 50));
    const { got: down } = client(server.endpoints); // connects after the send started
    expect(await waited).toBe(true);
    await until(() => down.length > 0);
    expect(down[0]).toEqual({ kind: 'slack', grantMs: 7 });
    // The wait was for that message only: the next one without a wait does not block.
    const { server: lonely } = await serve();
    const t0 = Date.now();
    expect(await lonely.send({ kind: 'pause' }, { waitMs: 100 })).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    const t1 = Date.now();
    expect(await lonely.send({ kind: 'pause' })).toBe(false);
    expect(Date.now() - t1).toBeLessThan(50);
    expect(lonely.stats.dropped).toBe(2);
  });

  it('a learner whose key is not on the allow-list is refused, logged once, and its message never arrives', async () => {
    const { server, got, log } = await serve();
    const { c } = client(server.endpoints, strangerKeys, serverKeys.publicKey, 300);
    await expect(c.send({ kind: 'bundle', version: 9, bytes: new Uint8Array(8) })).rejects.toThrow(/send of a bundle message failed/);
    await until(() => log.some((l) => l.includes(strangerKeys.publicKey)));
    expect(log.filter((l) => l.includes('rejected learner'))).toHaveLength(1);
    expect(log[0]).toMatch(/CURVE key .* is not on the allow-list/);
    // The allowed learner still gets through, and only its message arrives.
    const { c: good } = client(server.endpoints);
    await good.send({ kind: 'status', state: 'idle' });
    await until(() => got.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([{ kind: 'status', state: 'idle' }]);
    expect(server.stats.rejectedPeers).toBeGreaterThan(0);
  });

  it('a client holding the wrong server key fails the handshake and is logged', async () => {
    const { server, got, log } = await serve();
    const { c } = client(server.endpoints, learnerKeys, strangerKeys.publicKey, 300);
    await expect(c.send({ kind: 'status', state: 'x' })).rejects.toThrow(/failed/);
    await until(() => log.some((l) => /CURVE handshake failed/.test(l)));
    expect(got).toEqual([]);
  });
});
