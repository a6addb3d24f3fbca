import type { MessageDefinition, MessageDefinitionField } from '@foxglove/message-definition';
import { PerceptionError, isPerceptionError, type ErrorContext } from '../../core/errors.js';
import { codecFor } from '../../msgs/index.js';

/**
 * Checks that a message object has the shape of its ROS 2 type, field by field, before a handler
 * sees it: a middleware, a bag or a buggy peer can hand over something else, and a handler that
 * finds `undefined` where a header should be would throw deep inside the core. Primitive arrays
 * are checked for kind only (never walked: an image is megabytes). Throws
 * PerceptionError('MESSAGE_DECODE') naming the field path; 'UNKNOWN_MESSAGE_TYPE' for a type we
 * have no definition of.
 */
export function conformMessage(type: string, msg: unknown, ctx: ErrorContext = {}): void {
  const defs = codecFor(type).definitions;
  const byName = new Map<string, MessageDefinition>();
  for (const d of defs) if (d.name) byName.set(d.name, d);
  const root = defs[0];
  checkStruct(root, msg, 'msg', byName, ctx);
}

/** Same as `conformMessage`, but answers with the error instead of throwing it. */
export function conformError(type: string, msg: unknown, ctx: ErrorContext = {}): PerceptionError | undefined {
  try {
    conformMessage(type, msg, ctx);
    return undefined;
  } catch (err) {
    if (isPerceptionError(err)) return err;
    return new PerceptionError('MESSAGE_DECODE', `message check failed: ${(err as Error).message}`, ctx, { cause: err });
  }
}

const NUMERIC = new Set(['byte', 'char', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64']);

function checkStruct(def: MessageDefinition, value: unknown, path: string, byName: Map<string, MessageDefinition>, ctx: ErrorContext): void {
  if (typeof value !== 'object' || value === null) throw bad(`${path} is ${describe(value)}, expected a ${def.name ?? 'message'}`, path, ctx);
  const obj = value as Record<string, unknown>;
  for (const field of def.definitions) {
    if (field.isConstant) continue;
    checkField(field, obj[field.name], `${path}.${field.name}`, byName, ctx);
  }
}

function checkField(field: MessageDefinitionField, value: unknown, path: string, byName: Map<string, MessageDefinition>, ctx: ErrorContext): void {
  if (field.isArray) {
    if (field.isComplex) {
      if (!Array.isArray(value)) throw bad(`${path} is ${describe(value)}, expected an array`, path, ctx);
      const def = lookup(field.type, byName, path, ctx);
      value.forEach((v, i) => checkStruct(def, v, `${path}[${i}]`, byName, ctx));
      return;
    }
    // uint8[] must be bytes (rclnodejs with enableTypedArray and our CDR reader both give Uint8Array).
    const ok = field.type === 'uint8' || field.type === 'byte' ? value instanceof Uint8Array : Array.isArray(value) || ArrayBuffer.isView(value);
    if (!ok) throw bad(`${path} is ${describe(value)}, expected ${field.type}[]`, path, ctx);
    return;
  }
  if (field.isComplex) return checkStruct(lookup(field.type, byName, path, ctx), value, path, byName, ctx);
  checkPrimitive(field.type, value, path, ctx);
}

function checkPrimitive(type: string, value: unknown, path: string, ctx: ErrorContext): void {
  let ok: boolean;
  if (NUMERIC.has(type)) ok = typeof value === 'number' || typeof value === 'bigint';
  else if (type === 'bool') ok = typeof value === 'boolean' || value === 0 || value === 1;
  else if (type === 'string' || type === 'wstring') ok = typeof value === 'string';
  else if (type === 'time' || type === 'duration') {
    const t = value as { sec?: unknown; nanosec?: unknown; nsec?: unknown } | null;
    ok = typeof t === 'object' && t !== null && typeof t.sec === 'number' && (typeof t.nanosec === 'number' || typeof t.nsec === 'number');
  } else ok = true; // a primitive we do not know: let the serializer judge
  if (!ok) throw bad(`${path} is ${describe(value)}, expected ${type}`, path, ctx);
}

function lookup(type: string, byName: Map<string, MessageDefinition>, path: string, ctx: ErrorContext): MessageDefinition {
  const def = byName.get(type);
  if (!def) throw new PerceptionError('UNKNOWN_MESSAGE_TYPE', `no definition for ${type} at ${path}`, { ...ctx, field: path });
  return def;
}

function bad(message: string, path: string, ctx: ErrorContext): PerceptionError {
  return new PerceptionError('MESSAGE_DECODE', `message does not match its type: ${message}`, { ...ctx, field: path });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v).slice(0, 20)}`;
}
