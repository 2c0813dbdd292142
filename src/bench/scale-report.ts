/**
 * The `bench scale` chart: one self-contained HTML page (inline CSS and SVG, no scripts, like the run
 * reports) with the table and, per swept axis, the cost per packet (wall and CPU ns), the model's work
 * per packet (events, retransmitted segments, collapsed skbs) and peak RSS against the axis on a log
 * scale, so a cost that is not flat shows as a slope, beside the work that explains it.
 */
import type { TopLevelSpec } from "vega-lite";
import { renderSvg } from "../report/charts.ts";
import { escapeHtml } from "../report/html.ts";
import { parseDuration, parseRate } from "../scenario/units.ts";
import { SCALE_AXES, SCALE_COLUMNS, type ScaleAxis, type ScaleRow, scaleCells } from "./scale.ts";

const AXIS_TITLE: Record<ScaleAxis, string> = {
  flows: "flows sharing the uplink",
  rate: "uplink rate (bit/s)",
  duration: "simulated duration (s)",
};

const METRICS: readonly { id: string; title: string; read: (r: ScaleRow) => number }[] = [
  { id: "ns-per-packet", title: "wall ns per simulated packet", read: (r) => r.nsPerPacket },
  { id: "cpu-ns-per-packet", title: "CPU ns per simulated packet", read: (r) => r.cpuNsPerPacket },
  {
    id: "run-cpu-ns-per-packet",
    title: "CPU ns per packet after set-up",
    read: (r) => r.runCpuNsPerPacket,
  },
  { id: "events-per-packet", title: "events per packet", read: (r) => r.eventsPerPacket },
  {
    id: "retrans-per-packet",
    title: "retransmitted segments per packet",
    read: (r) => r.retransPerPacket,
  },
  { id: "collapsed-per-packet", title: "skbs collapsed per packet", read: (r) => r.collapsedPerPacket },
  { id: "peak-rss", title: "peak RSS (MiB)", read: (r) => r.peakRssBytes / 2 ** 20 },
];

function axisValue(axis: ScaleAxis, r: ScaleRow): number {
  if (axis === "flows") return r.flows;
  if (axis === "rate") return parseRate(r.rate);
  return parseDuration(r.duration) / 1e9;
}

export interface ScaleChart {
  id: string;
  title: string;
  spec: TopLevelSpec;
}

/** One chart per swept axis and metric; axes with fewer than two points have no curve and no chart. */
export function scaleCharts(rows: readonly ScaleRow[]): ScaleChart[] {
  return SCALE_AXES.flatMap((axis) => {
    const on = rows
      .filter((r) => r.axes.includes(axis))
      .sort((a, b) => axisValue(axis, a) - axisValue(axis, b));
    if (on.length < 2) return [];
    return METRICS.map((m) => ({
      id: `${axis}-${m.id}`,
      title: `${m.title} against ${AXIS_TITLE[axis]}`,
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        width: 300,
        height: 160,
        data: { values: on.map((r) => ({ x: axisValue(axis, r), y: m.read(r) })) },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "x", type: "quantitative", scale: { type: "log" }, title: AXIS_TITLE[axis] },
          y: { field: "y", type: "quantitative", scale: { zero: true }, title: m.title },
        },
        config: { font: "sans-serif", background: "white" },
      } as TopLevelSpec,
    }));
  });
}

const CSS = `
body { font: 15px/1.45 system-ui, sans-serif; color: #1d1d1f; margin: 0 auto; max-width: 1100px; padding: 24px; }
.table { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85em; }
th, td { padding: 3px 7px; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f3f3f3; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; }
figcaption { font-size: .85em; color: #444; }
`;

/** The page; `context` is one line on how and where the figures were measured. */
export async function renderScaleReport(rows: readonly ScaleRow[], context: string): Promise<string> {
  const head = `<tr>${SCALE_COLUMNS.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>`;
  const body = rows
    .map(
      (r) =>
        `<tr>${scaleCells(r)
          .map((c) => `<td>${escapeHtml(c)}</td>`)
          .join("")}</tr>`,
    )
    .join("\n");
  const figures: string[] = [];
  for (const ch of scaleCharts(rows)) {
    const svg = await renderSvg(ch.spec, `chart-${ch.id}`);
    figures.push(
      `<figure data-chart="${escapeHtml(ch.id)}">\n${svg}\n<figcaption>${escapeHtml(ch.title)}</figcaption>\n</figure>`,
    );
  }
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>vnetlab bench scale</title><style>${CSS}</style></head>
<body>
<h1>vnetlab bench scale</h1>
<p>${escapeHtml(context)}</p>
<div class="table"><table>
${head}
${body}
</table></div>
<div class="charts">
${figures.join("\n")}
</div>
</body>
</html>
`;
}
