import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openBag } from '../src/bag/reader.js';
import { classifyTopic } from '../src/msgs/topics.js';

const BAGS = resolve(import.meta.dirname, '..', 'bags');

describe('committed bags', async () => {
  const files = (await readdir(BAGS)).filter((f) => f.endsWith('.mcap') || f.endsWith('.bag')).sort();
  const readme = await readFile(join(BAGS, 'README.md'), 'utf8');
  const script = await readFile(join(BAGS, 'generate.sh'), 'utf8');

  // Synthetic bags come from generate.sh and carry all three kinds of ground truth; real-frame
  // bags come from their own script under bags/ and carry the labels their source has.
  const synthetic = files.filter((f) => script.includes(`--out bags/${f}`));
  const real = files.filter((f) => !synthetic.includes(f));

  it('stay within 40 MB and are all listed with their command', async () => {
    expect(synthetic.length).toBeGreaterThanOrEqual(7);
    const sizes = await Promise.all(files.map(async (f) => (await stat(join(BAGS, f))).size));
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(40 * 1024 * 1024);
    for (const f of files) {
      expect(readme).toContain(`\`${f}\``);
      expect(readme).toContain(`--out bags/${f}`);
    }
    for (const f of real) {
      // The README's command for it names a script that is in bags/.
      const line = readme.split('\n').find((l) => l.includes(`--out bags/${f}`))!;
      const scriptName = /bags\/([\w.-]+\.(?:ts|sh|py))/.exec(line)?.[1];
      expect(scriptName, `${f}: the README's command names a script in bags/`).toBeDefined();
      await expect(stat(join(BAGS, scriptName!))).resolves.toBeDefined();
    }
  });

  it.each(files)('%s opens, decodes every message, and has cameras with ground truth', async (f) => {
    const reader = await openBag(join(BAGS, f));
    try {
      const info = reader.info();
      const roles = info.topics.map((t) => classifyTopic(t.topic, t.type));
      const cameras = roles.filter((r) => r.role === 'camera');
      expect(cameras.length).toBeGreaterThan(0);
      const parts = ['gt_detections', 'gt_lane', 'gt_depth'].filter((part) => roles.some((r) => r.role === part));
      if (synthetic.includes(f)) expect(parts).toEqual(['gt_detections', 'gt_lane', 'gt_depth']);
      else expect(parts.length, `${f}: at least one kind of ground truth`).toBeGreaterThan(0);
      let n = 0;
      for await (const _ of reader.messages()) n++;
      expect(n).toBe(info.messageCount);
    } finally {
      await reader.close();
    }
  });
});
