/**
 * rclnodejs 2.2 serialises a typed array from the start of its backing ArrayBuffer for the
 * array's length, ignoring the view's offset (checked live: `new Uint8Array([1..8]).subarray(4)`
 * arrives as 1,2,3,4; a small Node Buffer, which sits inside a shared 8 KiB pool, arrives as
 * whatever precedes it in the pool). Views are everywhere here: Buffer.slice of a signed bundle,
 * per-camera views of one batched model output. So every message goes out through this: typed
 * arrays that do not span their whole buffer are copied; everything else is passed as is.
 *
 * The caller's message is never mutated: objects on the path to a copied array are shallow-copied.
 */
export function withWholeBuffers<T>(msg: T): T {
  return fix(msg, 0) as T;
}

const MAX_DEPTH = 32;

function fix(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (ArrayBuffer.isView(value)) {
    if (value instanceof DataView) return value;
    const view = value as unknown as { byteOffset: number; byteLength: number; buffer: ArrayBufferLike; slice(): unknown };
    const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
    // slice() on a Buffer is a view again; copy through the typed-array constructor instead.
    return whole ? value : copyView(value as unknown as TypedArray);
  }
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = value[i] as unknown;
      const f = fix(v, depth + 1);
      if (f !== v) (out ??= value.slice())[i] = f;
    }
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    const f = fix(v, depth + 1);
    if (f !== v) (out ??= { ...(value as Record<string, unknown>) })[key] = f;
  }
  return out ?? value;
}

type TypedArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array | Uint8ClampedArray;

function copyView(v: TypedArray): TypedArray {
  // A Node Buffer is a Uint8Array subclass whose constructor does not copy: build a plain one.
  const Ctor = (Buffer.isBuffer(v) ? Uint8Array : v.constructor) as new (src: TypedArray) => TypedArray;
  return new Ctor(v);
}
