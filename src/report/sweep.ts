/**
 * The sweep report: metrics (goodput, host drops, stall time, RTOs, …) against each swept parameter,
 * one line per driver version, each point the mean over its seeds with a 95 % confidence interval
 * (sampleStats: Student's t). One self-contained HTML document like the comparison report: inline CSS
 * and SVG, no scripts.
 *
 * A chart plots one metric against one axis. The driver version (guest.driver.version) is never an x
 * axis when other axes exist: it is the colour. When the grid has further axes, the chart has one
 * panel per assignment of them, so no point is averaged over anything but its seeds.
 */

import type { TopLevelSpec } from "vega-lite";
import { gridAssignments, type GridAxis, type Params, pointKey } from "../run/grid.ts";
import type { CampaignInfo } from "../run/store.ts";
import type { RunSummary } from "../run/types.ts";
import { renderSvg } from "./charts.ts";
import { escapeHtml } from "./html.ts";
import {
  atomicAllocFailures,
  driverLabel,
  formatMeanCi,
  formatNumber,
  goodputMbps,
  hostDrops,
  NOT_IN_LINUX_MARK,
  NOT_IN_LINUX_NOTE,
  rtoCount,
  type SampleStats,
  sampleStats,
} from "./stats.ts";

export const DRIVER_PATH = "guest.driver.version";

export interface SweepReportRun {
  id: number;
  params: Params;
  seed: number;
  status: "ok" | "failed";
  error: string | null;
  /** Undefined for a failed run. */
  summary: RunSummary | undefined;
}

export interface SweepReportInput {
  campaign: CampaignInfo & { createdAt?: string };
  runs: readonly SweepReportRun[];
  /** Where the runs came from, for the header. */
  storePath?: string;
}

export interface SweepMetric {
  id: string;
  title: string;
  yTitle: string;
  read: (r: RunSummary) => number | null;
}

export const SWEEP_METRICS: readonly SweepMetric[] = [
  { id: "goodput", title: "goodput", yTitle: "goodput (Mbit/s)", read: goodputMbps },
  { id: "host-drops", title: "host drops", yTitle: "packets dropped at the host", read: hostDrops },
  { id: "stall", title: "stall time", yTitle: "stalled (s)", read: (r) => r.stalls.totalMs / 1e3 },
  { id: "rtos", title: "RTOs", yTitle: "RTO expiries (all flows)", read: rtoCount },
  {
    id: "atomic-fails",
    title: "GFP_ATOMIC allocation failures",
    yTitle: "failed allocations",
    read: atomicAllocFailures,
  },
  { id: "refill-runs", title: "refill_work runs", yTitle: "runs", read: (r) => r.refillRunTimes.length },
];

/** One grid point aggregated over its seeds. */
export interface PointStats {
  params: Params;
  /** The driver label of its runs ("*" marks a policy not in Linux); undefined with no successful run. */
  driver: string | undefined;
  ok: number;
  failed: number;
  metrics: Record<string, SampleStats | null>;
}

/** Every grid point in grid order (first axis slowest), aggregated over seeds. */
export function pointStats(input: SweepReportInput): PointStats[] {
  const byKey = new Map<string, SweepReportRun[]>();
  for (const r of input.runs) {
    const k = pointKey(r.params);
    const list = byKey.get(k);
    if (list === undefined) byKey.set(k, [r]);
    else list.push(r);
  }
  return gridAssignments(input.campaign.grid).map((params) => {
    const runs = byKey.get(pointKey(params)) ?? [];
    const ok = runs.flatMap((r) => (r.summary === undefined ? [] : [r.summary]));
    const first = ok[0];
    const metrics: Record<string, SampleStats | null> = {};
    for (const m of SWEEP_METRICS) {
      const xs: number[] = [];
      for (const s of ok) {
        const v = m.read(s);
        if (v !== null) xs.push(v);
      }
      metrics[m.id] = sampleStats(xs);
    }
    return {
      params,
      driver: first === undefined ? undefined : driverLabel(first.driver, first.driverNotInLinux),
      ok: ok.length,
      failed: runs.length - ok.length,
      metrics,
    };
  });
}

// ---- Charts ----

export interface SweepChart {
  id: string;
  axis: string;
  metric: string;
  spec: TopLevelSpec;
}

interface ChartRow {
  x: string;
  driver: string;
  panel: string;
  mean: number;
  lo: number;
  hi: number;
  n: number;
}

