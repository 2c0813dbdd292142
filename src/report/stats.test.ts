import { describe, expect, test } from "vitest";
import type { RunSummary } from "../run/types.ts";
import { Rng } from "../sim/rng.ts";
import { syntheticCompare } from "./fixtures.ts";
import {
  atomicAllocFailures,
  atomicFloor,
  driverStats,
  hostDrops,
  median,
  medianRefillSpacingMs,
  sampleStats,
  tQuantile975,
  watermarks,
} from "./stats.ts";

/** P(|T| < t) for Student's t with v degrees of freedom, closed form (Abramowitz & Stegun 26.7.3–4). */
function tTwoSided(t: number, v: number): number {
  const th = Math.atan(t / Math.sqrt(v));
  const c2 = Math.cos(th) ** 2;
  if (v % 2 === 1) {
    let term = Math.cos(th);
    let sum = v > 1 ? term : 0;
    for (let k = 3; k <= v - 2; k += 2) {
      term *= ((k - 1) / k) * c2;
      sum += term;
    }
    return (2 / Math.PI) * (th + Math.sin(th) * sum);
  }
  let term = 1;
  let sum = 1;
  for (let k = 2; k <= v - 2; k += 2) {
    term *= ((k - 1) / k) * c2;
    sum += term;
  }
  return Math.sin(th) * sum;
}

/** The exact 0.975 quantile by bisection on the closed form. */
function exactT975(v: number): number {
  let lo = 1.9;
  let hi = 13;
  for (let i = 0; i < 80; i++) {
    const m = (lo + hi) / 2;
    if (tTwoSided(m, v) < 0.95) lo = m;
    else hi = m;
  }
  return (lo + hi) / 2;
}

/** A run with only what a given reader looks at; the rest is irrelevant to the test. */
function runWith(fields: Partial<RunSummary>): RunSummary {
  const base = syntheticCompare({ drivers: ["x"], seeds: [1], points: 2 }).runs[0]!;
  return { ...base, host: {}, guest: {}, memory: {}, ...fields };
}

describe("tQuantile975", () => {
  test("matches the exact t quantile for df 1..30 (table digits)", () => {
    for (let df = 1; df <= 30; df++) expect(Math.abs(tQuantile975(df) - exactT975(df))).toBeLessThan(1e-7);
  });

  test("interpolates beyond the table to within 1e-4 and tends to the normal quantile", () => {
    for (let df = 31; df <= 500; df++) expect(Math.abs(tQuantile975(df) - exactT975(df))).toBeLessThan(1e-4);
    expect(tQuantile975(1e9)).toBeCloseTo(1.959964, 5);
  });

  test("rejects degrees of freedom that are not positive integers", () => {
    expect(() => tQuantile975(0)).toThrow(RangeError);
    expect(() => tQuantile975(2.5)).toThrow(RangeError);
  });
});

