import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED } from '../../docs/generate.js';
import { nodesReference, replaceBlock } from '../../src/ros/reference.js';
import { LEARNER_PARAMS, PERCEPTION_PARAMS } from '../../src/ros/params.js';

describe('generated node reference', () => {
  it.each(GENERATED.map((g) => [g.file, g.block, g]))('%s (%s) is what `npm run docs` writes from the specs', (_f, _b, g) => {
    const doc = readFileSync(g.file, 'utf8');
    expect(replaceBlock(doc, g.block, g.body()), 'run `npm run docs`').toBe(doc);
  });

  it('lists every parameter with its default and range', () => {
    const ref = nodesReference();
    for (const s of [...PERCEPTION_PARAMS, ...LEARNER_PARAMS]) expect(ref).toContain(`| \`${s.name}\` | ${s.kind} |`);
    expect(ref).toContain('| `overlay.width` | integer | `640` | 64..4096 | live |');
    expect(ref).toContain('| `cameras.CAM.budget_ms` | double | `50` | 1..1000 | live |');
  });

  it('BAD CALL: a document without the markers is refused', () => {
    expect(() => replaceBlock('no markers here', 'x', 'y')).toThrow(/markers <!-- x:begin/);
  });
});