/** The axes charts are drawn against: every axis but the driver's, or the driver's alone. */
export function plotAxes(grid: readonly GridAxis[]): GridAxis[] {
  const others = grid.filter((a) => a.path !== DRIVER_PATH);
  if (others.length > 0) return others;
  return grid.filter((a) => a.path === DRIVER_PATH);
}

function panelOf(params: Params, axes: readonly GridAxis[]): string {
  return axes.map((a) => `${a.path}=${params[a.path]}`).join(", ");
}

function chartSpec(
  axis: GridAxis,
  panels: readonly GridAxis[],
  metric: SweepMetric,
  rows: readonly ChartRow[],
  drivers: readonly string[],
): TopLevelSpec {
  const faceted = panels.length > 0;
  // All zero (no drops, no stalls): give the axis a unit range rather than vega's degenerate [0, 0].
  const yScale = rows.every((r) => r.lo === 0 && r.hi === 0) ? { domain: [0, 1] } : { zero: true };
  const x = {
    field: "x",
    type: "ordinal",
    sort: axis.values,
    title: axis.path,
    axis: { labelAngle: 0 },
  } as const;
  const color = {
    field: "driver",
    type: "nominal",
    title: "driver",
    scale: { domain: drivers, scheme: "tableau10" },
  };
  const tooltip = [
    { field: "driver" },
    { field: "x", title: axis.path },
    { field: "mean", format: ".4~g" },
    { field: "n", title: "seeds" },
  ];
  const layer = [
    {
      mark: { type: "line", point: true, strokeWidth: 1.5 },
      encoding: {
        x,
        y: { field: "mean", type: "quantitative", title: metric.yTitle, scale: yScale },
        color,
        tooltip,
      },
    },
    {
      mark: { type: "errorbar", ticks: { size: 8 } },
      // The same title as the line's, so the shared axis is not titled "…, lo".
      encoding: {
        x,
        y: { field: "lo", type: "quantitative", title: metric.yTitle },
        y2: { field: "hi" },
        color,
      },
    },
  ];
  const title = {
    text: `${metric.title} vs ${axis.path}`,
    subtitle: "mean over seeds, 95% CI",
    anchor: "start",
  };
  const config = { font: "sans-serif", background: "white", legend: { orient: "right" } };
  if (!faceted) {
    return { width: 380, height: 200, title, data: { values: rows }, layer, config } as TopLevelSpec;
  }
  return {
    title,
    data: { values: rows },
    facet: { field: "panel", type: "nominal", title: panels.map((p) => p.path).join(", ") },
    columns: 3,
    spec: { width: 250, height: 160, layer },
    config,
  } as TopLevelSpec;
}

/** One chart per plotted axis and metric that any run reports, in axis then metric order. */
export function sweepCharts(input: SweepReportInput): SweepChart[] {
  const points = pointStats(input).filter((p) => p.driver !== undefined);
  const drivers = [...new Set(points.map((p) => p.driver!))];
  const charts: SweepChart[] = [];
  for (const axis of plotAxes(input.campaign.grid)) {
    const panels = input.campaign.grid.filter((a) => a.path !== axis.path && a.path !== DRIVER_PATH);
    for (const metric of SWEEP_METRICS) {
      const rows: ChartRow[] = points.flatMap((p) => {
        const s = p.metrics[metric.id];
        if (s === null || s === undefined) return [];
        const half = Number.isFinite(s.ciHalf) ? s.ciHalf : 0;
        const x = p.params[axis.path]!;
        return [
          {
            x,
            driver: p.driver!,
            panel: panelOf(p.params, panels),
            mean: s.mean,
            lo: s.mean - half,
            hi: s.mean + half,
            n: s.n,
          },
        ];
      });
      if (rows.length === 0) continue;
      charts.push({
        id: `${metric.id}-vs-${axis.path.replace(/[^A-Za-z0-9]+/g, "-")}`,
        axis: axis.path,
        metric: metric.id,
        spec: chartSpec(axis, panels, metric, rows, drivers),
      });
    }
  }
  return charts;
}

// ---- Maps ----

/** The metrics drawn as maps: where a driver collapses is read from these at a glance. */
export const MAP_METRICS: readonly string[] = ["goodput", "stall", "host-drops", "atomic-fails"];

