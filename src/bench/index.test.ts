import { describe, expect, it } from "vitest";
import { formatBench } from "./index.ts";

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
