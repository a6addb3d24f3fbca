import { parse } from '@foxglove/rosmsg';
import type { MessageDefinition } from '@foxglove/message-definition';
import { MessageReader, MessageWriter } from '@foxglove/rosmsg2-serialization';
import { PerceptionError } from '../core/errors.js';
import { MESSAGE_TEXT, MSG_SEPARATOR, directDependencies, toRos2Name, toShortName } from './definitions.js';

/** Every type this product knows, as `pkg/msg/Type`. */
export function knownTypes(): string[] {
  return Object.keys(MESSAGE_TEXT);
}

function ownText(type: string): string {
  const text = MESSAGE_TEXT[toRos2Name(type)];
  if (text === undefined) {
    throw new PerceptionError('UNKNOWN_MESSAGE_TYPE', `no message definition for type "${type}"`, { type });
  }
  return text;
}

/** The type and all its dependencies, depth first, each once, the type itself first. */
export function dependencyClosure(type: string): string[] {
  const root = toRos2Name(type);
  const seen: string[] = [];
  const visit = (t: string) => {
    if (seen.includes(t)) return;
    seen.push(t);
    for (const dep of directDependencies(t, ownText(t))) visit(dep);
  };
  visit(root);
  return seen;
}

const fullTextCache = new Map<string, string>();

/**
 * The ros2msg schema text for a type as MCAP's ros2msg profile (and rosbag2) stores it: the
 * type's own fields, then `====…` / `MSG: pkg/Type` sections for every dependency.
 * Throws PerceptionError('UNKNOWN_MESSAGE_TYPE') naming the type.
 */
export function definitionFor(type: string): string {
  const key = toRos2Name(type);
  let text = fullTextCache.get(key);
  if (text === undefined) {
    const [root, ...deps] = dependencyClosure(key);
    text = [ownText(root), ...deps.map((d) => `${MSG_SEPARATOR}\nMSG: ${toShortName(d)}\n${ownText(d)}`)].join('\n');
    fullTextCache.set(key, text);
  }
  return text;
}

export interface Ros2Codec {
  readonly type: string;
  readonly definitions: MessageDefinition[];
  serialize(msg: unknown): Uint8Array;
  /** Zero-copy for `uint8[]` fields: they are views into `bytes`. */
  deserialize(bytes: ArrayBufferView): unknown;
}

/** Builds a CDR codec from schema text (ours or one stored in a bag). */
export function makeRos2Codec(type: string, schemaText: string): Ros2Codec {
  const definitions = parse(schemaText, { ros2: true });
  const writer = new MessageWriter(definitions);
  const reader = new MessageReader(definitions);
  return {
    type,
    definitions,
    serialize: (msg) => writer.writeMessage(msg),
    deserialize: (bytes) => reader.readMessage(bytes),
  };
}

// Building a codec parses text and generates code: once per type, reused for every message.
const codecCache = new Map<string, Ros2Codec>();

/** The cached CDR codec for one of our known types. */
export function codecFor(type: string): Ros2Codec {
  const key = toRos2Name(type);
  let codec = codecCache.get(key);
  if (codec === undefined) {
    codec = makeRos2Codec(key, definitionFor(key));
    codecCache.set(key, codec);
  }
  return codec;
}
