import { describe, expect, test } from "vitest";
import { renderSweepReport, plotAxes, pointStats, SWEEP_METRICS, sweepCharts } from "./sweep.ts";
import { syntheticGoodputBps, syntheticSweep } from "./sweep-fixtures.ts";
import { sampleStats } from "./stats.ts";

const DRIVERS = { path: "guest.driver.version", values: ["v3.2", "patch1", "ours"] };
const MEMORY = { path: "guest.memory", values: ["512MiB", "128MiB", "256MiB"] };
const HZ = { path: "guest.hz", values: ["100", "1000"] };

interface Row {
  x: string;
  driver: string;
  panel: string;
  mean: number;
  lo: number;
  hi: number;
}
const rowsOf = (spec: unknown): Row[] => (spec as { data: { values: Row[] } }).data.values;

describe("aggregation", () => {
  test("each point is the mean of its seeds with a Student-t 95% CI", () => {
    const input = syntheticSweep([DRIVERS, MEMORY], [1, 2, 3]);
    const points = pointStats(input);
    expect(points).toHaveLength(9);
    const p = points.find(
      (x) => x.params["guest.memory"] === "256MiB" && x.params["guest.driver.version"] === "patch1",
    )!;
    const expected = sampleStats([1, 2, 3].map((seed) => syntheticGoodputBps([1, 2], seed) / 1e6))!;
    expect(p.metrics.goodput).toEqual(expected);
    expect(p.ok).toBe(3);
    expect(p.driver).toBe("patch1");
    expect(points.find((x) => x.params["guest.driver.version"] === "ours")!.driver).toBe("ours*");
  });

  test("failed runs are counted, not averaged", () => {
    const input = syntheticSweep([MEMORY], [1, 2], 1);
    const first = pointStats(input)[0]!;
    expect([first.ok, first.failed]).toEqual([1, 1]);
    expect(first.metrics.goodput!.n).toBe(1);
    expect(Number.isNaN(first.metrics.goodput!.ciHalf)).toBe(true);
  });
});

describe("charts", () => {
  test("the driver is the colour, other axes are x; one chart per metric", () => {
    const input = syntheticSweep([DRIVERS, MEMORY], [1, 2, 3]);
    expect(plotAxes(input.campaign.grid).map((a) => a.path)).toEqual(["guest.memory"]);
    const charts = sweepCharts(input);
    expect(charts.map((c) => c.metric)).toEqual(SWEEP_METRICS.map((m) => m.id));
    const goodput = rowsOf(charts[0]!.spec);
    expect(goodput).toHaveLength(9);
    const r = goodput.find((x) => x.x === "128MiB" && x.driver === "v3.2")!;
    const s = sampleStats([1, 2, 3].map((seed) => syntheticGoodputBps([0, 1], seed) / 1e6))!;
    expect([r.mean, r.lo, r.hi]).toEqual([s.mean, s.mean - s.ciHalf, s.mean + s.ciHalf]);
    // x keeps the order the values were given in, not alphabetical.
    expect(JSON.stringify(charts[0]!.spec)).toContain('"sort":["512MiB","128MiB","256MiB"]');
  });

  test("further axes become panels, so nothing is averaged over another parameter", () => {
    const charts = sweepCharts(syntheticSweep([DRIVERS, MEMORY, HZ], [1, 2]));
    expect(charts.map((c) => c.axis)).toEqual([
      ...SWEEP_METRICS.map(() => "guest.memory"),
      ...SWEEP_METRICS.map(() => "guest.hz"),
    ]);
    const spec = charts[0]!.spec as { facet?: { field: string } };
    expect(spec.facet?.field).toBe("panel");
    const panels = new Set(rowsOf(charts[0]!.spec).map((r) => r.panel));
    expect(panels).toEqual(new Set(["guest.hz=100", "guest.hz=1000"]));
  });

  test("a driver-only grid is plotted against the driver", () => {
    const input = syntheticSweep([DRIVERS], [1]);
    expect(sweepCharts(input)[0]!.axis).toBe("guest.driver.version");
    expect(sweepCharts(syntheticSweep([], [1, 2]))).toEqual([]);
  });
});

describe("HTML", () => {
  test("charts, the points table, failures and the campaign", async () => {
    const input = syntheticSweep([DRIVERS, MEMORY], [1, 2], 2);
    const html = await renderSweepReport(input);
    expect(html.match(/<figure class="chart"/g)).toHaveLength(sweepCharts(input).length);
    expect(html.match(/<svg/g)).toHaveLength(sweepCharts(input).length);
    const points = html.match(/<table class="points">[\s\S]*?<\/table>/)![0];
    expect(points.match(/<tr>/g)).toHaveLength(1 + 9);
    const failures = html.match(/<table class="failures">[\s\S]*?<\/table>/)![0];
    expect(failures.match(/<tr>/g)).toHaveLength(1 + 2);
    expect(failures).toContain("ModelError: synthetic failure");
    expect(failures).not.toContain("at somewhere");
    expect(html).toContain("5ee0c0ffee5ee0c0");
    expect(html).toContain("not in Linux");
    expect(html).not.toMatch(/<script|<link|src="/);
  });
});
