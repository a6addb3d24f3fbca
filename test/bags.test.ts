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

  it('stay within 40 MB and are all listed with their command', async () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
    const sizes = await Promise.all(files.map(async (f) => (await stat(join(BAGS, f))).size));
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(40 * 1024 * 1024);
    for (const f of files) {
      expect(readme).toContain(`\`${f}\``);
      expect(readme).toContain(`--out bags/${f}`);
      expect(script).toContain(`--out bags/${f}`);
    }
  });

  it.each(files)('%s opens, decodes every message, and has cameras with ground truth', async (f) => {
    const reader = await openBag(join(BAGS, f));
    try {
      const info = reader.info();
      const roles = info.topics.map((t) => classifyTopic(t.topic, t.type));
      const cameras = roles.filter((r) => r.role === 'camera');
      expect(cameras.length).toBeGreaterThan(0);
      for (const part of ['gt_detections', 'gt_lane', 'gt_depth']) expect(roles.some((r) => r.role === part)).toBe(true);
      let n = 0;
      for await (const _ of reader.messages()) n++;
      expect(n).toBe(info.messageCount);
    } finally {
      await reader.close();
    }
  });
});