describe("sampleStats", () => {
  test("known data: mean, sample sd, t-based 95% CI, median", () => {
    const s = sampleStats([2, 4, 4, 4, 5, 5, 7, 9])!;
    expect(s.n).toBe(8);
    expect(s.mean).toBe(5);
    expect(s.sd).toBeCloseTo(Math.sqrt(32 / 7), 12);
    // t(0.975; 7) = 2.364624 → 2.364624 · 2.138090 / √8 = 1.787488
    expect(s.ciHalf).toBeCloseTo(1.787488, 5);
    expect(s.median).toBe(4.5);
    expect([s.min, s.max]).toEqual([2, 9]);
  });

  test("one value has no spread; no values have no statistics", () => {
    const s = sampleStats([3])!;
    expect(s.mean).toBe(3);
    expect(s.sd).toBeNaN();
    expect(s.ciHalf).toBeNaN();
    expect(sampleStats([])).toBeNull();
  });

  test("the 95% CI of a normal mean from 4 samples covers it about 95% of the time", () => {
    // With the normal quantile instead of t(3) coverage would be about 86%.
    const rng = new Rng(7, "ci-coverage");
    const trials = 4000;
    let covered = 0;
    for (let i = 0; i < trials; i++) {
      const s = sampleStats([rng.normal(10, 2), rng.normal(10, 2), rng.normal(10, 2), rng.normal(10, 2)])!;
      if (Math.abs(s.mean - 10) <= s.ciHalf) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.935);
    expect(covered / trials).toBeLessThan(0.965);
  });

  test("median of odd, even and unsorted samples", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe("run readers", () => {
  test("refill spacing pools the gaps of each run, not the times across runs", () => {
    const ms = 1e6;
    const a = runWith({ refillRunTimes: [300 * ms, 0, 100 * ms] }); // gaps 100, 200
    const b = runWith({ refillRunTimes: [50 * ms, 550 * ms] }); // gap 500
    expect(medianRefillSpacingMs([a, b])).toBe(200);
    expect(medianRefillSpacingMs([runWith({ refillRunTimes: [5] })])).toBeNull();
  });

  test("the GFP_ATOMIC floor follows __zone_watermark_ok's integer maths", () => {
    expect(atomicFloor(1008)).toBe(378);
    expect(atomicFloor(7)).toBe(3); // 7 - 3 = 4; 4 - 1 = 3
  });

  test("atomic failures: allocator counts first, then try_fill_recv OOMs, else missing", () => {
    expect(
      atomicAllocFailures(
        runWith({ memory: { allocFail: { GFP_ATOMIC: 9 } }, guest: { tryFillOom: { GFP_ATOMIC: 2 } } }),
      ),
    ).toBe(9);
    expect(atomicAllocFailures(runWith({ memory: { allocFailAtomic: 4 } }))).toBe(4);
    expect(atomicAllocFailures(runWith({ guest: { tryFillOom: { GFP_ATOMIC: 2, GFP_KERNEL: 1 } } }))).toBe(2);
    expect(atomicAllocFailures(runWith({ guest: { tryFillOom: { GFP_KERNEL: 1 } } }))).toBeNull();
    expect(atomicAllocFailures(runWith({}))).toBeNull();
  });

  test("host drops: tap counters, else the series' last sample, else missing", () => {
    expect(hostDrops(runWith({ host: { qdiscDrops: 5, txDropped: 2 } }))).toBe(7);
    const r = runWith({});
    expect(hostDrops(r)).toBe(r.series.hostDrops[r.series.hostDrops.length - 1]);
    expect(hostDrops(runWith({ series: { ...r.series, hostDrops: [] } }))).toBeNull();
  });

  test("watermarks need all three; per-zone records are summed", () => {
    expect(watermarks(runWith({ memory: { watermarkMin: 10, watermarkLow: 12 } }))).toBeNull();
    expect(
      watermarks(
        runWith({ memory: { watermarkMin: { DMA: 2, DMA32: 8 }, watermarkLow: 12, watermarkHigh: 15 } }),
      ),
    ).toEqual({ min: 10, low: 12, high: 15 });
  });
});

describe("driverStats", () => {
  test("one entry per driver in order, runs in seed order, goodput stats over seeds", () => {
    const c = syntheticCompare({ drivers: ["a", "b"], seeds: [9, 4, 6], notInLinux: ["b"], points: 20 });
    c.runs.reverse(); // the input order of runs must not matter
    const stats = driverStats(c);
    expect(stats.map((d) => d.driver)).toEqual(["a", "b"]);
    expect(stats.map((d) => d.notInLinux)).toEqual([false, true]);
    const a = stats[0]!;
    expect(a.runs.map((r) => r.seed)).toEqual([9, 4, 6]);
    const g = a.runs.map((r) => r.goodputBps / 1e6);
    expect(a.goodputMbps!.mean).toBeCloseTo((g[0]! + g[1]! + g[2]!) / 3, 9);
    expect(a.goodputMbps!.n).toBe(3);
  });
});
