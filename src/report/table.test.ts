import { describe, expect, test } from "vitest";
import { syntheticCompare } from "./fixtures.ts";
import { driverStats, MISSING, NOT_IN_LINUX_NOTE } from "./stats.ts";
import { formatCompareTable, formatRunTable } from "./table.ts";

/** The table's lines: header, rule, one per driver. */
function tableLines(text: string): string[] {
  const lines = text.split("\n");
  const rule = lines.findIndex((l) => /^-+( +-+)+$/.test(l));
  return lines.slice(rule - 1, lines.indexOf("", rule));
}

describe("formatCompareTable", () => {
  const c = syntheticCompare({ notInLinux: ["mainline"], points: 50 });
  const text = formatCompareTable(c);
  const lines = tableLines(text);

  test("one row per driver in order, with its goodput mean ± 95% CI half-width", () => {
    expect(lines).toHaveLength(2 + c.drivers.length);
    const stats = driverStats(c);
    c.drivers.forEach((d, i) => {
      const row = lines[2 + i]!;
      expect(row.startsWith(d)).toBe(true);
      const m = /(\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)/.exec(row)!;
      const g = stats[i]!.goodputMbps!;
      expect(Math.abs(Number(m[1]) - g.mean)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(Number(m[2]) - g.ciHalf)).toBeLessThanOrEqual(0.5);
    });
  });

  test("columns align: every line is as wide as the rule", () => {
    const width = lines[1]!.length;
    for (const l of lines.slice(2)) expect(l.length).toBe(width);
  });

  test("marks drivers not in Linux and explains the mark", () => {
    expect(lines.find((l) => l.startsWith("mainline"))!.startsWith("mainline*")).toBe(true);
    expect(lines.filter((l) => l.includes("*"))).toHaveLength(1);
    expect(text).toContain(`* ${NOT_IN_LINUX_NOTE}`);
    expect(formatCompareTable(syntheticCompare({ points: 5 }))).not.toContain(NOT_IN_LINUX_NOTE);
  });

  test("shows – for counters the runs do not report", () => {
    const bare = syntheticCompare({ points: 20, withMemoryCounters: false, withTryFillOom: false });
    const rows = tableLines(formatCompareTable(bare)).slice(2);
    for (const row of rows) expect(row.endsWith(MISSING)).toBe(true);
    for (const row of lines.slice(2)) expect(row).not.toContain(MISSING);
  });

  test("a single seed shows the mean without a CI", () => {
    const one = tableLines(formatCompareTable(syntheticCompare({ seeds: [5], points: 20 })));
    for (const row of one.slice(2)) expect(row).not.toContain("±");
  });
});

describe("formatRunTable", () => {
  test("names the run, its counters and one row per flow", () => {
    const c = syntheticCompare({
      drivers: ["rfc-v1"],
      seeds: [3],
      points: 30,
      flows: 3,
      notInLinux: ["rfc-v1"],
    });
    const r = c.runs[0]!;
    const text = formatRunTable(r);
    expect(text).toContain("rfc-v1*");
    expect(text).toContain(r.fingerprint);
    expect(text).toMatch(/^seed\s+3$/m);
    expect(text).toContain(`refill_work runs    ${r.refillRunTimes.length} (median spacing`);
    expect(text).toContain(NOT_IN_LINUX_NOTE);
    const flowRows = text.split("\n").filter((l) => /^\s+\d+\s+\d+\s+torrent/.test(l));
    expect(flowRows).toHaveLength(3);
    expect(text).toMatch(/^alloc warnings\s+0 printed, 0 rate-limited$/m);
    expect(text).not.toContain("injected fails");
  });

  test("lists injected failures by site when the scenario has injectors", () => {
    const r = syntheticCompare({ drivers: ["v3.2"], seeds: [1], points: 10, flows: 1 }).runs[0]!;
    r.faults = {
      alloc: [{ type: "failslab", calls: 9, injected: 7, bySite: {} }],
      injectedBySite: { small_skb_head: 5, rx_page: 0, indirect: 2 },
    };
    expect(formatRunTable(r)).toMatch(/^injected fails\s+7 \(small_skb_head 5, indirect 2\)$/m);
  });

  test("sums the uploads in one line and lists each one when the scenario uploads", () => {
    const r = syntheticCompare({ drivers: ["v3.2"], seeds: [1], points: 10, flows: 2 }).runs[0]!;
    expect(formatRunTable(r)).not.toMatch(/^uploads/m);
    const up = (flow: number, peerFlow: number, mbps: number, rtos: number) => ({
      flow,
      peerFlow,
      app: "torrent",
      bytesAcked: 1e6,
      goodputBps: mbps * 1e6,
      segmentsSent: 700,
      retransmits: 2 * rtos,
      timeouts: rtos,
      sndbufWaits: 5,
      wmemQueuedMax: 512 * 1024,
      cloneFailures: 0,
    });
    r.uploads = [up(2, 0, 30, 1), up(3, 1, 12.5, 3)];
    const text = formatRunTable(r);
    expect(text).toMatch(/^uploads\s+2 flows, 42\.5 Mbit\/s acked, 8 retrans, 4 RTOs, 10 sndbuf waits$/m);
    const rows = text.split("\n").filter((l) => /^\s+[23]\s+[01]\s+torrent/.test(l));
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatch(/^\s+3\s+1\s+torrent\s+12\.5\s+700\s+6\s+3\s+5\s+512\s+0$/);
  });
});
