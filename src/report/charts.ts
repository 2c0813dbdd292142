/**
 * The comparison charts: Vega-Lite specs built by a few small functions, rendered to SVG in Node with
 * vega's headless View (renderer "none", no canvas: text is measured with vega's estimator).
 *
 * Time series show one line per driver: the mean over seeds when all of a driver's runs sampled at the
 * same times, else its first seed. Colours follow the driver order of the CompareResult in every chart.
 */

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { CompareResult, RunSummary, Series } from "../run/types.ts";
import { atomicFloor, type DriverStats, driverLabel, driverStats, watermarks } from "./stats.ts";

export interface ChartDef {
  /** Stable identifier, also used to namespace the SVG's element ids. */
  id: string;
  title: string;
  /** One sentence on what to read from the chart. */
  caption: string;
  spec: TopLevelSpec;
}

export interface RenderedChart {
  id: string;
  title: string;
  caption: string;
  svg: string;
}

const WIDTH = 760;
const HEIGHT = 190;
/** Tableau 10, vega's default categorical scheme, fixed here so colours do not depend on the config. */
const PALETTE = [
  "#4c78a8",
  "#f58518",
  "#e45756",
  "#72b7b2",
  "#54a24b",
  "#eeca3b",
  "#b279a2",
  "#ff9da6",
  "#9d755d",
  "#bab0ac",
];
const CONFIG = { font: "sans-serif", background: "white", legend: { orient: "right" } } as const;

type NumericSeries = Exclude<keyof Series, "t">;

interface Row {
  t: number;
  driver: string;
  v: number;
}

/** True when every run sampled at exactly the same times, so values can be averaged per sample. */
function sameSampleTimes(runs: readonly RunSummary[]): boolean {
  const t0 = runs[0]?.series.t;
  if (t0 === undefined) return false;
  return runs.every((r) => r.series.t.length === t0.length && r.series.t.every((t, i) => t === t0[i]));
}

/** One driver's line: mean over seeds when the sample times align, else the first seed's series. */
function driverLine(d: DriverStats, key: NumericSeries): Row[] {
  const label = driverLabel(d.driver, d.notInLinux);
  const first = d.runs[0];
  if (first === undefined) return [];
  const runs = sameSampleTimes(d.runs) ? d.runs : [first];
  const rows: Row[] = [];
  const t = first.series.t;
  for (let i = 0; i < t.length; i++) {
    let sum = 0;
    for (const r of runs) sum += r.series[key][i] ?? Number.NaN;
    const v = sum / runs.length;
    if (Number.isFinite(v)) rows.push({ t: t[i]! / 1e9, driver: label, v });
  }
  return rows;
}

function basisNote(stats: readonly DriverStats[]): string {
  const averaged = stats.filter((d) => d.runs.length > 1 && sameSampleTimes(d.runs)).length;
  if (averaged === 0) return "first seed of each driver";
  if (averaged === stats.length) return "mean over seeds";
  return "mean over seeds where sample times align, else the first seed";
}

function colorEncoding(stats: readonly DriverStats[]) {
  const domain = stats.map((d) => driverLabel(d.driver, d.notInLinux));
  return {
    field: "driver",
    type: "nominal",
    title: "driver",
    scale: { domain, range: domain.map((_, i) => PALETTE[i % PALETTE.length]!) },
  } as const;
}

const timeAxis = { field: "t", type: "quantitative", title: "time (s)" } as const;

interface RuleRow {
  label: string;
  v: number;
}

/** Horizontal reference lines with their labels at the right edge. */
function ruleLayers(rules: readonly RuleRow[]) {
  const data = { values: rules.map((r) => ({ ...r })) };
  const y = { field: "v", type: "quantitative" } as const;
  return [
    { data, mark: { type: "rule", color: "#555", strokeDash: [4, 3] }, encoding: { y } },
    {
      data,
      mark: { type: "text", align: "right", baseline: "bottom", dy: -2, color: "#333", fontSize: 10 },
      encoding: { y, x: { value: WIDTH - 2 }, text: { field: "label" } },
    },
  ];
}

/** A time-series chart of one Series column, one line per driver, with optional reference rules. */
interface LineChartDef {
  id: string;
  title: string;
  caption: string;
  yTitle: string;
  key: NumericSeries;
  /** Multiplier from the series' unit to the axis unit. */
  scale?: number;
  rules?: readonly RuleRow[];
}

function lineChart(stats: readonly DriverStats[], def: LineChartDef): ChartDef {
  const { id, title, caption, yTitle, key, scale = 1, rules = [] } = def;
  const rows = stats.flatMap((d) => driverLine(d, key)).map((r) => ({ ...r, v: r.v * scale }));
  const line = {
    mark: { type: "line", strokeWidth: 1.5, clip: true },
    encoding: {
      x: timeAxis,
      y: { field: "v", type: "quantitative", title: yTitle },
      color: colorEncoding(stats),
    },
  };
  const spec = {
    width: WIDTH,
    height: HEIGHT,
    title: { text: title, subtitle: basisNote(stats), anchor: "start" },
    data: { values: rows },
    layer: [line, ...ruleLayers(rules)],
    config: CONFIG,
  } as TopLevelSpec;
  return { id, title, caption, spec };
}

