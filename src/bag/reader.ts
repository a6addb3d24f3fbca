import { open } from 'node:fs/promises';
import { PerceptionError } from '../core/errors.js';
import { McapBagReader } from './mcap-reader.js';
import { Ros1BagReader } from './ros1-reader.js';
import type { BagReader } from './types.js';

const MCAP_MAGIC = Buffer.from('\x89MCAP0\r\n', 'latin1');
const ROS1_MAGIC = Buffer.from('#ROSBAG V2.0\n', 'latin1');

/** Opens an MCAP or ROS 1 (v2.0) bag, chosen by the file's magic bytes, not its name. */
export async function openBag(path: string): Promise<BagReader> {
  const head = await readHead(path, ROS1_MAGIC.length);
  const starts = (magic: Buffer) => head.length >= magic.length && head.subarray(0, magic.length).equals(magic);
  if (starts(MCAP_MAGIC)) return McapBagReader.open(path);
  if (starts(ROS1_MAGIC)) return Ros1BagReader.open(path);
  const prefixOf = (magic: Buffer) => head.length > 0 && head.length < magic.length && magic.subarray(0, head.length).equals(head);
  if (prefixOf(MCAP_MAGIC) || prefixOf(ROS1_MAGIC)) {
    throw new PerceptionError('BAG_TRUNCATED', `bag ends inside its magic bytes (${head.length} bytes)`, { file: path, offset: head.length });
  }
  throw new PerceptionError('BAG_UNSUPPORTED', 'not an MCAP or ROS 1 v2.0 bag (unrecognised magic bytes)', { file: path });
}

async function readHead(path: string, n: number): Promise<Buffer> {
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(n);
      const { bytesRead } = await fh.read(buf, 0, n, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (cause) {
    throw new PerceptionError('IO', `cannot read bag: ${(cause as Error).message}`, { file: path }, { cause });
  }
}
