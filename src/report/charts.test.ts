import { describe, expect, test } from "vitest";
import { compareCharts, renderCompareCharts, renderSvg } from "./charts.ts";
import { syntheticCompare } from "./fixtures.ts";

interface Row {
  t: number;
  driver: string;
  v: number;
}

/** The inline data rows of a generated spec (specs are plain objects; the type is vega-lite's union). */
function dataRows(spec: unknown): Row[] {
  return (spec as { data: { values: Row[] } }).data.values;
}

function layerData(spec: unknown): { label: string; v: number }[][] {
  const layers = (spec as { layer: { data?: { values: { label: string; v: number }[] } }[] }).layer;
  return layers.flatMap((l) => (l.data ? [l.data.values] : []));
}

describe("chart specs", () => {
  test("goodput lines are the mean over seeds when sample times align", () => {
    const c = syntheticCompare({ drivers: ["a", "b"], seeds: [1, 2], points: 10 });
    const rows = dataRows(compareCharts(c).find((ch) => ch.id === "goodput")!.spec);
    const a = rows.filter((r) => r.driver === "a");
    const [r1, r2] = c.runs.filter((r) => r.driver === "a");
    expect(a).toHaveLength(10);
    expect(a[3]!.t).toBeCloseTo(r1!.series.t[3]! / 1e9, 12);
    expect(a[3]!.v).toBeCloseTo((r1!.series.goodputBps[3]! + r2!.series.goodputBps[3]!) / 2e6, 9);
  });

  test("falls back to the first seed when sample times differ", () => {
    const c = syntheticCompare({ drivers: ["a"], seeds: [2, 1], points: 10, jitterSampleTimes: true });
    const ch = compareCharts(c).find((x) => x.id === "ring")!;
    const first = c.runs.find((r) => r.seed === 2)!;
    expect(dataRows(ch.spec).map((r) => r.v)).toEqual(first.series.viNum);
    expect(JSON.stringify(ch.spec)).toContain("first seed of each driver");
  });

  test("free pages carry the watermarks and the GFP_ATOMIC floor when the runs report them", () => {
    const spec = compareCharts(syntheticCompare({ points: 5 })).find((x) => x.id === "free-pages")!.spec;
    const rules = layerData(spec)[0]!;
    expect(rules.map((r) => r.v)).toEqual([1512, 1260, 1008, 378]);
    const bare = syntheticCompare({ points: 5, withMemoryCounters: false });
    const bareSpec = compareCharts(bare).find((x) => x.id === "free-pages")!.spec;
    expect(layerData(bareSpec)[0]).toEqual([]);
  });
});

describe("SVG rendering", () => {
  test("same input gives the same SVG bytes, whatever was rendered before", async () => {
    const c = syntheticCompare({ points: 120 });
    const first = await renderCompareCharts(c);
    // Rendering something else moves vega's module-wide clip/gradient id counters.
    await renderSvg(compareCharts(syntheticCompare({ drivers: ["x"], points: 7 }))[1]!.spec, "other");
    const second = await renderCompareCharts(c);
    expect(second.map((x) => x.svg)).toEqual(first.map((x) => x.svg));
    for (const ch of first) expect(ch.svg.startsWith("<svg")).toBe(true);
  });

  test("element ids are unique across the charts of one report", async () => {
    const charts = await renderCompareCharts(syntheticCompare({ points: 30 }));
    const ids = charts.flatMap((ch) => [...ch.svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!));
    expect(ids.length).toBeGreaterThan(0);
    expect(new Set(ids).size).toBe(ids.length);
    for (const ch of charts) {
      for (const m of ch.svg.matchAll(/url\(#([^)]+)\)/g)) expect(ids).toContain(m[1]);
    }
  });
});
