/**
 * Plain-text tables for `vnetlab bench`: one line per row, the name left-aligned and numbers
 * right-aligned under a header, so that runs can be compared by eye or with diff.
 */

/** An event-rate result, optionally against a baseline (FesWorkloadResult fits). */
export interface RateRow {
  name: string;
  eventsPerSecond: number;
  baselineEventsPerSecond?: number;
  ratio?: number;
}

/** Any other measurement. */
export interface ValueRow {
  name: string;
  value: number;
  unit: string;
}

export type BenchRow = RateRow | ValueRow;

const PREFIXES: [number, string][] = [
  [1e9, "G"],
  [1e6, "M"],
  [1e3, "k"],
];

/** 3 significant digits with an SI prefix: 4210000 → "4.21 M". */
export function formatSi(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  for (const [scale, prefix] of PREFIXES) {
    if (Math.abs(x) >= scale) return `${(x / scale).toPrecision(3)} ${prefix}`;
  }
  return Number.isInteger(x) ? String(x) : x.toPrecision(3);
}

/** Integers with thousands separators, other numbers to 4 significant digits. */
export function formatValue(x: number): string {
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  return Number.isFinite(x) ? String(Number(x.toPrecision(4))) : String(x);
}

const rate = (x: number | undefined): string => (x === undefined ? "" : `${formatSi(x)} events/s`);

function cells(row: BenchRow): string[] {
  if ("eventsPerSecond" in row) {
    const ratio = row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}×`;
    return [row.name, rate(row.eventsPerSecond), rate(row.baselineEventsPerSecond), ratio];
  }
  return [row.name, `${formatValue(row.value)} ${row.unit}`.trimEnd(), "", ""];
}

/** The rows as an aligned table with a header line; columns left empty everywhere are dropped. */
export function formatBenchTable(rows: readonly BenchRow[]): string {
  const header = ["benchmark", "result", "baseline", "ratio"];
  const body = rows.map(cells);
  const used = header.map((_, c) => c === 0 || body.some((r) => r[c] !== ""));
  return alignTable([header, ...body].map((r) => r.filter((_, c) => used[c])));
}

/** Rows (the header first) aligned two spaces apart: the first column left, the others right. */
export function alignTable(table: readonly (readonly string[])[]): string {
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  return table
    .map((r) =>
      r
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