/** refill_work starts as ticks, one row per driver (first seed). */
function refillEventsChart(stats: readonly DriverStats[]): ChartDef {
  const rows = stats.flatMap((d) =>
    (d.runs[0]?.refillRunTimes ?? []).map((t) => ({
      t: t / 1e9,
      driver: driverLabel(d.driver, d.notInLinux),
    })),
  );
  // The whole run, so the ticks line up with the time series above.
  const endS = Math.max(0, ...stats.flatMap((d) => d.runs.map((r) => r.simulatedNs / 1e9)));
  const color = colorEncoding(stats);
  const spec = {
    width: WIDTH,
    title: { text: "refill_work runs", subtitle: "first seed of each driver", anchor: "start" },
    data: { values: rows },
    mark: { type: "tick", thickness: 1, size: 14 },
    encoding: {
      x: { ...timeAxis, scale: { domain: [0, endS] } },
      y: { field: "driver", type: "nominal", title: null, scale: { domain: color.scale.domain } },
      color: { ...color, legend: null },
    },
    config: CONFIG,
  } as TopLevelSpec;
  const caption =
    "Each tick is one refill_work run; a 500 ms rhythm is its HZ/2 retry after a failed fill (refill_work).";
  return { id: "refill-events", title: "refill_work runs", caption, spec };
}

/** Mean goodput per driver with its 95 % CI as error bars (none for a single seed). */
function goodputBarChart(stats: readonly DriverStats[]): ChartDef {
  const rows = stats.flatMap((d) => {
    const g = d.goodputMbps;
    if (g === null) return [];
    const half = Number.isFinite(g.ciHalf) ? g.ciHalf : 0;
    return [
      { driver: driverLabel(d.driver, d.notInLinux), mean: g.mean, lo: g.mean - half, hi: g.mean + half },
    ];
  });
  const color = colorEncoding(stats);
  const x = { field: "driver", type: "nominal", title: null, scale: { domain: color.scale.domain } } as const;
  const spec = {
    width: { step: 70 },
    height: HEIGHT,
    title: { text: "goodput per driver", subtitle: "mean over seeds, 95% CI", anchor: "start" },
    data: { values: rows },
    layer: [
      {
        mark: "bar",
        encoding: {
          x,
          y: { field: "mean", type: "quantitative", title: "goodput (Mbit/s)" },
          color: { ...color, legend: null },
        },
      },
      {
        mark: { type: "errorbar", ticks: true, color: "#222" },
        encoding: { x, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
      },
    ],
    config: CONFIG,
  } as TopLevelSpec;
  const caption = "Application goodput after warm-up; error bars are 95% confidence intervals over seeds.";
  return { id: "goodput-bars", title: "goodput per driver", caption, spec };
}

/** Watermark and ATOMIC-floor rules from the first run that reports the watermarks. */
function memoryRules(c: CompareResult): RuleRow[] {
  for (const r of c.runs) {
    const w = watermarks(r);
    if (w === null) continue;
    return [
      { label: "high", v: w.high },
      { label: "low", v: w.low },
      { label: "min", v: w.min },
      { label: "GFP_ATOMIC floor (3/8 min)", v: atomicFloor(w.min) },
    ];
  }
  return [];
}

/** Every chart of the comparison report, in display order. */
export function compareCharts(c: CompareResult): ChartDef[] {
  const stats = driverStats(c);
  return [
    goodputBarChart(stats),
    lineChart(stats, {
      id: "goodput",
      title: "goodput",
      caption: "Goodput over each sample interval.",
      yTitle: "goodput (Mbit/s)",
      key: "goodputBps",
      scale: 1e-6,
    }),
    lineChart(stats, {
      id: "ring",
      title: "rx ring occupancy (vi->num)",
      caption: "Buffers posted to the receive ring; at zero the host has nowhere to put packets.",
      yTitle: "buffers posted",
      key: "viNum",
    }),
    lineChart(stats, {
      id: "free-pages",
      title: "free pages",
      caption: "Free pages against the zone watermarks; GFP_ATOMIC allocations fail below the floor.",
      yTitle: "pages",
      key: "freePages",
      rules: memoryRules(c),
    }),
    lineChart(stats, {
      id: "host-drops",
      title: "host drops (cumulative)",
      caption: "Packets dropped at the host's tap queue and qdisc.",
      yTitle: "packets",
      key: "hostDrops",
    }),
    refillEventsChart(stats),
    lineChart(stats, {
      id: "cwnd",
      title: "mean congestion window",
      caption: "Congestion window averaged over flows; collapses after RTOs.",
      yTitle: "segments",
      key: "cwndMean",
    }),
  ];
}

/**
 * Gives the SVG's element ids a per-chart prefix, numbered in order of appearance: vega numbers clip
 * paths and gradients from module-wide counters, which would collide between charts in one page and
 * differ between renders.
 */
function namespaceIds(svg: string, prefix: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) {
    if (!ids.has(m[1]!)) ids.set(m[1]!, `${prefix}-${ids.size + 1}`);
  }
  if (ids.size === 0) return svg;
  return svg
    .replace(/(\sid=")([^"]+)"/g, (_, a: string, id: string) => `${a}${ids.get(id) ?? id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${ids.get(id) ?? id})`)
    .replace(/(href=")#([^"]+)"/g, (_, a: string, id: string) => `${a}#${ids.get(id) ?? id}"`);
}

/** Compiles a Vega-Lite spec and renders it to an SVG string, headless. */
export async function renderSvg(spec: TopLevelSpec, idPrefix: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none", logLevel: vega.Error });
  try {
    return namespaceIds(await view.toSVG(), idPrefix);
  } finally {
    view.finalize();
  }
}

export async function renderCompareCharts(c: CompareResult): Promise<RenderedChart[]> {
  const out: RenderedChart[] = [];
  for (const ch of compareCharts(c)) {
    const svg = await renderSvg(ch.spec, `chart-${ch.id}`);
    out.push({ id: ch.id, title: ch.title, caption: ch.caption, svg });
  }
  return out;
}
