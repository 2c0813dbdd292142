import { describe, expect, it } from "vitest";
import type { E2eResult } from "./e2e.ts";
import { e2eRow, formatBench } from "./index.ts";

describe("formatBench", () => {
  it("prints a stored baseline with its provenance, the ratio and the cost per packet", () => {
    const text = formatBench([
      {
        suite: "e2e",
        name: "1 flow",
        eventsPerSecond: 600_000,
        baselineEventsPerSecond: 300_000,
        ratio: 2,
        baselineNote: "62d8664, load 1.3",
        unit: "packets/s",
        extra: { nsPerPacket: 1666.7, cpuNsPerPacket: 1200, eventsPerPacket: 2.835, goodputBps: 3e9 },
      },
      { suite: "fes", name: "hold", eventsPerSecond: 4e6, unit: "events/s" },
    ]);
    const [head, e2e, fes] = text.split("\n");
    expect(head).toMatch(/^suite\s+workload\s+rate\s+unit\s+baseline\s+ratio\s+cost$/);
    expect(e2e!.split(/\s{2,}/)).toEqual([
      "e2e",
      "1 flow",
      "600.0 k",
      "packets/s",
      "300.0 k (62d8664, load 1.3)",
      "2.00×",
      "1667 ns/packet, 1200 CPU ns/packet, 2.83 events/packet",
    ]);
    expect(fes!.split(/\s{2,}/)).toEqual(["fes", "hold", "4.00 M", "events/s"]);
  });
});

describe("e2eRow", () => {
  const result = (packetsPerSecond: number) => ({ name: "x", packetsPerSecond }) as E2eResult;
  const stored = {
    commit: "0123456789abcdef0123456789abcdef01234567",
    machine: "m",
    duration: "10s",
    rows: [
      { flows: 1, date: "d", load: 0.5, command: "c", packetsPerSecond: 500_000, eventsPerPacket: 2.8 },
      { flows: 100, date: "d", load: 1.25, command: "c", packetsPerSecond: 800_000, eventsPerPacket: 2.4 },
    ],
  };

  it("puts each number of flows beside its own stored figure, with that figure's load", () => {
    const hundred = e2eRow(result(1_000_000), stored, 100);
    expect(hundred.baselineEventsPerSecond).toBe(800_000);
    expect(hundred.ratio).toBe(1.25);
    expect(hundred.baselineNote).toBe("0123456, load 1.25");
    expect(e2eRow(result(1_000_000), stored, 1).ratio).toBe(2);
  });

  it("shows no ratio without a stored figure for those flows, or without a stored file", () => {
    expect(e2eRow(result(1_000_000), stored, 10).ratio).toBeUndefined();
    expect(e2eRow(result(1_000_000), undefined, 1).ratio).toBeUndefined();
  });
});