export interface SweepMap {
  id: string;
  metric: string;
  /** The two parameters on x and y; further parameters become rows of panels. */
  x: string;
  y: string;
  spec: TopLevelSpec;
}

/** One cell of a map: the grid point (x, y, panel) of one driver, its mean over n seeds. */
export interface MapRow {
  x: string;
  y: string;
  driver: string;
  panel: string;
  mean: number;
  n: number;
}

function mapSpec(
  xAxis: GridAxis,
  yAxis: GridAxis,
  rest: readonly GridAxis[],
  metric: SweepMetric,
  rows: readonly MapRow[],
  drivers: readonly string[],
): TopLevelSpec {
  const max = Math.max(...rows.map((r) => r.mean));
  // One colour scale for every panel, so equal colours mean equal values across drivers.
  const color = {
    field: "mean",
    type: "quantitative",
    title: metric.yTitle,
    scale: { scheme: metric.id === "goodput" ? "viridis" : "orangered", domain: [0, max > 0 ? max : 1] },
  };
  const x = { field: "x", type: "ordinal", sort: xAxis.values, title: xAxis.path, axis: { labelAngle: 0 } };
  const y = {
    field: "y",
    type: "ordinal",
    sort: [...yAxis.values].reverse(),
    title: rest.length > 0 ? null : yAxis.path,
  };
  const layer = [
    {
      mark: { type: "rect" },
      encoding: {
        x,
        y,
        color,
        tooltip: [
          { field: "driver" },
          { field: "x", title: xAxis.path },
          { field: "y", title: yAxis.path },
          { field: "mean", format: ".4~g", title: metric.yTitle },
          { field: "n", title: "seeds" },
        ],
      },
    },
    {
      mark: { type: "text", fontSize: 10 },
      encoding: {
        x,
        y,
        text: { field: "mean", type: "quantitative", format: ".3~g" },
        // Dark text on the light end of the scale, light text on the dark end.
        color: {
          condition: {
            test: `datum.mean > ${(max > 0 ? max : 1) / 2}`,
            value: metric.id === "goodput" ? "black" : "white",
          },
          value: metric.id === "goodput" ? "white" : "black",
        },
      },
    },
  ];
  const facet: Record<string, unknown> = {
    column: {
      field: "driver",
      type: "nominal",
      title:
        rest.length > 0
          ? `driver (rows: ${yAxis.path} within each ${rest.map((a) => a.path).join(", ")})`
          : "driver",
      sort: drivers,
    },
  };
  if (rest.length > 0)
    facet.row = {
      field: "panel",
      type: "nominal",
      title: rest.map((a) => a.path).join(", "),
      // Upright labels; with row panels the y axis title goes to the panel's column header instead
      // (it would overlap the row labels and repeat on every row).
      header: { labelAngle: 0, labelAlign: "right" },
    };
  return {
    title: {
      text: `${metric.title}: ${yAxis.path} against ${xAxis.path}, per driver`,
      subtitle: "each cell the mean over seeds",
      anchor: "start",
    },
    data: { values: rows },
    facet,
    spec: { width: 48 * xAxis.values.length, height: 30 * yAxis.values.length, layer },
    // Legend titles are metric names with units: never cut them.
    config: { font: "sans-serif", background: "white", legend: { orient: "right", titleLimit: 0 } },
  } as TopLevelSpec;
}

/**
 * Heatmaps for grids with two or more parameters besides the driver: the first two are x and y, the
 * driver is the panel column and any further parameters the panel row, so each cell is one grid point.
 */
export function sweepMaps(input: SweepReportInput): SweepMap[] {
  const axes = input.campaign.grid.filter((a) => a.path !== DRIVER_PATH);
  if (axes.length < 2) return [];
  const [xAxis, yAxis, ...rest] = axes as [GridAxis, GridAxis, ...GridAxis[]];
  const points = pointStats(input).filter((p) => p.driver !== undefined);
  const drivers = [...new Set(points.map((p) => p.driver!))];
  const maps: SweepMap[] = [];
  for (const metric of SWEEP_METRICS.filter((m) => MAP_METRICS.includes(m.id))) {
    const rows: MapRow[] = points.flatMap((p) => {
      const s = p.metrics[metric.id];
      if (s === null || s === undefined) return [];
      return [
        {
          x: p.params[xAxis.path]!,
          y: p.params[yAxis.path]!,
          driver: p.driver!,
          panel: panelOf(p.params, rest),
          mean: s.mean,
          n: s.n,
        },
      ];
    });
    if (rows.length === 0) continue;
    maps.push({
      id: `map-${metric.id}`,
      metric: metric.id,
      x: xAxis.path,
      y: yAxis.path,
      spec: mapSpec(xAxis, yAxis, rest, metric, rows, drivers),
    });
  }
  return maps;
}

