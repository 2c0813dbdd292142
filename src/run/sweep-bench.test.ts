import { describe, expect, it } from "vitest";
import { benchSweep } from "./sweep-bench.ts";

describe("benchSweep", () => {
  it("measures --jobs 2 against --jobs 1 in a child process and returns the row with its ratio", () => {
    const rows = benchSweep(true);
    expect(rows).toHaveLength(1);
    const r = rows[0]!;
    expect(r.suite).toBe("sweep");
    expect(r.unit).toBe("runs/s");
    expect(r.name).toMatch(/^4 runs of iperf-lowmem \(duration=300ms\), --jobs 2 vs --jobs 1, best of 1$/);
    expect(r.eventsPerSecond).toBeGreaterThan(0);
    expect(r.baselineEventsPerSecond).toBeGreaterThan(0);
    expect(r.ratio).toBeCloseTo(r.eventsPerSecond / r.baselineEventsPerSecond!, 10);
  }, 60_000);
});
