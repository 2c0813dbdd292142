import { describe, expect, it } from "vitest";
import type { ScaleRow } from "./scale.ts";
import { renderScaleReport, scaleCharts } from "./scale-report.ts";

function row(over: Partial<ScaleRow>): ScaleRow {
  return {
    flows: 1,
    rate: "10Gbit/s",
    duration: "10s",
    axes: ["flows"],
    warm: true,
    packets: 1000,
    events: 2800,
    wallSeconds: 1,
    wallPerSimSecond: 0.1,
    packetsPerSecond: 1000,
    nsPerPacket: 1e6,
    cpuNsPerPacket: 5e5,
    setupCpuMs: 50,
    runCpuNsPerPacket: 4.5e5,
    runCpuNsPerEvent: 1.6e5,
    eventsPerPacket: 2.8,
    retransPerPacket: 0,
    collapsedPerPacket: 0.8,
    warmUpPackets: 250_000,
    startRssBytes: 2 ** 27,
    peakRssBytes: 2 ** 28,
    load: 1,
    ...over,
  };
}

describe("scaleCharts", () => {
  it("charts each metric against an axis with two or more points, in axis order", () => {
    const rows = [
      row({ flows: 100, nsPerPacket: 3000 }),
      row({ flows: 1, axes: ["flows", "rate"], nsPerPacket: 2000 }),
      row({ rate: "1Gbit/s", axes: ["rate"], peakRssBytes: 2 ** 29 }),
    ];
    const charts = scaleCharts(rows);
    expect(charts.map((c) => c.id)).toEqual([
      "flows-ns-per-packet",
      "flows-cpu-ns-per-packet",
      "flows-run-cpu-ns-per-packet",
      "flows-events-per-packet",
      "flows-retrans-per-packet",
      "flows-collapsed-per-packet",
      "flows-peak-rss",
      "rate-ns-per-packet",
      "rate-cpu-ns-per-packet",
      "rate-run-cpu-ns-per-packet",
      "rate-events-per-packet",
      "rate-retrans-per-packet",
      "rate-collapsed-per-packet",
      "rate-peak-rss",
    ]);
    const values = (id: string) =>
      (charts.find((c) => c.id === id)!.spec as { data: { values: unknown } }).data.values;
    expect(values("flows-ns-per-packet")).toEqual([
      { x: 1, y: 2000 },
      { x: 100, y: 3000 },
    ]);
    expect(values("rate-peak-rss")).toEqual([
      { x: 1e9, y: 512 },
      { x: 1e10, y: 256 },
    ]);
  });

  it("leaves out an axis with a single point: no curve to read", () => {
    expect(scaleCharts([row({ axes: ["duration"] })])).toEqual([]);
  });
});

describe("renderScaleReport", () => {
  it("is one page with the table, the context line escaped and an SVG per chart", async () => {
    const html = await renderScaleReport([row({}), row({ flows: 10 })], "load <3> & more");
    expect(html).toContain("load &lt;3&gt; &amp; more");
    expect(html.match(/<tr>/g)).toHaveLength(3);
    expect(html.match(/<svg/g)).toHaveLength(7);
    expect(html).toContain('data-chart="flows-peak-rss"');
    expect(html).not.toContain("<script");
  });
});
