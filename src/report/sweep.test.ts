import { describe, expect, test } from "vitest";
import {
  MAP_METRICS,
  type MapRow,
  plotAxes,
  pointStats,
  renderSweepReport,
  SWEEP_METRICS,
  sweepCharts,
  sweepMaps,
} from "./sweep.ts";
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

describe("maps", () => {
  const mapRows = (spec: unknown): MapRow[] => (spec as { data: { values: MapRow[] } }).data.values;

  test("two parameters besides the driver give one map per metric: a panel per driver, a cell per point", () => {
    const input = syntheticSweep([DRIVERS, MEMORY, HZ], [1, 2, 3]);
    const maps = sweepMaps(input);
    expect(maps.map((m) => m.metric)).toEqual(
      SWEEP_METRICS.filter((m) => MAP_METRICS.includes(m.id)).map((m) => m.id),
    );
    const goodput = maps[0]!;
    expect([goodput.x, goodput.y]).toEqual(["guest.memory", "guest.hz"]);
    const rows = mapRows(goodput.spec);
    expect(rows).toHaveLength(3 * 3 * 2);
    const p = pointStats(input).find(
      (q) =>
        q.params["guest.driver.version"] === "patch1" &&
        q.params["guest.memory"] === "256MiB" &&
        q.params["guest.hz"] === "1000",
    )!;
    const cell = rows.find((r) => r.driver === "patch1" && r.x === "256MiB" && r.y === "1000")!;
    expect(cell.mean).toBe(p.metrics.goodput!.mean);
    const spec = goodput.spec as { facet: { column: { field: string }; row?: unknown } };
    expect(spec.facet.column.field).toBe("driver");
    expect(spec.facet.row).toBeUndefined();
  });

  test("a third parameter becomes panel rows; fewer than two parameters give no map", () => {
    const THIRD = { path: "guest.minFreeKbytes", values: ["1024", "2048"] };
    const maps = sweepMaps(syntheticSweep([DRIVERS, MEMORY, HZ, THIRD], [1]));
    const spec = maps[0]!.spec as { facet: { row?: { field: string } } };
    expect(spec.facet.row?.field).toBe("panel");
    expect(new Set(mapRows(maps[0]!.spec).map((r) => r.panel))).toEqual(
      new Set(["guest.minFreeKbytes=1024", "guest.minFreeKbytes=2048"]),
    );
    expect(sweepMaps(syntheticSweep([DRIVERS, MEMORY], [1]))).toEqual([]);
  });

  test("the HTML holds one figure per map before the line charts", async () => {
    const input = syntheticSweep([DRIVERS, MEMORY, HZ], [1, 2]);
    const html = await renderSweepReport(input);
    expect(html.match(/<figure class="map"/g)).toHaveLength(sweepMaps(input).length);
    expect(html.indexOf('<figure class="map"')).toBeLessThan(html.indexOf('<figure class="chart"'));
    expect(html.match(/<svg/g)).toHaveLength(sweepCharts(input).length + sweepMaps(input).length);
  });
});
