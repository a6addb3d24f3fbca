import { Context, Pull, Push, Router, type Socket } from 'zeromq';
import { PerceptionError } from '../../core/errors.js';
import {
  DEFAULT_LIMITS,
  TO_LEARNER,
  TO_PERCEPTION,
  decodeMessage,
  encodeMessage,
  type ChannelLimits,
  type ToLearner,
  type ToPerception,
} from './channel-codec.js';
import { z85Decode, z85Encode, type CurveKeys } from './keys.js';

/**
 * The learner ↔ perception data plane over ZeroMQ, CURVE-encrypted and authenticated.
 *
 * Topology: perception is the long-lived server and binds two sockets; learners connect.
 *   uplink    learner PUSH → perception PULL   bundle, status
 *   downlink  perception PUSH → learner PULL   sample, label, slack, pause
 * PUSH/PULL rather than ROUTER/DEALER: each direction has one fixed set of kinds, and
 * perception can send before a learner has said anything. Perception sends with a zero
 * timeout: with no (authenticated) learner, or a full queue, the message is dropped and
 * counted, so no frame ever waits for the learner. One learner per perception (PUSH to
 * several would round-robin the samples).
 *
 * Security: both server sockets are CURVE servers. A ZAP handler (ZeroMQ RFC 27, a ROUTER on
 * `inproc://zeromq.zap.01` in the server's own context) admits only client public keys on the
 * allow-list, answering 200 or 400; a rejected key is logged once per key and counted. A
 * client with the wrong server key fails the CURVE handshake itself; that is logged too.
 * Every incoming frame is size-bounded by libzmq (ZMQ_MAXMSGSIZE) and again by the decoder.
 */
export interface ChannelEndpoints {
  /** Learner → perception, e.g. `tcp://127.0.0.1:5601` or `ipc:///run/ap/up`. */
  readonly uplink: string;
  /** Perception → learner. */
  readonly downlink: string;
}

export type ChannelLog = (line: string) => void;

export interface ChannelServerOptions {
  /** Where to bind; `tcp://127.0.0.1:*` picks a free port (see `ChannelServer.endpoints`). */
  readonly endpoints: ChannelEndpoints;
  readonly keys: CurveKeys;
  /** CURVE public keys (Z85) of the learners allowed in. */
  readonly allowedClients: readonly string[];
  readonly onMessage: (msg: ToPerception) => void;
  readonly limits?: Partial<ChannelLimits>;
  readonly log?: ChannelLog;
}

export interface ChannelClientOptions {
  readonly endpoints: ChannelEndpoints;
  readonly keys: CurveKeys;
  /** The server's CURVE public key (Z85). */
  readonly serverKey: string;
  readonly onMessage: (msg: ToLearner) => void;
  readonly limits?: Partial<ChannelLimits>;
  readonly log?: ChannelLog;
  /** How long `send` may wait for the server (default 5000 ms). */
  readonly sendTimeoutMs?: number;
}

export interface ChannelStats {
  received: number;
  sent: number;
  /** Downlink messages dropped because no learner was connected or its queue was full. */
  dropped: number;
  /** Incoming messages that failed decoding. */
  malformed: number;
  /** Connection attempts refused by the ZAP handler or the CURVE handshake. */
  rejectedPeers: number;
}

const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

export class ChannelServer {
  readonly stats: ChannelStats = { received: 0, sent: 0, dropped: 0, malformed: 0, rejectedPeers: 0 };
  private closing: Promise<void> | undefined;
  private sendChain: Promise<unknown> = Promise.resolve();
  private readonly loops: Promise<void>[] = [];
  private readonly loggedKeys = new Set<string>();

  private constructor(
    private readonly zap: Router,
    private readonly up: Pull,
    private readonly down: Push,
    private readonly opts: ChannelServerOptions,
    private readonly limits: ChannelLimits,
  ) {}

