import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isPerceptionError, PerceptionError, type ErrorCode, type ErrorContext } from './errors.js';

/**
 * What the worker threads here (perception, bag reading) share: starting an entry module that
 * may be TypeScript (tests and `tsx` runs) or compiled JavaScript (`dist/`), and carrying
 * PerceptionErrors across the thread boundary with their codes and context intact.
 */

/**
 * Starts `entry` (a URL next to the caller, written with a `.ts` extension) in a worker thread.
 * Compiled, the `.js` twin runs directly; from sources, tsx loads the TypeScript.
 */
export function spawnModuleWorker(entry: URL, workerData: unknown): Worker {
  const compiled = fileURLToPath(entry).endsWith('.js') || !existsSync(fileURLToPath(entry));
  if (compiled) {
    const js = new URL(entry.href.replace(/\.ts$/, '.js'));
    return new Worker(js, { workerData });
  }
  // tsx resolved from here by absolute path, so it loads wherever the process was started.
  // (require.resolve would give its CommonJS build, which cannot load its ESM half from import()).
  const pkgFile = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import?: { default?: string } }> };
  const api = pathToFileURL(join(dirname(pkgFile), pkg.exports['./esm/api']?.import?.default ?? 'dist/esm/api/index.mjs')).href;
  const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(entry.href)}))`;
  return new Worker(code, { eval: true, workerData });
}

/** A thrown value as it crosses a thread: code and context kept for PerceptionErrors. */
export interface WireError {
  code?: ErrorCode;
  message: string;
  context?: ErrorContext;
  stack?: string;
}

export function toWireError(err: unknown): WireError {
  if (isPerceptionError(err)) return { code: err.code, message: err.message, context: { ...err.context }, stack: err.stack };
  const e = err as Error;
  return { message: e?.message ?? String(err), stack: e?.stack };
}

/**
 * Back to a PerceptionError: the original code, message and context when it was one;
 * otherwise `fallback` with the message prefixed by `where`. The stack says which thread.
 */
export function fromWireError(w: WireError, fallback: ErrorCode, where: string): PerceptionError {
  const e = new PerceptionError(w.code ?? fallback, `${where}: ${w.message}`);
  if (w.code) {
    e.message = w.message; // already carries its context, formatted on the other side
    Object.assign(e.context, w.context ?? {});
  }
  if (w.stack) e.stack = `${e.name}: ${e.message}\n    [in ${where}]\n${w.stack.split('\n').slice(1).join('\n')}`;
  return e;
}
