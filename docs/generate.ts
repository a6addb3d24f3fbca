/**
 * `npm run docs`: writes the parts of the documentation that are generated from the code (the
 * nodes' topics and parameters, from the specs the nodes use) into docs/ros.md and README.md,
 * between their `<!-- name:begin … -->` / `<!-- name:end -->` markers. test/ros/reference.test.ts
 * fails when the committed files differ from what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { nodesAtAGlance, nodesReference, replaceBlock } from '../src/ros/reference.js';

export const GENERATED: readonly { file: string; block: string; body: () => string }[] = [
  { file: 'docs/ros.md', block: 'ros-reference', body: nodesReference },
  { file: 'README.md', block: 'nodes-at-a-glance', body: nodesAtAGlance },
];

if (process.argv[1]?.endsWith('generate.ts')) {
  for (const g of GENERATED) {
    const before = readFileSync(g.file, 'utf8');
    const after = replaceBlock(before, g.block, g.body());
    if (after !== before) writeFileSync(g.file, after);
    console.log(`${g.file}: ${g.block} ${after === before ? 'up to date' : 'written'}`);
  }
}