// ---- HTML ----

const CSS = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; margin: 0; background: #fafafa; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 .4em; }
h2 { font-size: 1.2em; margin: 1.8em 0 .6em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
code, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .9em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .4em 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: left; white-space: nowrap; }
th { background: #f3f3f3; font-weight: 600; white-space: normal; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; font-size: .9em; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
figure.chart { margin: .6em 0; }
figure.chart svg, figure.map svg { display: block; max-width: 100%; height: auto; }
figure.map { margin: .6em 0; overflow-x: auto; }
pre.error { white-space: pre-wrap; margin: 0; font-size: .85em; }
`;

/** An HTML table of already-escaped cells; no header row when `header` is null. */
function table(
  header: readonly string[] | null,
  rows: readonly (readonly string[])[],
  numeric: readonly boolean[],
  cls: string,
): string {
  const cell = (tag: string, html: string, i: number) =>
    numeric[i] ? `<${tag} class="num">${html}</${tag}>` : `<${tag}>${html}</${tag}>`;
  const head =
    header === null
      ? ""
      : `<thead><tr>${header.map((h, i) => cell("th", escapeHtml(h), i)).join("")}</tr></thead>`;
  const body = rows.map((r) => `<tr>${r.map((c, i) => cell("td", c, i)).join("")}</tr>`).join("\n");
  return `<div class="scroll"><table class="${cls}">${head}<tbody>\n${body}\n</tbody></table></div>`;
}

function campaignSection(input: SweepReportInput, seeds: readonly number[]): string {
  const c = input.campaign;
  const ok = input.runs.filter((r) => r.status === "ok").length;
  const rows: [string, string][] = [
    ["campaign", `<span class="mono">${escapeHtml(c.key)}</span>`],
    ["scenario", `${escapeHtml(c.scenarioName)} (<span class="mono">${escapeHtml(c.source)}</span>)`],
    ["base scenario hash", `<span class="mono">${escapeHtml(c.scenarioHash)}</span>`],
    [
      "overrides (--set)",
      c.sets.length === 0 ? "none" : c.sets.map((s) => `<code>${escapeHtml(s)}</code>`).join(" "),
    ],
    ...c.grid.map((a): [string, string] => [`grid ${a.path}`, escapeHtml(a.values.join(", "))]),
    ["seeds", escapeHtml(seeds.join(", ") || "none")],
    ["runs", `${ok} ok, ${input.runs.length - ok} failed`],
    [
      "vnetlab",
      `${escapeHtml(c.packageVersion)}, source <span class="mono">${escapeHtml(c.sourceHash)}</span>`,
    ],
    [
      "git commit",
      c.gitCommit === null ? "not a git checkout" : `<span class="mono">${escapeHtml(c.gitCommit)}</span>`,
    ],
  ];
  if (c.createdAt !== undefined) rows.push(["created", escapeHtml(c.createdAt)]);
  if (input.storePath !== undefined)
    rows.push(["store", `<span class="mono">${escapeHtml(input.storePath)}</span>`]);
  return `<h2>Campaign</h2>\n${table(null, rows, [false, false], "campaign")}`;
}

function pointsSection(input: SweepReportInput, points: readonly PointStats[]): string {
  const axes = input.campaign.grid.map((a) => a.path);
  // The driver's label (marked when not in Linux) stands in its axis column, or in a column of its own.
  const driverColumn = !axes.includes(DRIVER_PATH);
  const header = [
    ...axes,
    ...(driverColumn ? ["driver"] : []),
    "seeds ok",
    "failed",
    ...SWEEP_METRICS.map((m) => m.title),
  ];
  const rows = points.map((p) => [
    ...axes.map((a) => escapeHtml((a === DRIVER_PATH ? p.driver : undefined) ?? p.params[a] ?? "")),
    ...(driverColumn ? [escapeHtml(p.driver ?? "–")] : []),
    String(p.ok),
    String(p.failed),
    ...SWEEP_METRICS.map((m) => escapeHtml(formatMeanCi(p.metrics[m.id] ?? null))),
  ]);
  const numeric = [
    ...axes.map(() => false),
    ...(driverColumn ? [false] : []),
    true,
    true,
    ...SWEEP_METRICS.map(() => true),
  ];
  return (
    `<h2>Points</h2>\n${table(header, rows, numeric, "points")}\n` +
    '<p class="note">Each cell: mean over the point\'s successful seeds ± the half-width of the 95% confidence ' +
    "interval (Student's t, n − 1 degrees of freedom); the mean alone for a single seed. Goodput in Mbit/s " +
    "after warm-up; stall time in s (periods of ≥ 100 ms with nothing delivered); RTOs summed over flows.</p>"
  );
}

function failuresSection(input: SweepReportInput): string {
  const failed = input.runs.filter((r) => r.status === "failed");
  if (failed.length === 0) return "";
  const rows = failed.map((r) => [
    String(r.id),
    escapeHtml(panelOf(r.params, input.campaign.grid)),
    String(r.seed),
    `<pre class="error">${escapeHtml((r.error ?? "").split("\n")[0] ?? "")}</pre>`,
  ]);
  return (
    `<h2>Failed runs</h2>\n${table(["run", "point", "seed", "error"], rows, [true, false, true, false], "failures")}\n` +
    '<p class="note"><code>vnetlab show &lt;store&gt; &lt;run&gt; --command</code> prints the command that reproduces a run.</p>'
  );
}

/** Renders the sweep report (charts included) to one HTML string. */
export async function renderSweepReport(input: SweepReportInput, title?: string): Promise<string> {
  const c = input.campaign;
  const heading = title ?? `vnetlab sweep: ${c.scenarioName}`;
  const points = pointStats(input);
  const seeds = [...new Set(input.runs.map((r) => r.seed))].sort((a, b) => a - b);
  const charts = sweepCharts(input);
  const byAxis = new Map<string, string[]>();
  for (const ch of charts) {
    const svg = await renderSvg(ch.spec, `chart-${ch.id}`);
    const fig = `<figure class="chart" data-chart="${escapeHtml(ch.id)}">\n${svg}\n</figure>`;
    byAxis.set(ch.axis, [...(byAxis.get(ch.axis) ?? []), fig]);
  }
  const chartHtml =
    charts.length === 0
      ? '<p class="note">No successful run, or no grid to plot against.</p>'
      : [...byAxis]
          .map(
            ([axis, figs]) =>
              `<h3>against <code>${escapeHtml(axis)}</code></h3>\n<div class="charts">\n${figs.join("\n")}\n</div>`,
          )
          .join("\n");
  const maps = sweepMaps(input);
  const mapFigs: string[] = [];
  for (const m of maps) {
    const svg = await renderSvg(m.spec, `chart-${m.id}`);
    mapFigs.push(`<figure class="map" data-map="${escapeHtml(m.id)}">\n${svg}\n</figure>`);
  }
  const mapHtml =
    maps.length === 0
      ? ""
      : `<h2>Maps: where each driver collapses</h2>\n<p class="note">One panel per driver; x is <code>${escapeHtml(
          maps[0]!.x,
        )}</code>, y is <code>${escapeHtml(maps[0]!.y)}</code>; every cell is one grid point, its colour the mean over seeds on a scale shared by all drivers.</p>\n${mapFigs.join("\n")}`;
  const notInLinux = input.runs.some((r) => r.summary?.driverNotInLinux === true);
  const footnote = notInLinux
    ? `<p class="note">${escapeHtml(`${NOT_IN_LINUX_MARK} ${NOT_IN_LINUX_NOTE}`)}</p>`
    : "";
  const intro =
    `<p>${formatNumber(points.length)} grid points × ${seeds.length} seed${seeds.length === 1 ? "" : "s"} of ` +
    `scenario <code>${escapeHtml(c.scenarioName)}</code>. Lines are driver versions; error bars are 95% ` +
    "confidence intervals over seeds.</p>";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(heading)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${escapeHtml(heading)}</h1>
${intro}
${mapHtml}
<h2>Metrics against each swept parameter</h2>
${chartHtml}
${pointsSection(input, points)}
${failuresSection(input)}
${campaignSection(input, seeds)}
${footnote}
</main>
</body>
</html>
`;
}
