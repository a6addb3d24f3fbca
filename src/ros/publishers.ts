import type { BagWriter } from '../bag/types.js';
import type { TopicSpec } from './topics.js';
import type { Publisher, Transport } from './transport/types.js';

/**
 * The node's publishers, keyed by the topic as `src/ros/topics.ts` lists it (relative for
 * results, absolute for /diagnostics), and the sink `Perception.publish` writes to: the same
 * call that fills an output bag in replay publishes here. A write to a topic without a
 * publisher (its `publish.*` toggle is off) is skipped, so toggles need nothing from Perception.
 */
export class PublisherSet implements BagWriter {
  readonly #pubs = new Map<string, Publisher>();

  constructor(private readonly transport: Transport) {}

  /** Advertises what `wanted` lists and is missing; disposes what it no longer lists. */
  sync(wanted: readonly TopicSpec[]): void {
    const keep = new Set(wanted.map((s) => s.topic));
    for (const [topic, pub] of this.#pubs) {
      if (!keep.has(topic)) {
        pub.dispose();
        this.#pubs.delete(topic);
      }
    }
    for (const spec of wanted) {
      if (!this.#pubs.has(spec.topic)) this.#pubs.set(spec.topic, this.transport.advertise(spec.topic, spec.type, { qos: spec.qos }));
    }
  }

  has(topic: string): boolean {
    return this.#pubs.has(topic);
  }

  /** Publishes on `topic` if it is advertised; true when it was. */
  publish(topic: string, msg: unknown): boolean {
    const pub = this.#pubs.get(topic);
    pub?.publish(msg);
    return pub !== undefined;
  }

  async addTopic(): Promise<void> {}

  /** The BagWriter face: replay's absolute result names map to the node's relative ones. */
  write(topic: string, _logTimeNs: bigint, msg: unknown): Promise<void> {
    this.publish(topic.replace(/^\//, ''), msg);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.dispose();
  }

  dispose(): void {
    for (const pub of this.#pubs.values()) pub.dispose();
    this.#pubs.clear();
  }
}