  /** Binds the ZAP handler and both sockets; nothing is reachable before the handler runs. */
  static async bind(opts: ChannelServerOptions): Promise<ChannelServer> {
    const allowed = new Set(opts.allowedClients.map((k) => checkKey(k, 'allowedClients')));
    checkKey(opts.keys.publicKey, 'keys.publicKey');
    checkKey(opts.keys.secretKey, 'keys.secretKey');
    const limits = { ...DEFAULT_LIMITS, ...opts.limits };
    // A context of our own: the ZAP endpoint is per context, and two servers in one process
    // (tests, several cameras) must not share or fight over it.
    const context = new Context();
    const base = { context, linger: 0 };
    const curve = { ...base, curveServer: true, curveSecretKey: opts.keys.secretKey, curvePublicKey: opts.keys.publicKey, zapDomain: 'adaptive-perception', maxMessageSize: frameCap(limits) };
    const zap = new Router(base);
    const up = new Pull({ ...curve, receiveHighWaterMark: 100 });
    const down = new Push({ ...curve, immediate: true, sendTimeout: 0, sendHighWaterMark: 100 });
    const server = new ChannelServer(zap, up, down, opts, limits);
    try {
      await zap.bind(ZAP_ENDPOINT);
      server.loops.push(server.zapLoop(allowed));
      server.watchHandshakes(up, 'uplink');
      server.watchHandshakes(down, 'downlink');
      await up.bind(opts.endpoints.uplink);
      await down.bind(opts.endpoints.downlink);
    } catch (cause) {
      await server.close();
      throw new PerceptionError('IO', `channel cannot bind: ${(cause as Error).message}`, { field: 'endpoints' }, { cause });
    }
    server.loops.push(server.receiveLoop());
    return server;
  }

  /** The bound addresses (with the ports picked for `:*`). */
  get endpoints(): ChannelEndpoints {
    return { uplink: this.up.lastEndpoint ?? this.opts.endpoints.uplink, downlink: this.down.lastEndpoint ?? this.opts.endpoints.downlink };
  }

  /**
   * Queues a message for the learner without waiting for it. False (and counted as dropped)
   * when no authenticated learner is connected or its queue is full. `waitMs` > 0 waits up to
   * that long for room instead (a burst that must arrive whole, such as the old-domain
   * reference set at start-up, sent faster than the learner stores it); frames never wait so.
   */
  send(msg: ToLearner, opts: { waitMs?: number } = {}): Promise<boolean> {
    if (this.closing) return Promise.resolve(false);
    const frames = encodeMessage(msg);
    const waitMs = opts.waitMs ?? 0;
    const p = this.sendChain.then(async () => {
      // Sends are chained, so a timeout set for this one cannot leak into another.
      if (waitMs > 0) this.down.sendTimeout = waitMs;
      try {
        await this.down.send(frames);
        this.stats.sent++;
        return true;
      } catch {
        this.stats.dropped++;
        return false;
      } finally {
        if (waitMs > 0 && !this.down.closed) this.down.sendTimeout = 0;
      }
    });
    this.sendChain = p;
    return p;
  }

  get closed(): boolean {
    return this.up.closed && this.down.closed && this.zap.closed;
  }

  /** Closes all three sockets and waits for the loops to end. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Data sockets first: a handshake in progress must not find the ZAP handler gone and
      // fall back to admitting the peer.
      this.up.close();
      this.down.close();
      this.zap.close();
      await Promise.allSettled(this.loops);
    })();
    return this.closing;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private async zapLoop(allowed: Set<string>): Promise<void> {
    try {
      for await (const frames of this.zap) {
        // [routing id, empty, version, request id, domain, address, identity, mechanism, credentials…]
        const [rid, empty, version, requestId, , address, , mechanism, credential] = frames;
        const key = mechanism?.toString() === 'CURVE' && credential?.length === 32 ? z85Encode(credential) : undefined;
        const ok = version?.toString() === '1.0' && key !== undefined && allowed.has(key);
        if (!ok) {
          this.stats.rejectedPeers++;
          const who = key ?? `mechanism ${mechanism?.toString() ?? '?'}`;
          if (!this.loggedKeys.has(who)) {
            this.loggedKeys.add(who);
            this.log(`channel: rejected learner at ${address?.toString() || '?'}: CURVE key ${who} is not on the allow-list (further attempts counted, not logged)`);
          }
        }
        const status = ok ? ['200', 'OK'] : ['400', 'client key not allowed'];
        await this.zap.send([rid, empty, '1.0', requestId ?? '', ...status, ok ? (key as string) : '', '']);
      }
    } catch (err) {
      if (!this.closing) this.log(`channel: ZAP handler stopped: ${(err as Error).message}`);
    }
  }

  private watchHandshakes(socket: Socket, name: string): void {
    const failed = (why: string) => (e: { address: string; error: Error }) => {
      this.stats.rejectedPeers++;
      const k = `${name}:${why}`;
      if (this.loggedKeys.has(k)) return;
      this.loggedKeys.add(k);
      this.log(`channel: rejected a peer on the ${name} (${e.address}): CURVE handshake failed (${why}: ${e.error.message}); wrong server key or not a CURVE client (further failures counted, not logged)`);
    };
    socket.events.on('handshake:error:protocol', failed('protocol'));
    socket.events.on('handshake:error:other', failed('other'));
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.up) {
        let msg: ToPerception;
        try {
          msg = decodeMessage(frames, TO_PERCEPTION, this.limits) as ToPerception;
        } catch (err) {
          this.stats.malformed++;
          this.log(`channel: dropped a malformed uplink message: ${(err as Error).message}`);
          continue;
        }
        this.stats.received++;
        try {
          this.opts.onMessage(msg);
        } catch (err) {
          this.log(`channel: onMessage threw on a ${msg.kind} message: ${(err as Error).message}`);
        }
      }
    } catch (err) {
      if (!this.closing) this.log(`channel: uplink receive stopped: ${(err as Error).message}`);
    }
  }
}

/** The learner's end: connects to a ChannelServer. */
export class ChannelClient {
  readonly stats: ChannelStats = { received: 0, sent: 0, dropped: 0, malformed: 0, rejectedPeers: 0 };
  private closing: Promise<void> | undefined;
  private sendChain: Promise<unknown> = Promise.resolve();
  private loop: Promise<void> = Promise.resolve();

