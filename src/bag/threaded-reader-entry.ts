/**
 * The worker-thread side of ThreadedBagReader (see threaded-reader.ts for the protocol and
 * why): opens the bag with `openBag`, runs one cursor per `iterate`, and posts each decoded
 * message as soon as the consumer has credit for it, with its byte arrays moved.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { toWireError } from '../core/worker-thread.js';
import { openBag } from './reader.js';
import type { FromReader, ReaderInit, ReaderItem, ToReader } from './threaded-reader.js';
import type { BagReader } from './types.js';

const port = parentPort;
if (!port) throw new Error('threaded-reader-entry must run in a worker thread');
const init = workerData as ReaderInit;
const post = (msg: FromReader, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

interface Run {
  credit: number;
  stopped: boolean;
  wake?: () => void;
}

async function main(): Promise<void> {
  let reader: BagReader;
  try {
    reader = await openBag(init.path);
  } catch (err) {
    post({ type: 'fatal', error: toWireError(err) });
    port!.close();
    return;
  }
  const runs = new Map<number, Run>();
  post({ type: 'open', info: reader.info(), format: reader.format });

  port!.on('message', (msg: ToReader) => {
    switch (msg.type) {
      case 'iterate': {
        const run: Run = { credit: msg.credit, stopped: false };
        runs.set(msg.id, run);
        void iterate(reader, msg, run).finally(() => runs.delete(msg.id));
        return;
      }
      case 'credit': {
        const run = runs.get(msg.id);
        if (!run) return;
        run.credit += msg.n;
        run.wake?.();
        return;
      }
      case 'stop': {
        const run = runs.get(msg.id);
        if (!run) return;
        run.stopped = true;
        run.wake?.();
        return;
      }
      case 'close':
        for (const run of runs.values()) {
          run.stopped = true;
          run.wake?.();
        }
        void reader.close().finally(() => port!.close());
        return;
    }
  });
}

async function iterate(reader: BagReader, msg: Extract<ToReader, { type: 'iterate' }>, run: Run): Promise<void> {
  let pendingErrors: ReaderItem[] = [];
  try {
    const messages = reader.messages({
      topics: msg.topics,
      startNs: msg.startNs,
      endNs: msg.endNs,
      onError: msg.reportErrors ? (err) => pendingErrors.push({ e: toWireError(err) }) : undefined,
    });
    for await (const m of messages) {
      const items = pendingErrors;
      pendingErrors = [];
      const transfer = new Set<ArrayBuffer>();
      items.push({ m: { ...m, msg: movable(m.msg, transfer) } });
      while (run.credit <= 0 && !run.stopped) await new Promise<void>((r) => (run.wake = r));
      if (run.stopped) return;
      run.credit -= items.length;
      post({ type: 'items', id: msg.id, items }, [...transfer]);
    }
    if (run.stopped) return;
    if (pendingErrors.length > 0) post({ type: 'items', id: msg.id, items: pendingErrors });
    post({ type: 'end', id: msg.id });
  } catch (err) {
    if (run.stopped) return;
    if (pendingErrors.length > 0) post({ type: 'items', id: msg.id, items: pendingErrors });
    post({ type: 'end', id: msg.id, error: toWireError(err) });
  }
}

/**
 * A copy of a decoded message whose typed arrays each own their buffer, collected for
 * transfer. Readers hand out views into a shared chunk buffer; structured cloning a view
 * copies its whole buffer (every message of the chunk), and transferring it would detach the
 * chunk under the messages still to come, so views are cut out first (one memcpy).
 */
function movable(value: unknown, transfer: Set<ArrayBuffer>): unknown {
  if (value instanceof DataView) return new DataView(new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice().buffer);
  if (ArrayBuffer.isView(value)) {
    const v = value as Uint8Array;
    const owns = v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && v.buffer instanceof ArrayBuffer && !transfer.has(v.buffer);
    const ctor = (Buffer.isBuffer(v) ? Uint8Array : v.constructor) as new (a: ArrayLike<number>) => Uint8Array;
    const own = owns && !Buffer.isBuffer(v) ? v : new ctor(v);
    transfer.add(own.buffer as ArrayBuffer);
    return own;
  }
  if (Array.isArray(value)) return value.map((x) => movable(x, transfer));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(value)) out[k] = movable(x, transfer);
    return out;
  }
  return value;
}

main().catch((err: unknown) => post({ type: 'fatal', error: toWireError(err) }));
