import type { ReplaySummary } from './summary.js';

/**
 * The HTML report a person opens after a replay: self-contained (inline SVG plots and
 * data-URI images), so it can be mailed or archived as one file.
 */
export interface ReportInput {
  summary: ReplaySummary;
  /** Latency histogram buckets (ms). */
  latencyBuckets: Array<{ fromMs: number; count: number }>;
  latencyBucketMs: number;
  /** A strip of overlay frames, PNG-encoded. */
  overlays: Array<{ camera: string; stampS: number; png: Uint8Array }>;
  /** Metric series over bag time, for plots (e.g. adaptation); may be empty. */
  timeline?: Array<{ name: string; points: Array<{ t: number; v: number }> }>;
  /** Vertical markers on the timeline (e.g. weight swaps). */
  markers?: Array<{ t: number; label: string }>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? '—' : v.toFixed(digits));

export function renderReport(input: ReportInput): string {
  const s = input.summary;
  const cams = Object.entries(s.per_camera);
  type Row = readonly [string, number, number, number | undefined, number | undefined, ReplaySummary['metrics']];
  const all: Row[] = [['all', s.processed, s.dropped, s.latency_ms?.p50, s.latency_ms?.p99, s.metrics]];
  const rows = all
    .concat(cams.map(([c, v]): Row => [c, v.processed, v.dropped, v.latency_ms?.p50, v.latency_ms?.p99, v.metrics]))
    .map(
      ([c, processed, dropped, p50, p99, m]) =>
        `<tr><td>${esc(String(c))}</td><td>${processed}</td><td>${dropped}</td><td>${fmt(p50, 2)}</td><td>${fmt(p99, 2)}</td>` +
        `<td>${fmt(m.det_map50)}</td><td>${fmt(m.lane_iou)}</td><td>${fmt(m.drivable_iou)}</td><td>${fmt(m.depth_absrel)}</td><td>${fmt(m.depth_delta1)}</td></tr>`,
    )
    .join('\n');
  const bad = Object.entries(s.bad_frames);
  const badHtml = bad.length === 0 ? '<p>No bad frames.</p>' : `<ul>${bad.map(([k, v]) => `<li>${esc(k)}: ${v}</li>`).join('')}</ul>`;
  const strip = input.overlays
    .map(
      (o) =>
        `<figure><img alt="${esc(o.camera)} overlay" src="data:image/png;base64,${Buffer.from(o.png).toString('base64')}"/>` +
        `<figcaption>${esc(o.camera)} t=${o.stampS.toFixed(2)} s</figcaption></figure>`,
    )
    .join('\n');
  const timeline =
    input.timeline && input.timeline.length > 0
      ? `<h2>Metrics over time</h2>${lineChart(input.timeline, input.markers ?? [])}`
      : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>adaptive_perception replay — ${esc(s.bag)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td:first-child{text-align:left}
.strip{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figure img{max-width:380px;display:block}
figcaption{font-size:12px;color:#555}
</style></head><body>
<h1>Replay report</h1>
<p>Bag <code>${esc(s.bag)}</code> (${s.bag_duration_s.toFixed(1)} s) · model <b>${esc(s.model.name)}</b> ${esc(s.model.version)}
at ${s.model.input_size[0]}×${s.model.input_size[1]} on ${esc(s.model.provider)} · ${s.frames} frames, ${s.processed} processed,
${s.dropped} dropped · wall time ${s.wall_s.toFixed(1)} s</p>
<h2>Per camera</h2>
<table><tr><th>camera</th><th>processed</th><th>dropped</th><th>p50 ms</th><th>p99 ms</th><th>det mAP@0.5</th><th>lane IoU</th><th>drivable IoU</th><th>depth AbsRel</th><th>δ&lt;1.25</th></tr>
${rows}
</table>
<h2>Latency (message in → results ready)</h2>
${histogramChart(input.latencyBuckets, input.latencyBucketMs)}
<p>p50 ${fmt(s.latency_ms?.p50, 2)} ms · p90 ${fmt(s.latency_ms?.p90, 2)} ms · p99 ${fmt(s.latency_ms?.p99, 2)} ms · max ${fmt(s.latency_ms?.max, 2)} ms</p>
${timeline}
<h2>Bad frames</h2>
${badHtml}
<h2>Overlays</h2>
<div class="strip">${strip}</div>
</body></html>
`;
}

function histogramChart(buckets: Array<{ fromMs: number; count: number }>, bucketMs: number): string {
  if (buckets.length === 0) return '<p>No latency samples.</p>';
  const W = 720;
  const H = 200;
  const pad = 30;
  const max = Math.max(...buckets.map((b) => b.count), 1);
  const bw = (W - 2 * pad) / buckets.length;
  const bars = buckets
    .map((b, i) => {
      const h = ((H - 2 * pad) * b.count) / max;
      return `<rect x="${(pad + i * bw).toFixed(1)}" y="${(H - pad - h).toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#4a7bd0"><title>${b.fromMs.toFixed(1)}–${(b.fromMs + bucketMs).toFixed(1)} ms: ${b.count}</title></rect>`;
    })
    .join('');
  const last = buckets[buckets.length - 1].fromMs + bucketMs;
  return `<svg width="${W}" height="${H}" role="img" aria-label="latency histogram">${bars}
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#333"/>
<text x="${pad}" y="${H - 8}" font-size="11">0 ms</text><text x="${W - pad - 40}" y="${H - 8}" font-size="11">${last.toFixed(0)} ms</text>
<text x="4" y="${pad - 8}" font-size="11">max ${max} frames</text></svg>`;
}

const COLORS = ['#d0453a', '#3a8ad0', '#3ab05a', '#a050c0', '#e09020', '#555'];

function lineChart(series: NonNullable<ReportInput['timeline']>, markers: NonNullable<ReportInput['markers']>): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '<p>No samples.</p>';
  const W = 720;
  const H = 240;
  const pad = 36;
  const t0 = Math.min(...all.map((p) => p.t), ...markers.map((m) => m.t));
  const t1 = Math.max(...all.map((p) => p.t), ...markers.map((m) => m.t), t0 + 1e-9);
  const v0 = Math.min(0, ...all.map((p) => p.v));
  const v1 = Math.max(1, ...all.map((p) => p.v));
  const x = (t: number) => pad + ((W - 2 * pad) * (t - t0)) / (t1 - t0);
  const y = (v: number) => H - pad - ((H - 2 * pad) * (v - v0)) / (v1 - v0);
  const lines = series
    .map((s, i) => {
      const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
      return `<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"/>` +
        `<text x="${W - pad + 2}" y="${pad + 12 * i}" font-size="11" fill="${COLORS[i % COLORS.length]}">${esc(s.name)}</text>`;
    })
    .join('');
  const marks = markers
    .map((m) => `<line x1="${x(m.t).toFixed(1)}" x2="${x(m.t).toFixed(1)}" y1="${pad}" y2="${H - pad}" stroke="#888" stroke-dasharray="4 3"><title>${esc(m.label)}</title></line>`)
    .join('');
  return `<svg width="${W + 80}" height="${H}" role="img" aria-label="metrics over time">${marks}${lines}
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#333"/>
<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#333"/>
<text x="4" y="${y(v1) + 4}" font-size="11">${v1.toFixed(1)}</text><text x="4" y="${y(v0) + 4}" font-size="11">${v0.toFixed(1)}</text>
<line x1="${pad}" x2="${W - pad}" y1="${y((v0 + v1) / 2)}" y2="${y((v0 + v1) / 2)}" stroke="#ddd"/><text x="4" y="${y((v0 + v1) / 2) + 4}" font-size="11">${((v0 + v1) / 2).toFixed(1)}</text>
<text x="${pad}" y="${H - 10}" font-size="11">${t0.toFixed(0)} s</text><text x="${W - pad - 30}" y="${H - 10}" font-size="11">${t1.toFixed(0)} s</text></svg>`;
}
