import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerBagCommands } from '../cli/bag.js';
import { McapBagWriter } from './mcap-writer.js';
import { fixtureMessages, withTmp, writeAll } from '../../test/support/bag.js';

async function run(args: string[]): Promise<string> {
  let out = '';
  const program = new Command('adaptive-perception').exitOverride();
  registerBagCommands(program, { write: (t) => (out += t) });
  await program.parseAsync(args, { from: 'user' });
  return out;
}

describe('bag info', () => {
  it('prints the summary and a topic table, or JSON', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'x.mcap');
      await writeAll(await McapBagWriter.open(path), fixtureMessages());
      const text = await run(['bag', 'info', path]);
      expect(text).toContain(`Files:             ${path}`);
      expect(text).toContain('Storage id:        mcap');
      expect(text).toContain('Duration:          0.200000002s');
      expect(text).toContain('Messages:          15');
      expect(text).toContain('Compression:       zstd');
      expect(text).toMatch(/\/gt\/cam\/detections\s+vision_msgs\/msg\/Detection2DArray\s+3/);
      const json = JSON.parse(await run(['bag', 'info', path, '--json']));
      expect(json).toMatchObject({ format: 'mcap', messageCount: 15, durationNs: '200000002' });
      expect(json.topics).toHaveLength(5);
    }));

  it('throws a PerceptionError naming the file for a bad bag', () =>
    withTmp(async (dir) => {
      const path = join(dir, 'junk.bag');
      await writeFile(path, 'not a bag at all');
      await expect(run(['bag', 'info', path])).rejects.toMatchObject({ code: 'BAG_UNSUPPORTED', context: { file: path } });
    }));
});
