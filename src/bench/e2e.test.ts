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
  it("reads the stored previous-release figure with its provenance", () => {
    const b = loadE2eBaseline();
    expect(b.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(b.packetsPerSecond).toBeGreaterThan(0);
    expect(b.command).toContain("bench e2e");
    expect(b.duration).toBe("10s");
  });

  it("names the file, the field and the value of a bad entry", () => {
    const good = { ...loadE2eBaseline() };
    expect(() => loadE2eBaseline(JSON.stringify({ ...good, packetsPerSecond: "fast" }))).toThrow(
      'src/bench/e2e-baseline.json: packetsPerSecond must be a number >= 0, got "fast"',
    );
    expect(() => loadE2eBaseline(JSON.stringify({ ...good, commit: 7 }))).toThrow(
      "src/bench/e2e-baseline.json: commit must be a string, got 7",
    );
  });
});
