import { describe, expect, it } from "vitest";
import { formatBenchTable, formatSi, formatValue } from "./format.ts";

describe("formatSi / formatValue", () => {
  it("uses 3 significant digits and an SI prefix", () => {
    expect(formatSi(4_213_456)).toBe("4.21 M");
    expect(formatSi(512_300)).toBe("512 k");
    expect(formatSi(2.5e9)).toBe("2.50 G");
    expect(formatSi(999)).toBe("999");
    expect(formatSi(0.5)).toBe("0.500");
    expect(formatSi(Number.POSITIVE_INFINITY)).toBe("Infinity");
  });

  it("groups integers and rounds other values to 4 significant digits", () => {
    expect(formatValue(1_234_567)).toBe("1,234,567");
    expect(formatValue(12.34567)).toBe("12.35");
    expect(formatValue(0.000123456)).toBe("0.0001235");
  });
});

describe("formatBenchTable", () => {
  it("aligns rate rows under a header, names left and numbers right", () => {
    const text = formatBenchTable([
      {
        name: "ns3-bench-scheduler",
        eventsPerSecond: 8_210_000,
        baselineEventsPerSecond: 1_520_000,
        ratio: 5.4,
      },
      { name: "timer-rearm", eventsPerSecond: 4_020_000, baselineEventsPerSecond: 512_300, ratio: 7.847 },
    ]);
    expect(text.split("\n")).toEqual([
      "benchmark                     result         baseline  ratio",
      "ns3-bench-scheduler  8.21 M events/s  1.52 M events/s  5.40×",
      "timer-rearm          4.02 M events/s   512 k events/s  7.85×",
    ]);
  });

  it("mixes value rows and drops columns that no row fills", () => {
    const text = formatBenchTable([
      { name: "end-to-end", eventsPerSecond: 3_000_000 },
      { name: "events per packet", value: 3.75, unit: "" },
      { name: "packets", value: 1_000_000, unit: "pkt" },
    ]);
    expect(text.split("\n")).toEqual([
      "benchmark                   result",
      "end-to-end         3.00 M events/s",
      "events per packet             3.75",
      "packets              1,000,000 pkt",
    ]);
  });

  it("prints just the header for no rows", () => {
    expect(formatBenchTable([])).toBe("benchmark");
  });
});
