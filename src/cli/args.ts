import { PerceptionError } from '../core/errors.js';

/** Parsers for CLI option values; each error names the option and the allowed range. */
export function parseIntOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new PerceptionError('INVALID_ARGUMENT', `${name} must be an integer in [${min}, ${max}], got '${value}'`, { field: name });
    }
    return n;
  };
}

export function parseFloatOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new PerceptionError('INVALID_ARGUMENT', `${name} must be a number in [${min}, ${max}], got '${value}'`, { field: name });
    }
    return n;
  };
}

export function parseSize(name: string) {
  return (value: string): { width: number; height: number } => {
    const m = /^(\d+)x(\d+)$/.exec(value.trim());
    const width = m ? Number(m[1]) : NaN;
    const height = m ? Number(m[2]) : NaN;
    if (!m || width < 16 || height < 16 || width > 8192 || height > 8192) {
      throw new PerceptionError('INVALID_ARGUMENT', `${name} must be WxH with each side in [16, 8192], got '${value}'`, { field: name });
    }
    return { width, height };
  };
}

export function parseList<T extends string>(name: string, allowed: readonly T[]) {
  return (value: string): T[] => {
    const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (items.length === 0) throw new PerceptionError('INVALID_ARGUMENT', `${name} must not be empty`, { field: name });
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) {
        throw new PerceptionError('INVALID_ARGUMENT', `${name}: unknown value '${item}' (allowed: ${allowed.join(', ')})`, { field: name });
      }
    }
    if (new Set(items).size !== items.length) {
      throw new PerceptionError('INVALID_ARGUMENT', `${name}: duplicate values in '${value}'`, { field: name });
    }
    return items as T[];
  };
}
