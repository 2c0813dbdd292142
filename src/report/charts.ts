/**
 * The comparison charts: Vega-Lite specs built by a few small functions, rendered to SVG in Node with
 * vega's headless View (renderer "none", no canvas: text is measured with vega's estimator).
 *
 * Time series show one line per driver: the mean over seeds when all of a driver's runs sampled at the
 * same times, else its first seed. Colours follow the driver order of the CompareResult in every chart.
 */

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { Closeup, CompareResult, RunSummary, Series } from "../run/types.ts";
import { atomicFloor, type DriverStats, driverLabel, driverStats, median, watermarks } from "./stats.ts";

export interface ChartDef {
  /** Stable identifier, also used to namespace the SVG's element ids. */
  id: string;
  title: string;
  /** One sentence on what to read from the chart. */
  caption: string;
  spec: TopLevelSpec;
}

/** A chart left out because it would hold nothing; the report says why in its place. */
export interface EmptyChart {
  id: string;
  title: string;
  empty: string;
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

/** True when every run sampled at exactly the same times, so values can be combined per sample. */
function sameSampleTimes(runs: readonly RunSummary[]): boolean {
  const t0 = runs[0]?.series.t;
  if (t0 === undefined) return false;
  return runs.every((r) => r.series.t.length === t0.length && r.series.t.every((t, i) => t === t0[i]));
}

interface BandRow {
  t: number;
  driver: string;
  /** Median over seeds at this sample, and the lowest and highest seed. */
  v: number;
  lo: number;
  hi: number;
  /** Set on one row per driver, so reference rules are drawn once per panel. */
  first?: true;
}

/**
 * One driver's series: the median over seeds with the lowest-to-highest band when the sample times
 * align (a plain mean would blur runs that stall at different times into one smooth line), else the
 * first seed alone.
 */
function driverBand(d: DriverStats, key: NumericSeries, scale: number): BandRow[] {
  const label = driverLabel(d.driver, d.notInLinux);
  const first = d.runs[0];
  if (first === undefined) return [];
  const runs = sameSampleTimes(d.runs) ? d.runs : [first];
  const rows: BandRow[] = [];
  const t = first.series.t;
  const vals: number[] = [];
  for (let i = 0; i < t.length; i++) {
    vals.length = 0;
    for (const r of runs) {
      const v = r.series[key][i];
      if (v !== undefined && Number.isFinite(v)) vals.push(v * scale);
    }
    if (vals.length === 0) continue;
    const row: BandRow = {
      t: t[i]! / 1e9,
      driver: label,
      v: median(vals),
      lo: Math.min(...vals),
      hi: Math.max(...vals),
    };
    if (rows.length === 0) row.first = true;
    rows.push(row);
  }
  return rows;
}

function basisNote(stats: readonly DriverStats[]): string {
  const banded = stats.filter((d) => d.runs.length > 1 && sameSampleTimes(d.runs)).length;
  if (banded === 0) return "one panel per driver; first seed of each driver";
  if (banded === stats.length)
    return "one panel per driver; line: median over seeds, band: lowest to highest seed";
  return "one panel per driver; median and range over seeds where sample times align, else the first seed";
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

/** Horizontal reference lines with their labels at the right edge, drawn once per panel. */
function ruleLayers(rules: readonly RuleRow[], width: number) {
  return rules.flatMap((r) => {
    const y = { datum: r.v, type: "quantitative" } as const;
    const transform = [{ filter: "datum.first === true" }];
    return [
      { transform, mark: { type: "rule", color: "#555", strokeDash: [4, 3] }, encoding: { y } },
      {
        transform,
        mark: {
          type: "text",
          align: "right",
          baseline: "bottom",
          dy: -2,
          color: "#333",
          fontSize: 10,
          text: r.label,
        },
        encoding: { y, x: { value: width - 2 } },
      },
    ];
  });
}

/** A time-series chart of one Series column as small multiples, one panel per driver. */
interface LineChartDef {
  id: string;
  title: string;
  caption: string;
  /** Short: the unit (the title says what is plotted; long titles do not fit a small panel). */
  yTitle: string;
  key: NumericSeries;
  /** Multiplier from the series' unit to the axis unit. */
  scale?: number;
  rules?: readonly RuleRow[];
  /** Upper end of the y axis; values above it are clipped (noted in the subtitle). */
  yMax?: number;
  /** Said instead of an empty chart when every value of every run is zero. */
  whenEmpty?: string;
}

const PANEL_HEIGHT = 80;

function lineChart(stats: readonly DriverStats[], def: LineChartDef): ChartDef | EmptyChart {
  const { id, title, caption, yTitle, key, scale = 1, rules = [], yMax } = def;
  const rows = stats.flatMap((d) => driverBand(d, key, scale));
  if (def.whenEmpty !== undefined && rows.every((r) => r.hi === 0 && r.lo === 0)) {
    return { id, title, empty: def.whenEmpty };
  }
  const clipped = yMax !== undefined && rows.some((r) => r.hi > yMax);
  const y = {
    field: "v",
    type: "quantitative",
    title: yTitle,
    ...(clipped ? { scale: { domain: [0, yMax] } } : {}),
  } as const;
  const color = { ...colorEncoding(stats), legend: null };
  const layer = [
    {
      mark: { type: "area", opacity: 0.25, clip: true },
      encoding: { x: timeAxis, y: { ...y, field: "lo" }, y2: { field: "hi" }, color },
    },
    { mark: { type: "line", strokeWidth: 1.5, clip: true }, encoding: { x: timeAxis, y, color } },
    ...ruleLayers(rules, WIDTH),
  ];
  const subtitle = clipped
    ? `${basisNote(stats)}; axis cut at ${yMax} so the watermarks stay readable`
    : basisNote(stats);
  const spec = {
    title: { text: title, subtitle, anchor: "start" },
    data: { values: rows },
    facet: {
      row: {
        field: "driver",
        type: "nominal",
        title: null,
        sort: colorEncoding(stats).scale.domain,
        header: { labelAngle: 0, labelAlign: "left", labelFontWeight: "bold" },
      },
    },
    spec: { width: WIDTH, height: PANEL_HEIGHT, layer },
    resolve: { scale: { y: "shared" } },
    config: CONFIG,
  } as TopLevelSpec;
  return { id, title, caption, spec };
}

/** refill_work starts as ticks, one row per driver (first seed). */
function refillEventsChart(stats: readonly DriverStats[]): ChartDef | EmptyChart {
  const rows = stats.flatMap((d) =>
    (d.runs[0]?.refillRunTimes ?? []).map((t) => ({
      t: t / 1e9,
      driver: driverLabel(d.driver, d.notInLinux),
    })),
  );
  const title = "refill_work runs";
  if (stats.every((d) => d.runs.every((r) => r.refillRunTimes.length === 0))) {
    return { id: "refill-events", title, empty: "refill_work never ran in any run: no refill failed." };
  }
  // The whole run, so the ticks line up with the time series above.
  const endS = Math.max(0, ...stats.flatMap((d) => d.runs.map((r) => r.simulatedNs / 1e9)));
  const color = colorEncoding(stats);
  const spec = {
    width: WIDTH,
    title: { text: title, subtitle: "first seed of each driver", anchor: "start" },
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
  return { id: "refill-events", title, caption, spec };
}

/**
 * The worst driver's first stall at 1 ms resolution (RunSummary.closeup): ring and host queue, free
 * pages against the floor, packets received with refill_work runs, and what the vCPU spent its time
 * on, stacked on one time axis measured from the stall's start.
 */
function closeupChart(stats: readonly DriverStats[]): ChartDef | EmptyChart {
  const id = "first-stall";
  const title = "the first stall, close up";
  let worst: { d: DriverStats; r: RunSummary; cu: Closeup } | null = null;
  let worstMs = 0;
  for (const d of stats) {
    const withCloseup = d.runs.find((r) => r.closeup != null);
    const total = d.runs.reduce((a, r) => a + r.stalls.totalMs, 0) / Math.max(d.runs.length, 1);
    if (withCloseup !== undefined && total > worstMs) {
      worstMs = total;
      worst = { d, r: withCloseup, cu: withCloseup.closeup! };
    }
  }
  if (worst === null) return { id, title, empty: "No run stalled (no 100 ms without a delivered packet)." };
  const { d, r, cu } = worst;
  const t0 = cu.stallStartNs;
  const ms = (t: number) => (t - t0) / 1e6;
  const x = { field: "ms", type: "quantitative", title: "ms from the start of the stall" } as const;
  const stallLen = ms(cu.stallEndNs);
  const shade = {
    data: { values: [{ a: 0, b: stallLen }] },
    mark: { type: "rect", color: "#e45756", opacity: 0.08 },
    encoding: { x: { field: "a", type: "quantitative" }, x2: { field: "b" } },
  };
  const W = WIDTH;
  const H = 90;
  const ring = {
    width: W,
    height: H,
    title: { text: "buffers posted (vi->num) and packets queued at the host", anchor: "start", fontSize: 11 },
    layer: [
      shade,
      {
        data: {
          values: cu.t.flatMap((t, i) => [
            { ms: ms(t), v: cu.viNum[i]!, what: "vi->num" },
            { ms: ms(t), v: cu.hostQueue[i]!, what: "host queue (tap + qdisc)" },
          ]),
        },
        mark: { type: "line", strokeWidth: 1.5 },
        encoding: {
          x,
          y: { field: "v", type: "quantitative", title: "buffers, packets" },
          color: {
            field: "what",
            type: "nominal",
            title: null,
            scale: { domain: ["vi->num", "host queue (tap + qdisc)"], range: ["#4c78a8", "#f58518"] },
            legend: { labelLimit: 300 },
          },
        },
      },
    ],
  };
  const w = watermarks(r);
  const memRules =
    w === null
      ? []
      : [
          { label: "min", v: w.min },
          { label: "GFP_ATOMIC floor", v: atomicFloor(w.min) },
        ];
  const free = {
    width: W,
    height: H,
    title: {
      text: "free pages against the min watermark and the GFP_ATOMIC floor",
      anchor: "start",
      fontSize: 11,
    },
    layer: [
      shade,
      {
        data: { values: cu.t.map((t, i) => ({ ms: ms(t), v: cu.freePages[i]! })) },
        mark: { type: "line", strokeWidth: 1.5, color: "#54a24b" },
        encoding: { x, y: { field: "v", type: "quantitative", title: "pages", scale: { zero: false } } },
      },
      ...memRules.flatMap((m) => [
        {
          data: { values: [{ v: m.v }] },
          mark: { type: "rule", color: "#555", strokeDash: [4, 3] },
          encoding: { y: { field: "v", type: "quantitative" } },
        },
        {
          data: { values: [{ v: m.v }] },
          mark: { type: "text", align: "right", baseline: "bottom", dy: -2, fontSize: 10, text: m.label },
          encoding: { y: { field: "v", type: "quantitative" }, x: { value: W - 2 } },
        },
      ]),
    ],
  };
  const rx = {
    width: W,
    height: H,
    title: { text: "packets received per ms; red lines: refill_work runs", anchor: "start", fontSize: 11 },
    layer: [
      shade,
      {
        data: { values: cu.t.map((t, i) => ({ ms: ms(t), v: cu.rxPackets[i]! })) },
        mark: { type: "area", color: "#72b7b2", interpolate: "step-after" },
        encoding: { x, y: { field: "v", type: "quantitative", title: "packets" } },
      },
      {
        data: { values: cu.refillRunTimes.map((t) => ({ ms: ms(t) })) },
        mark: { type: "rule", color: "#e45756", strokeWidth: 1.5 },
        encoding: { x: { field: "ms", type: "quantitative" } },
      },
    ],
  };
  const cpuRows = cu.cpuT.flatMap((t, i) =>
    Object.entries(cu.cpu).map(([cat, v]) => ({ ms: ms(t), cat, v: v[i]! })),
  );
  const cpu = {
    width: W,
    height: H,
    title: {
      text: `vCPU time by what it was for, per ${cu.cpuBinNs / 1e6} ms (booked when each piece of work starts)`,
      anchor: "start",
      fontSize: 11,
    },
    layer: [
      shade,
      {
        data: { values: cpuRows },
        mark: { type: "area", interpolate: "step-after" },
        encoding: {
          x,
          y: {
            field: "v",
            type: "quantitative",
            stack: "zero",
            title: "share of the vCPUs",
            axis: { format: "%" },
          },
          color: { field: "cat", type: "nominal", title: "CPU time", scale: { scheme: "tableau10" } },
          order: { field: "cat" },
        },
      },
    ],
  };
  const label = driverLabel(d.driver, d.notInLinux);
  const spec = {
    title: {
      text: `${title}: ${label}, seed ${r.seed}`,
      subtitle: `stall of ${Math.round(stallLen)} ms from ${(t0 / 1e9).toFixed(3)} s (shaded); the driver with the most stall time`,
      anchor: "start",
    },
    vconcat: [ring, free, rx, cpu],
    resolve: { scale: { color: "independent", x: "shared" } },
    config: CONFIG,
  } as TopLevelSpec;
  const caption =
    "Millisecond samples around the first stall of the worst driver: when the ring ran dry, where free memory stood, whether refill_work ran, and what the vCPU was doing meanwhile.";
  return { id, title, caption, spec };
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
        // The bars' title, or the shared axis would read "goodput (Mbit/s), lo".
        encoding: {
          x,
          y: { field: "lo", type: "quantitative", title: "goodput (Mbit/s)" },
          y2: { field: "hi" },
        },
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

/** Every chart of the comparison report, in display order; a chart that would hold nothing is an EmptyChart. */
export function compareCharts(c: CompareResult): (ChartDef | EmptyChart)[] {
  const stats = driverStats(c);
  const rules = memoryRules(c);
  const high = rules.find((r) => r.label === "high")?.v;
  return [
    goodputBarChart(stats),
    lineChart(stats, {
      id: "goodput",
      title: "goodput (Mbit/s)",
      caption: "Goodput over each sample interval.",
      yTitle: "Mbit/s",
      key: "goodputBps",
      scale: 1e-6,
    }),
    closeupChart(stats),
    lineChart(stats, {
      id: "ring",
      title: "rx ring occupancy (vi->num, buffers posted)",
      caption: "Buffers posted to the receive ring; at zero the host has nowhere to put packets.",
      yTitle: "buffers",
      key: "viNum",
    }),
    lineChart(stats, {
      id: "free-pages",
      title: "free pages against the zone watermarks",
      caption: "Free pages against the zone watermarks; GFP_ATOMIC allocations fail below the floor.",
      yTitle: "pages",
      key: "freePages",
      rules,
      // After an OOM kill free memory jumps far above the watermarks; keep them readable.
      ...(high === undefined ? {} : { yMax: Math.ceil(high * 4) }),
    }),
    lineChart(stats, {
      id: "host-drops",
      title: "host drops (cumulative packets, tap queue and qdisc)",
      caption: "Packets dropped at the host's tap queue and qdisc.",
      yTitle: "packets",
      key: "hostDrops",
      whenEmpty: "No packet was dropped at the host in any run.",
    }),
    refillEventsChart(stats),
    lineChart(stats, {
      id: "cwnd",
      title: "mean congestion window (segments)",
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

export async function renderCompareCharts(c: CompareResult): Promise<(RenderedChart | EmptyChart)[]> {
  const out: (RenderedChart | EmptyChart)[] = [];
  for (const ch of compareCharts(c)) {
    if ("empty" in ch) {
      out.push(ch);
      continue;
    }
    const svg = await renderSvg(ch.spec, `chart-${ch.id}`);
    out.push({ id: ch.id, title: ch.title, caption: ch.caption, svg });
  }
  return out;
}
