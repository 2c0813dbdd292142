/**
 * Aggregation of a CompareResult per driver over seeds, and the summary table's cells, which the text
 * table (table.ts) and the HTML report (html.ts) both print, so the two never disagree.
 *
 * Counters that the model may or may not report yet (host drops, atomic allocation failures,
 * watermarks) are read defensively: a reader returns null when the run has no such field, and the
 * table shows "–".
 */

import type { CompareResult, RunSummary } from "../run/types.ts";

/**
 * Two-sided 95 % critical values of Student's t, t(0.975; df) for df = 1..30, then 40, 60, 120, ∞.
 * The rows of NIST/SEMATECH e-Handbook of Statistical Methods §1.3.6.7.2 ("Critical values of the
 * Student's t distribution"), given here to 9 significant digits; stats.test.ts checks each against the
 * closed-form t CDF (Abramowitz & Stegun 26.7.3–4).
 */
const T975: readonly number[] = [
  12.7062047, 4.30265273, 3.18244631, 2.77644511, 2.57058184, 2.44691185, 2.36462425, 2.30600414, 2.26215716,
  2.22813885, 2.20098516, 2.17881283, 2.16036866, 2.14478669, 2.13144955, 2.1199053, 2.10981558, 2.10092204,
  2.09302405, 2.08596345, 2.07961384, 2.07387307, 2.06865761, 2.06389856, 2.05953855, 2.05552944, 2.05183052,
  2.04840714, 2.04522964, 2.04227246,
];
/** [df, t(0.975; df)] beyond the table; ∞ is the normal quantile 1.959963985. */
const T975_TAIL: readonly (readonly [number, number])[] = [
  [30, 2.04227246],
  [40, 2.02107539],
  [60, 2.00029782],
  [120, 1.97993041],
  [Number.POSITIVE_INFINITY, 1.95996398],
];

/**
 * t(0.975; df): exact (to the table's digits) for df ≤ 30; beyond, linear in 1/df between the tail
 * rows, the interpolation the printed tables prescribe (error below 1e-4 in t).
 */
export function tQuantile975(df: number): number {
  if (!(Number.isInteger(df) && df >= 1)) throw new RangeError(`degrees of freedom must be ≥ 1, got ${df}`);
  if (df <= T975.length) return T975[df - 1]!;
  for (let i = 1; i < T975_TAIL.length; i++) {
    const [df1, t1] = T975_TAIL[i]!;
    if (df > df1) continue;
    const [df0, t0] = T975_TAIL[i - 1]!;
    const f = (1 / df0 - 1 / df) / (1 / df0 - 1 / df1);
    return t0 + f * (t1 - t0);
  }
  return T975_TAIL[T975_TAIL.length - 1]![1];
}

export interface SampleStats {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); NaN for n = 1. */
  sd: number;
  /** Half-width of the 95 % confidence interval of the mean, t(0.975; n − 1)·sd/√n; NaN for n = 1. */
  ciHalf: number;
  median: number;
  min: number;
  max: number;
}

/** Median of the values (mean of the two middle ones for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Mean, sd, 95 % CI, median and range of a sample; null when the sample is empty. */
export function sampleStats(xs: readonly number[]): SampleStats | null {
  const n = xs.length;
  if (n === 0) return null;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const x of xs) {
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const mean = sum / n;
  let ss = 0;
  for (const x of xs) ss += (x - mean) * (x - mean);
  const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : Number.NaN;
  const ciHalf = n > 1 ? (tQuantile975(n - 1) * sd) / Math.sqrt(n) : Number.NaN;
  return { n, mean, sd, ciHalf, median: median(xs), min, max };
}

// ---- Reading a run's counters ----

