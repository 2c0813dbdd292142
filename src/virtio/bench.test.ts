import { describe, expect, it } from "vitest";
import { benchVirtqueue } from "./bench.ts";

describe("benchVirtqueue", () => {
  it("runs every case and reports a finite rate", () => {
    const results = benchVirtqueue(2560);
    expect(results.length).toBe(4);
    for (const r of results) expect(Number.isFinite(r.opsPerSecond) && r.opsPerSecond > 0).toBe(true);
  });
});
