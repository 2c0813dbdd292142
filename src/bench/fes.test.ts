import { describe, expect, it } from "vitest";
import { benchFes, runNs3Naive, runNs3Simulator, runTimerNaive, runTimerSimulator } from "./fes.ts";

describe("benchFes", () => {
  it("returns both workloads with the requested event counts executed by both implementations", () => {
    const { workloads } = benchFes({ scale: 0.01 });
    expect(workloads.map((w) => w.name)).toEqual(["ns3-bench-scheduler", "timer-rearm"]);
    for (const w of workloads) {
      expect(w.requested).toBe(10_000);
      expect(w.executed).toBe(w.requested);
      expect(w.baselineExecuted).toBe(w.requested);
      for (const rate of [w.eventsPerSecond, w.baselineEventsPerSecond]) {
        expect(Number.isFinite(rate) && rate > 0).toBe(true);
      }
      expect(w.ratio).toBeCloseTo(w.eventsPerSecond / w.baselineEventsPerSecond, 10);
    }
  });

  it("rejects a bad scale or run count", () => {
    expect(() => benchFes({ scale: 0 })).toThrow(RangeError);
    expect(() => benchFes({ scale: Number.NaN })).toThrow(RangeError);
    expect(() => benchFes({ scale: 0.01, runs: 0 })).toThrow(RangeError);
  });
});

describe("workloads", () => {
  // Same random draws and the same (time, insertion) order: both implementations must agree exactly.
  it("ns3-bench-scheduler: our simulator and the naive heap run the same events", () => {
    const p = { population: 1000, total: 20_000, seed: 3 };
    const ours = runNs3Simulator(p);
    const naive = runNs3Naive(p);
    expect(ours.executed).toBe(20_000);
    expect({ ...naive, seconds: 0 }).toEqual({ ...ours, seconds: 0 });
    // The population stays put, so the clock advances about total · mean delay / population.
    expect(ours.endTime).toBeGreaterThan(1000);
  });

  it("timer-rearm: lazy timers expire exactly when cancel-and-reinsert timers do", () => {
    const p = { timers: 100, events: 20_000, seed: 4 };
    const ours = runTimerSimulator(p);
    const naive = runTimerNaive(p);
    expect(ours.executed).toBe(20_000);
    expect(ours.expiries).toBeGreaterThan(50);
    expect(ours.calls).toBe(ours.executed + ours.expiries);
    expect({ ...naive, seconds: 0 }).toEqual({ ...ours, seconds: 0 });
  });
});