function numberAt(rec: Record<string, unknown> | undefined, key: string): number | null {
  const v = rec?.[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** A number, or the sum of a per-zone/per-context record of numbers; null when absent. */
function numberOrSum(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (v === null || typeof v !== "object") return null;
  let sum = 0;
  let any = false;
  for (const x of Object.values(v)) {
    if (typeof x === "number" && Number.isFinite(x)) {
      sum += x;
      any = true;
    }
  }
  return any ? sum : null;
}

export function goodputMbps(r: RunSummary): number {
  return r.goodputBps / 1e6;
}

/**
 * Packets the host dropped: the tap's counters (qdiscDrops + txDropped, named as in src/host/tap.ts)
 * when the run reports them, else the last sample of the cumulative series; null when neither exists.
 */
export function hostDrops(r: RunSummary): number | null {
  const qdisc = numberAt(r.host, "qdiscDrops");
  const tap = numberAt(r.host, "txDropped");
  if (qdisc !== null || tap !== null) return (qdisc ?? 0) + (tap ?? 0);
  const s = r.series?.hostDrops;
  return s && s.length > 0 ? s[s.length - 1]! : null;
}

/** RTO expiries summed over flows (LINUX_MIB_TCPTIMEOUTS per flow). */
export function rtoCount(r: RunSummary): number {
  let n = 0;
  for (const f of r.flows) n += f.timeouts;
  return n;
}

/** Keys of r.memory that count GFP_ATOMIC failures, as a number or a per-context record. */
const ATOMIC_FAIL_KEYS = ["allocFailAtomic", "allocFailGfpAtomic"] as const;

/**
 * Failed GFP_ATOMIC allocations: the page allocator's count (memory.allocFail.GFP_ATOMIC or
 * memory.allocFailAtomic) when present, else the driver's failed try_fill_recv(GFP_ATOMIC) calls
 * (guest.tryFillOom.GFP_ATOMIC); null when the run reports neither.
 */
export function atomicAllocFailures(r: RunSummary): number | null {
  const byContext = r.memory?.allocFail;
  if (byContext !== undefined && typeof byContext === "object") {
    const v = numberAt(byContext, "GFP_ATOMIC");
    if (v !== null) return v;
  }
  for (const key of ATOMIC_FAIL_KEYS) {
    const v = numberOrSum(r.memory?.[key]);
    if (v !== null) return v;
  }
  const oom = r.guest?.tryFillOom;
  if (oom !== undefined && typeof oom === "object") return numberAt(oom, "GFP_ATOMIC");
  return null;
}

export interface Watermarks {
  min: number;
  low: number;
  high: number;
}

/**
 * The zone watermarks in pages (memory.watermarkMin/Low/High; per-zone records are summed, as the
 * freePages series sums the zones); null unless all three are present.
 */
export function watermarks(r: RunSummary): Watermarks | null {
  const min = numberOrSum(r.memory?.watermarkMin);
  const low = numberOrSum(r.memory?.watermarkLow);
  const high = numberOrSum(r.memory?.watermarkHigh);
  return min !== null && low !== null && high !== null ? { min, low, high } : null;
}

/**
 * The free-page floor below which GFP_ATOMIC fails: __zone_watermark_ok (mm/page_alloc.c) takes
 * `min -= min / 2` for ALLOC_HIGH, then `min -= min / 4` for ALLOC_HARDER, in integer maths (≈ 3/8 min).
 */
export function atomicFloor(min: number): number {
  let m = min - Math.floor(min / 2);
  m -= Math.floor(m / 4);
  return m;
}

/** Gaps between consecutive refill_work starts, ns, in time order. */
export function refillGapsNs(r: RunSummary): number[] {
  const ts = [...r.refillRunTimes].sort((a, b) => a - b);
  const gaps: number[] = [];
  for (let i = 1; i < ts.length; i++) gaps.push(ts[i]! - ts[i - 1]!);
  return gaps;
}

/** Median gap between refill_work runs, ms, over the gaps of all given runs pooled; null with no gap. */
export function medianRefillSpacingMs(runs: readonly RunSummary[]): number | null {
  const gaps = runs.flatMap(refillGapsNs);
  return gaps.length > 0 ? median(gaps) / 1e6 : null;
}

// ---- Per-driver aggregation ----

export interface DriverStats {
  driver: string;
  /** True when any of the driver's runs is a policy of ours that was never in Linux. */
  notInLinux: boolean;
  /** The driver's runs in the order of CompareResult.seeds. */
  runs: RunSummary[];
  goodputMbps: SampleStats | null;
  hostDrops: SampleStats | null;
  stallTotalS: SampleStats | null;
  stallLongestMs: SampleStats | null;
  refillRuns: SampleStats | null;
  /** Median refill_work spacing, gaps pooled over seeds. */
  refillSpacingMs: number | null;
  rtos: SampleStats | null;
  atomicAllocFailures: SampleStats | null;
}

function statsOf(runs: readonly RunSummary[], read: (r: RunSummary) => number | null): SampleStats | null {
  const xs: number[] = [];
  for (const r of runs) {
    const v = read(r);
    if (v !== null) xs.push(v);
  }
  return sampleStats(xs);
}

/** The runs of one driver, in the order of c.seeds (then by seed, for seeds not listed). */
export function runsOf(c: CompareResult, driver: string): RunSummary[] {
  const rank = (seed: number): number => {
    const i = c.seeds.indexOf(seed);
    return i < 0 ? c.seeds.length : i;
  };
  return c.runs
    .filter((r) => r.driver === driver)
    .sort((a, b) => rank(a.seed) - rank(b.seed) || a.seed - b.seed);
}

/** Drivers in c.drivers order, then any driver that only appears in runs. */
export function driverNames(c: CompareResult): string[] {
  const names = [...c.drivers];
  for (const r of c.runs) if (!names.includes(r.driver)) names.push(r.driver);
  return names;
}

export function driverStats(c: CompareResult): DriverStats[] {
  return driverNames(c).map((driver) => {
    const runs = runsOf(c, driver);
    return {
      driver,
      notInLinux: runs.some((r) => r.driverNotInLinux),
      runs,
      goodputMbps: statsOf(runs, goodputMbps),
      hostDrops: statsOf(runs, hostDrops),
      stallTotalS: statsOf(runs, (r) => r.stalls.totalMs / 1e3),
      stallLongestMs: statsOf(runs, (r) => r.stalls.longestMs),
      refillRuns: statsOf(runs, (r) => r.refillRunTimes.length),
      refillSpacingMs: medianRefillSpacingMs(runs),
      rtos: statsOf(runs, rtoCount),
      atomicAllocFailures: statsOf(runs, atomicAllocFailures),
    };
  });
}

// ---- Formatting shared by the text and HTML tables ----

export const MISSING = "–";
export const NOT_IN_LINUX_MARK = "*";
export const NOT_IN_LINUX_NOTE = "not in Linux: a policy of ours";

/** The driver's name, marked when it is a policy of ours. */
export function driverLabel(driver: string, notInLinux: boolean): string {
  return notInLinux ? `${driver}${NOT_IN_LINUX_MARK}` : driver;
}

/** A measurement with about three significant digits, no exponent, no locale separators. */
export function formatNumber(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return MISSING;
  const a = Math.abs(x);
  if (Number.isInteger(x)) return String(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** "mean ± half-width" with both at the mean's precision; the mean alone when there is no CI. */
export function formatMeanCi(s: SampleStats | null): string {
  if (s === null) return MISSING;
  if (!Number.isFinite(s.ciHalf)) return formatNumber(s.mean);
  const a = Math.max(Math.abs(s.mean), s.ciHalf);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return `${s.mean.toFixed(digits)} ± ${s.ciHalf.toFixed(digits)}`;
}

export interface SummaryColumn {
  header: string;
  /** Right-aligned (numbers) or left-aligned (names). */
  numeric: boolean;
  cell: (d: DriverStats) => string;
}

const mean = (s: SampleStats | null): number | null => (s === null ? null : s.mean);

/** The summary table's columns, in order; one definition for the text and the HTML tables. */
export const SUMMARY_COLUMNS: readonly SummaryColumn[] = [
  { header: "driver", numeric: false, cell: (d) => driverLabel(d.driver, d.notInLinux) },
  { header: "goodput Mbit/s (95% CI)", numeric: true, cell: (d) => formatMeanCi(d.goodputMbps) },
  { header: "host drops", numeric: true, cell: (d) => formatNumber(mean(d.hostDrops)) },
  { header: "stall s", numeric: true, cell: (d) => formatNumber(mean(d.stallTotalS)) },
  {
    header: "longest stall ms",
    numeric: true,
    cell: (d) => formatNumber(d.stallLongestMs === null ? null : d.stallLongestMs.max),
  },
  { header: "refill runs", numeric: true, cell: (d) => formatNumber(mean(d.refillRuns)) },
  { header: "refill spacing ms", numeric: true, cell: (d) => formatNumber(d.refillSpacingMs) },
  { header: "RTOs", numeric: true, cell: (d) => formatNumber(mean(d.rtos)) },
  { header: "atomic alloc fails", numeric: true, cell: (d) => formatNumber(mean(d.atomicAllocFailures)) },
];

export interface SummaryTable {
  columns: readonly SummaryColumn[];
  rows: string[][];
  /** Footnotes in print order (how the numbers were aggregated; the not-in-Linux mark if used). */
  notes: string[];
}

export function summaryTable(c: CompareResult): SummaryTable {
  const stats = driverStats(c);
  const rows = stats.map((d) => SUMMARY_COLUMNS.map((col) => col.cell(d)));
  const notes = [
    `Means over seeds (${c.seeds.join(", ")}); ± is the half-width of the 95% confidence interval ` +
      "(Student's t, n − 1 degrees of freedom). Longest stall: the maximum over seeds. Refill spacing: " +
      "median gap between refill_work runs, pooled over seeds. RTOs: timeouts summed over flows.",
  ];
  if (stats.some((d) => d.notInLinux)) notes.push(`${NOT_IN_LINUX_MARK} ${NOT_IN_LINUX_NOTE}`);
  return { columns: SUMMARY_COLUMNS, rows, notes };
}
