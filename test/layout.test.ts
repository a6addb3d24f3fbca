/**
 * The layout tells the architecture (docs/architecture.md): every import in src/ points down the
 * list of layers below, and no module imports itself back through others. Static and dynamic
 * imports count; type-only imports too (a cycle of types is still a tangle to read).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', 'src');

/** Lower layers first; a folder may import its own layer and the ones above it in this list. */
export const LAYERS: readonly (readonly string[])[] = [
  ['core'],
  ['msgs'],
  ['model', 'bag', 'eval', 'sim', 'scheduler'],
  ['engine'],
  ['pipeline'],
  ['adaptation'],
  ['replay', 'compress'],
  ['ros'],
  ['cli'],
];
const layerOf = (folder: string) => LAYERS.findIndex((l) => l.includes(folder));

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (e.endsWith('.ts') && !e.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => m[1]);
  return specs.map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts'))).map((p) => (p.endsWith('.ts') ? p : join(p, 'index.ts')));
}

const files = sources(SRC);
const graph = new Map(files.map((f) => [f, imports(f).filter((t) => t.startsWith(SRC))]));
const folder = (f: string) => relative(SRC, f).split('/')[0].replace(/\.ts$/, '');

describe('layout', () => {
  it('every src/ folder belongs to a layer', () => {
    expect([...new Set(files.map(folder))].filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it('imports point down the layers (a folder imports its own layer and lower ones only)', () => {
    const up: string[] = [];
    for (const [f, targets] of graph) for (const t of targets) if (layerOf(folder(t)) > layerOf(folder(f))) up.push(`${relative(SRC, f)} → ${relative(SRC, t)}`);
    expect(up).toEqual([]);
  });

  it('shipped code (src/, built into dist/) imports nothing from test/ or bench/', () => {
    const outside = [...files].flatMap((f) => imports(f).filter((t) => !t.startsWith(SRC) && !t.includes('node_modules')).map((t) => `${relative(SRC, f)} → ${relative(SRC, t)}`));
    expect(outside).toEqual([]);
  });

  it('has no import cycles', () => {
    // Tarjan's strongly connected components: any component of two or more files is a cycle.
    let index = 0;
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const on = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string) => {
      idx.set(v, index);
      low.set(v, index++);
      stack.push(v);
      on.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
      if (low.get(v) === idx.get(v)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          on.delete(w);
          comp.push(relative(SRC, w));
        } while (w !== v);
        if (comp.length > 1) cycles.push(comp.sort());
      }
    };
    for (const f of graph.keys()) if (!idx.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
