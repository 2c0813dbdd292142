import { describe, expect, it } from "vitest";
import { compareParallel, comparePool } from "./compare-pool.ts";

describe("compare on a shared pool", () => {
  const source = {
    raw: { name: "tiny", duration: "200ms", warmup: "50ms", network: { senders: [{ rate: "20Mbit/s" }] } },
    origin: "<test>",
  };

  it("runs several compares on one pool, each in plan order, and leaves the pool to its owner", async () => {
    const pool = await comparePool(2, 4);
    try {
      const [a, b] = await Promise.all([
        compareParallel(source, { drivers: ["v3.2", "mainline"], seeds: [1], pool }),
        compareParallel(source, { drivers: ["patch1"], seeds: [1, 2], pool }),
      ]);
      expect(a.runs.map((r) => r.driver)).toEqual(["v3.2", "mainline"]);
      expect(b.runs.map((r) => `${r.driver}/${r.seed}`)).toEqual(["patch1/1", "patch1/2"]);
      // Still open: a compare does not destroy a pool it was given.
      expect(pool.threads.length).toBe(2);
      const again = await compareParallel(source, { drivers: ["v3.2"], seeds: [1], pool });
      expect(again.runs[0]!.fingerprint).toBe(a.runs[0]!.fingerprint);
    } finally {
      await pool.destroy();
    }
  });
});
