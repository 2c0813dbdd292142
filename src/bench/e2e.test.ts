import { describe, expect, it } from "vitest";
import { resolveScenario } from "../run/run.ts";
import { e2eScenario, loadE2eBaseline } from "./e2e.ts";

describe("e2eScenario", () => {
  it("is a valid scenario at every size bench scale sweeps", () => {
    for (const shape of [
      { flows: 1, rate: "100Mbit/s", duration: "600s" },
      { flows: 10_000, rate: "100Gbit/s", duration: "10s" },
    ]) {
      const s = resolveScenario({ raw: e2eScenario(shape), origin: "test" });
      expect(s.network.senders[0]!.count).toBe(shape.flows);
      expect(s.network.uplink.rate).toBeGreaterThan(0);
    }
  });
});

describe("loadE2eBaseline", () => {
  it("reads the stored previous-release figures, one per number of flows, with their provenance", () => {
    const b = loadE2eBaseline();
    expect(b.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(b.duration).toBe("10s");
    // The flows bench e2e measures, each with a figure to stand beside.
    expect(b.rows.map((r) => r.flows)).toEqual([1, 100]);
    for (const r of b.rows) {
      expect(r.packetsPerSecond).toBeGreaterThan(0);
      expect(r.date).toMatch(/^2\d{3}-\d\d-\d\dT/);
    }
    expect(b.rows[0]!.command).toContain("bench e2e");
  });

  it("names the file, the field and the value of a bad entry", () => {
    const good = loadE2eBaseline();
    const withRow = (over: Record<string, unknown>) =>
      JSON.stringify({ ...good, rows: [good.rows[0], { ...good.rows[1], ...over }] });
    expect(() => loadE2eBaseline(withRow({ packetsPerSecond: "fast" }))).toThrow(
      'src/bench/e2e-baseline.json: rows[1].packetsPerSecond must be a number >= 0, got "fast"',
    );
    expect(() => loadE2eBaseline(withRow({ flows: 1 }))).toThrow(
      "src/bench/e2e-baseline.json: rows[1].flows must be an integer >= 1, once per file, got 1",
    );
    expect(() => loadE2eBaseline(JSON.stringify({ ...good, commit: 7 }))).toThrow(
      "src/bench/e2e-baseline.json: commit must be a string, got 7",
    );
    expect(() => loadE2eBaseline(JSON.stringify({ ...good, rows: [] }))).toThrow(
      "src/bench/e2e-baseline.json: rows must be a non-empty array, got []",
    );
  });
});