  private constructor(
    private readonly up: Push,
    private readonly down: Pull,
    private readonly opts: ChannelClientOptions,
    private readonly limits: ChannelLimits,
  ) {}

  static connect(opts: ChannelClientOptions): ChannelClient {
    const limits = { ...DEFAULT_LIMITS, ...opts.limits };
    checkKey(opts.serverKey, 'serverKey');
    const curve = { linger: 0, immediate: true, curveServerKey: opts.serverKey, curvePublicKey: opts.keys.publicKey, curveSecretKey: opts.keys.secretKey, maxMessageSize: frameCap(limits) };
    const up = new Push({ ...curve, sendTimeout: opts.sendTimeoutMs ?? 5000, sendHighWaterMark: 100 });
    const down = new Pull({ ...curve, receiveHighWaterMark: 1000 });
    up.connect(opts.endpoints.uplink);
    down.connect(opts.endpoints.downlink);
    const client = new ChannelClient(up, down, opts, limits);
    client.loop = client.receiveLoop();
    return client;
  }

  /** Sends to perception; rejects with IO if the server does not take it within sendTimeoutMs. */
  send(msg: ToPerception): Promise<void> {
    if (this.closing) return Promise.reject(new PerceptionError('IO', 'channel client is closed'));
    const frames = encodeMessage(msg);
    const p = this.sendChain.then(async () => {
      try {
        await this.up.send(frames);
        this.stats.sent++;
      } catch (cause) {
        this.stats.dropped++;
        throw new PerceptionError('IO', `channel send of a ${msg.kind} message failed: ${(cause as Error).message}`, { field: msg.kind }, { cause });
      }
    });
    this.sendChain = p.catch(() => undefined);
    return p;
  }

  get closed(): boolean {
    return this.up.closed && this.down.closed;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.up.close();
      this.down.close();
      await Promise.allSettled([this.loop, this.sendChain]);
    })();
    return this.closing;
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.down) {
        let msg: ToLearner;
        try {
          msg = decodeMessage(frames, TO_LEARNER, this.limits) as ToLearner;
        } catch (err) {
          this.stats.malformed++;
          this.opts.log?.(`channel: dropped a malformed downlink message: ${(err as Error).message}`);
          continue;
        }
        this.stats.received++;
        try {
          this.opts.onMessage(msg);
        } catch (err) {
          this.opts.log?.(`channel: onMessage threw on a ${msg.kind} message: ${(err as Error).message}`);
        }
      }
    } catch (err) {
      if (!this.closing) this.opts.log?.(`channel: downlink receive stopped: ${(err as Error).message}`);
    }
  }
}

function checkKey(key: string, field: string): string {
  if (typeof key !== 'string' || key.length !== 40 || z85Decode(key) === undefined) {
    throw new PerceptionError('INVALID_CONFIG', `${field} must be a 40-character Z85 CURVE key`, { field });
  }
  return key;
}

// libzmq checks ZMQ_MAXMSGSIZE per frame, before allocating it: the cheapest place to refuse an absurd size.
const frameCap = (l: ChannelLimits) => Math.max(l.maxFrameBytes, l.maxHeaderBytes);
