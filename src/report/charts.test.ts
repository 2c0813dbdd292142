import { describe, expect, test } from "vitest";
import type { CompareResult } from "../run/types.ts";
import {
  type ChartDef,
  compareCharts,
  type EmptyChart,
  type RenderedChart,
  renderCompareCharts,
  renderSvg,
} from "./charts.ts";
import { syntheticCompare } from "./fixtures.ts";
import { median } from "./stats.ts";

interface Row {
  t: number;
  driver: string;
  v: number;
  lo: number;
  hi: number;
}

function chart(c: CompareResult, id: string): ChartDef {
  const ch = compareCharts(c).find((x) => x.id === id)!;
  if ("empty" in ch) throw new Error(`${id} is empty: ${ch.empty}`);
  return ch;
}

/** The inline data rows of a generated spec (specs are plain objects; the type is vega-lite's union). */
function dataRows(spec: unknown): Row[] {
  return (spec as { data: { values: Row[] } }).data.values;
}

/** The y values of the reference rules of a faceted line chart. */
function ruleValues(spec: unknown): number[] {
  const layers = (
    spec as { spec: { layer: { mark: { type: string }; encoding: { y?: { datum?: number } } }[] } }
  ).spec.layer;
  return layers.filter((l) => l.mark.type === "rule").map((l) => l.encoding.y!.datum!);
}

const rendered = (xs: (RenderedChart | EmptyChart)[]) => xs.filter((x): x is RenderedChart => "svg" in x);

describe("chart specs", () => {
  test("time series are small multiples: a panel per driver, the median over seeds with their range", () => {
    const c = syntheticCompare({ drivers: ["a", "b"], seeds: [1, 2, 3], points: 10 });
    const spec = chart(c, "goodput").spec as { facet: { row: { field: string } } };
    expect(spec.facet.row.field).toBe("driver");
    const rows = dataRows(spec);
    const a = rows.filter((r) => r.driver === "a");
    const runs = c.runs.filter((r) => r.driver === "a");
    expect(a).toHaveLength(10);
    expect(a[3]!.t).toBeCloseTo(runs[0]!.series.t[3]! / 1e9, 12);
    const vals = runs.map((r) => r.series.goodputBps[3]! / 1e6);
    expect(a[3]!.v).toBeCloseTo(median(vals), 9);
    expect(a[3]!.lo).toBeCloseTo(Math.min(...vals), 9);
    expect(a[3]!.hi).toBeCloseTo(Math.max(...vals), 9);
    // Not the mean: with three distinct values the median differs from it.
    const mean = vals.reduce((x, y) => x + y, 0) / vals.length;
    expect(Math.abs(a[3]!.v - mean)).toBeGreaterThan(1e-9);
  });

  test("falls back to the first seed when sample times differ", () => {
    const c = syntheticCompare({ drivers: ["a"], seeds: [2, 1], points: 10, jitterSampleTimes: true });
    const ch = chart(c, "ring");
    const first = c.runs.find((r) => r.seed === 2)!;
    expect(dataRows(ch.spec).map((r) => r.v)).toEqual(first.series.viNum);
    expect(JSON.stringify(ch.spec)).toContain("first seed of each driver");
  });

  test("free pages carry the watermarks and the GFP_ATOMIC floor, on an axis cut where they stay readable", () => {
    const c = syntheticCompare({ points: 5 });
    const spec = chart(c, "free-pages").spec;
    expect(ruleValues(spec)).toEqual([1512, 1260, 1008, 378]);
    expect(JSON.stringify(spec)).not.toContain("axis cut");
    // An OOM kill frees far more than the watermarks: the axis stops at 4 × high and says so.
    for (const r of c.runs) r.series.freePages[2] = 50_000;
    const cut = chart(c, "free-pages").spec;
    expect(JSON.stringify(cut)).toContain('"domain":[0,6048]');
    expect(JSON.stringify(cut)).toContain("axis cut at 6048");
    const bare = syntheticCompare({ points: 5, withMemoryCounters: false });
    expect(ruleValues(chart(bare, "free-pages").spec)).toEqual([]);
  });

  test("a chart that would hold nothing is replaced by a sentence", () => {
    const c = syntheticCompare({ points: 20 });
    expect("spec" in compareCharts(c).find((x) => x.id === "host-drops")!).toBe(true);
    for (const r of c.runs) {
      r.series.hostDrops.fill(0);
      r.refillRunTimes = [];
      r.closeup = null;
    }
    const byId = new Map(compareCharts(c).map((x) => [x.id, x]));
    expect(byId.get("host-drops")).toEqual({
      id: "host-drops",
      title: expect.any(String),
      empty: "No packet was dropped at the host in any run.",
    });
    expect("empty" in byId.get("refill-events")!).toBe(true);
    expect("empty" in byId.get("first-stall")!).toBe(true);
  });

  test("the close-up shows the first stall of the driver with the most stall time", () => {
    const c = syntheticCompare({ points: 20 });
    const ch = chart(c, "first-stall");
    const worst = c.drivers
      .map((d) => ({ d, ms: c.runs.filter((r) => r.driver === d).reduce((a, r) => a + r.stalls.totalMs, 0) }))
      .sort((x, y) => y.ms - x.ms)[0]!.d;
    const spec = ch.spec as { vconcat: unknown[]; title: { text: string } };
    expect(spec.vconcat).toHaveLength(4);
    expect(spec.title.text).toContain(worst);
    const run = c.runs.find((r) => r.driver === worst && r.closeup !== null)!;
    // The ring panel holds vi->num at 1 ms steps, measured from the stall's start.
    const ring = (
      spec.vconcat[0] as { layer: { data: { values: { ms: number; v: number; what: string }[] } }[] }
    ).layer[1]!.data.values.filter((x) => x.what === "vi->num");
    expect(ring.map((x) => x.v)).toEqual(run.closeup!.viNum);
    expect(ring[1]!.ms - ring[0]!.ms).toBe(1);
  });
});

