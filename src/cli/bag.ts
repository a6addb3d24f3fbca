import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { openBag } from '../bag/reader.js';
import type { BagInfo } from '../bag/types.js';

export interface BagCommandIo {
  /** Where reports go (stdout by default); errors are thrown for main.ts to print. */
  write(text: string): void;
}

const stdoutIo: BagCommandIo = { write: (text) => process.stdout.write(text) };

/** `adaptive-perception bag info FILE [--json]`, like `ros2 bag info`. */
export function registerBagCommands(program: Command, io: BagCommandIo = stdoutIo): void {
  const bag = program.command('bag').description('inspect MCAP and ROS 1 bags');
  bag
    .command('info')
    .description('print duration, time span, message counts and topics of a bag')
    .argument('<file>', 'an MCAP (.mcap) or ROS 1 (.bag) file')
    .option('--json', 'print machine-readable JSON (times as nanosecond strings)')
    .action(async (file: string, opts: { json?: boolean }) => {
      const reader = await openBag(file);
      let info: BagInfo;
      try {
        info = reader.info();
      } finally {
        await reader.close();
      }
      const sizeBytes = (await stat(file)).size;
      io.write(opts.json ? `${JSON.stringify(bagInfoJson(info, sizeBytes), null, 2)}\n` : formatBagInfo(info, sizeBytes));
    });
}

export function bagInfoJson(info: BagInfo, sizeBytes?: number): Record<string, unknown> {
  return {
    ...info,
    startNs: info.startNs.toString(),
    endNs: info.endNs.toString(),
    durationNs: info.durationNs.toString(),
    ...(sizeBytes !== undefined ? { sizeBytes } : {}),
  };
}

export function formatBagInfo(info: BagInfo, sizeBytes?: number): string {
  const rows: [string, string][] = [
    ['Files', info.path],
    ...(sizeBytes !== undefined ? [['Bag size', formatBytes(sizeBytes)] as [string, string]] : []),
    ['Storage id', info.format],
    ['Duration', `${formatSeconds(info.durationNs)}s`],
    ['Start', formatStamp(info.startNs)],
    ['End', formatStamp(info.endNs)],
    ['Messages', String(info.messageCount)],
    ['Compression', info.compression ?? '-'],
  ];
  if (info.truncated) rows.push(['Warning', 'file is truncated or unindexed; counts cover the readable part']);
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(19)}${v}`);
  const header = ['Topic', 'Type', 'Count'];
  const table = info.topics.map((t) => [t.topic, t.type, String(t.count)]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  lines.push(`Topic information: ${info.topics.length} topic${info.topics.length === 1 ? '' : 's'}`);
  if (table.length > 0) lines.push(`  ${fmt(header)}`, ...table.map((r) => `  ${fmt(r)}`));
  return `${lines.join('\n')}\n`;
}

function formatSeconds(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  return `${neg ? '-' : ''}${abs / 1_000_000_000n}.${(abs % 1_000_000_000n).toString().padStart(9, '0')}`;
}

function formatStamp(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
  return `${iso}.${(ns % 1_000_000_000n).toString().padStart(9, '0')} UTC (${formatSeconds(ns)})`;
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