describe("SVG rendering", () => {
  test("same input gives the same SVG bytes, whatever was rendered before", async () => {
    const c = syntheticCompare({ points: 120 });
    const first = rendered(await renderCompareCharts(c));
    // Rendering something else moves vega's module-wide clip/gradient id counters.
    await renderSvg(chart(syntheticCompare({ drivers: ["x"], points: 7 }), "goodput").spec, "other");
    const second = rendered(await renderCompareCharts(c));
    expect(second.map((x) => x.svg)).toEqual(first.map((x) => x.svg));
    for (const ch of first) expect(ch.svg.startsWith("<svg")).toBe(true);
  });

  test("element ids are unique across the charts of one report", async () => {
    const charts = rendered(await renderCompareCharts(syntheticCompare({ points: 30 })));
    const ids = charts.flatMap((ch) => [...ch.svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!));
    expect(ids.length).toBeGreaterThan(0);
    expect(new Set(ids).size).toBe(ids.length);
    for (const ch of charts) {
      for (const m of ch.svg.matchAll(/url\(#([^)]+)\)/g)) expect(ids).toContain(m[1]);
    }
  });
});

describe("axis titles", () => {
  test("no axis title is the join of two layers' fields (e.g. 'goodput (Mbit/s), lo')", async () => {
    const charts = rendered(await renderCompareCharts(syntheticCompare({ points: 30 })));
    const titles = charts.flatMap((ch) =>
      [...ch.svg.matchAll(/role-axis-title[^>]*>(?:<[^>]*>)*([^<]+)</g)].map((m) => m[1]!),
    );
    expect(titles).toContain("goodput (Mbit/s)");
    for (const t of titles) expect(t).not.toMatch(/, (lo|hi|mean)\b/);
  });
});
