import { describe, expect, it } from "vitest";
import { Rng } from "../../sim/rng.ts";
import { ms, sec } from "../../sim/time.ts";
import { CAT_MM } from "../sched/costs.ts";
import {
  FAULT_CTX_ANY,
  FAULT_CTX_PROCESS,
  FAULT_CTX_SOFTIRQ,
  FaultAttr,
  type FaultAttrOptions,
  FaultInjection,
  SITE_NONE,
} from "./fault-inject.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import { __GFP_NOFAIL, __GFP_NOWARN, GFP_ATOMIC, GFP_KERNEL } from "./gfp.ts";
import { type Mm, NOPAGE_RS_BURST } from "./mm.ts";
import { OWNER_SKB } from "./page-table.ts";

const ALL_SITES = 0b11111;
const BASE: FaultAttrOptions = {
  kind: "fail_page_alloc",
  probability: 100,
  interval: 1,
  times: -1,
  space: 0,
  ignoreGfpWait: false,
  ignoreGfpHighmem: true,
  minOrder: 0,
  siteMask: ALL_SITES,
  context: FAULT_CTX_ANY,
  start: 0,
  end: Number.POSITIVE_INFINITY,
};

/** A stream that returns the given values in turn and counts the draws. */
function scripted(values: number[]) {
  const s = { draws: 0, nextU32: () => values[s.draws++ % values.length]! };
  return s;
}

function attr(opts: Partial<FaultAttrOptions>, rng: { nextU32(): number } = scripted([0])) {
  return new FaultAttr({ ...BASE, ...opts }, rng as unknown as Rng, 5);
}

/** Decisions of `n` calls of `size` at site 0. */
function decide(a: FaultAttr, n: number, size = 1, site = 0): boolean[] {
  return Array.from({ length: n }, () => a.shouldFail(size, site, FAULT_CTX_SOFTIRQ));
}

describe("should_fail (lib/fault-inject.c, v3.2)", () => {
  it("fails at most `times` times, then never draws again; -1 has no limit", () => {
    const rng = scripted([0]);
    const a = attr({ times: 2 }, rng);
    expect(decide(a, 4)).toEqual([true, true, false, false]);
    expect(a.times).toBe(0);
    expect(rng.draws).toBe(2);
    expect(decide(attr({ times: -1 }), 50).every((x) => x)).toBe(true);
  });

  it("pays each call's size from space while space is above it, without failing", () => {
    const rng = scripted([0]);
    const a = attr({ space: 10 }, rng);
    // 10 > 4 → 6; 6 > 4 → 2; 2 > 4 is false: from here every call may fail, space stays 2.
    expect(decide(a, 4, 4)).toEqual([false, false, true, true]);
    expect(a.space).toBe(2);
    expect(rng.draws).toBe(2);
  });

  it("lets only every interval-th call reach the draw", () => {
    const rng = scripted([0]);
    const a = attr({ interval: 3 }, rng);
    expect(decide(a, 7)).toEqual([false, false, true, false, false, true, false]);
    expect(rng.draws).toBe(2);
  });

  it("fails when probability > random32() % 100", () => {
    // 149 % 100 = 49 < 50 fails; 250 % 100 = 50 does not; 99 never passes probability 99.
    expect(decide(attr({ probability: 50 }, scripted([149, 250])), 2)).toEqual([true, false]);
    expect(decide(attr({ probability: 99 }, scripted([99])), 3)).toEqual([false, false, false]);
    expect(decide(attr({ probability: 0 }, scripted([0])), 3)).toEqual([false, false, false]);
  });

  it("filters sites and context after the draw, as the stacktrace filter comes after it", () => {
    const rng = scripted([0]);
    const a = attr({ siteMask: 1 << 2, context: FAULT_CTX_PROCESS, interval: 2 }, rng);
    // Calls at a rejected site still count towards the interval and use up draws.
    expect(a.shouldFail(1, 0, FAULT_CTX_PROCESS)).toBe(false); // count 1: interval says no
    expect(a.shouldFail(1, 0, FAULT_CTX_PROCESS)).toBe(false); // count 2: drawn, site rejected
    expect(rng.draws).toBe(1);
    expect(a.shouldFail(1, 2, FAULT_CTX_PROCESS)).toBe(false); // count 3
    expect(a.shouldFail(1, 2, FAULT_CTX_SOFTIRQ)).toBe(false); // count 4: drawn, context rejected
    expect(a.shouldFail(1, 2, FAULT_CTX_PROCESS)).toBe(false); // count 5
    expect(a.shouldFail(1, 2, FAULT_CTX_PROCESS)).toBe(true); // count 6
    expect(a.shouldFail(1, SITE_NONE, FAULT_CTX_PROCESS)).toBe(false);
    expect(rng.draws).toBe(3);
    expect(a.injected).toBe(1);
    expect([...a.injectedBySite]).toEqual([0, 0, 1, 0, 0]);
    expect(a.calls).toBe(7);
  });

  it("with a seeded stream, fails about `probability` percent, the same calls for the same seed", () => {
    const run = (seed: number) =>
      decide(new FaultAttr({ ...BASE, probability: 30 }, new Rng(seed, "faults.alloc[0]"), 5), 10_000);
    const a = run(7);
    const failed = a.filter((x) => x).length;
    expect(failed).toBeGreaterThan(2_800);
    expect(failed).toBeLessThan(3_200);
    expect(run(7)).toEqual(a);
    expect(run(8)).not.toEqual(a);
  });
});

describe("the callers' filters", () => {
  const fi = (opts: Partial<FaultAttrOptions>) => {
    const f = new FaultInjection();
    f.add(attr(opts));
    return f;
  };

  it("should_fail_alloc_page: min-order, __GFP_NOFAIL, ignore-gfp-wait, the window", () => {
    expect(fi({ minOrder: 1 }).shouldFailAllocPage(GFP_ATOMIC, 0, 0, FAULT_CTX_SOFTIRQ, 0)).toBe(false);
    expect(fi({ minOrder: 1 }).shouldFailAllocPage(GFP_ATOMIC, 1, 0, FAULT_CTX_SOFTIRQ, 0)).toBe(true);
    expect(fi({}).shouldFailAllocPage(GFP_ATOMIC | __GFP_NOFAIL, 0, 0, FAULT_CTX_SOFTIRQ, 0)).toBe(false);
    expect(fi({ ignoreGfpWait: true }).shouldFailAllocPage(GFP_KERNEL, 0, 0, FAULT_CTX_PROCESS, 0)).toBe(
      false,
    );
    expect(fi({ ignoreGfpWait: true }).shouldFailAllocPage(GFP_ATOMIC, 0, 0, FAULT_CTX_PROCESS, 0)).toBe(
      true,
    );
    const window = fi({ start: ms(10), end: ms(20) });
    expect(window.shouldFailAllocPage(GFP_ATOMIC, 0, 0, FAULT_CTX_SOFTIRQ, ms(9))).toBe(false);
    expect(window.shouldFailAllocPage(GFP_ATOMIC, 0, 0, FAULT_CTX_SOFTIRQ, ms(10))).toBe(true);
    expect(window.shouldFailAllocPage(GFP_ATOMIC, 0, 0, FAULT_CTX_SOFTIRQ, ms(20))).toBe(false);
    // Outside the window the injector is off: nothing was counted.
    expect(window.all[0]!.calls).toBe(1);
  });

  it("keeps page and slab injectors apart; should_failslab pays object bytes from space", () => {
    const f = new FaultInjection();
    f.add(attr({ kind: "failslab", space: 2048 }));
    expect(f.shouldFailAllocPage(GFP_ATOMIC, 0, 0, FAULT_CTX_SOFTIRQ, 0)).toBe(false);
    expect(f.shouldFailslab(1024, GFP_ATOMIC, 0, FAULT_CTX_SOFTIRQ, 0)).toBe(false);
    expect(f.shouldFailslab(1024, GFP_ATOMIC, 0, FAULT_CTX_SOFTIRQ, 0)).toBe(true);
    expect(f.shouldFailslab(1024, GFP_KERNEL | __GFP_NOFAIL, 0, FAULT_CTX_SOFTIRQ, 0)).toBe(false);
  });
});

// 64 MiB, min_free_kbytes 1024: min 256, low 320, high 384 pages.
const OPTS = { memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 };

function withInjector(mm: Mm, opts: Partial<FaultAttrOptions>): FaultAttr {
  const f = new FaultInjection();
  const a = attr(opts);
  f.add(a);
  mm.faults = f;
  mm.allocSite = 0;
  return a;
}

/** Runs `fn` in softirq context at `at`. */
function inSoftirq(fx: ReturnType<typeof mmFixture>, at: number, fn: () => void): void {
  const ev = fx.sim.register(`test.softirq.${at}`, () => fx.k.timerSoftirq(0, fn));
  fx.sim.at(at, ev);
}

describe("injected failures in the allocator", () => {
  it("fail_page_alloc: NULL before the fast path, counted with real failures, no warning", () => {
    const fx = mmFixture(OPTS);
    const { sim, mm } = fx;
    const a = withInjector(mm, { times: 1 });
    // Free pages in all: buddy (nrFree) and the per-cpu lists a successful allocation refills.
    const free = mm.nrFree + mm.pcp.total;
    let pfns: number[] = [];
    inSoftirq(fx, ms(1), () => {
      pfns = [mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB), mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB)];
    });
    sim.run(ms(2));
    expect(pfns[0]).toBe(-1);
    expect(pfns[1]).toBeGreaterThanOrEqual(0);
    expect(mm.nrFree + mm.pcp.total).toBe(free - 1);
    expect(a.injected).toBe(1);
    const v = mm.vmstat();
    expect(v.allocfail_atomic).toBe(1);
    expect(v.allocfail_injected).toBe(1);
    expect(v.allocfail_warned).toBe(0);
    expect(v.allocfail_gfp_GFP_ATOMIC).toBe(1);
  });

  it("failslab: fails kmem_cache_alloc although the cache has free objects", () => {
    const fx = mmFixture(OPTS);
    const { sim, mm } = fx;
    const cache = mm.skbuffHeadCache;
    const objs: number[] = [];
    inSoftirq(fx, ms(1), () => objs.push(mm.kmemCacheAllocAtomic(cache, GFP_ATOMIC)));
    sim.run(ms(2));
    const a = withInjector(mm, { kind: "failslab", ignoreGfpWait: true });
    inSoftirq(fx, ms(3), () => objs.push(mm.kmemCacheAllocAtomic(cache, GFP_ATOMIC)));
    const slept = runInThread(fx.k, "filler", () => mm.kmemCacheAlloc(cache, GFP_KERNEL));
    sim.run(ms(4));
    expect(cache.nrPartial).toBe(1);
    expect(objs).toEqual([0, -1]);
    expect(slept.value).toBe(1);
    expect(cache.allocFailures).toBe(1);
    expect(a.injected).toBe(1);
    expect(mm.vmstat().allocfail_injected).toBe(1);
  });

  it("fails a sleeping allocation at once when ignore-gfp-wait is off", () => {
    const fx = mmFixture(OPTS);
    withInjector(fx.mm, { times: 1 });
    const r = runInThread(fx.k, "t", () => fx.mm.allocPage(GFP_KERNEL, OWNER_SKB));
    fx.sim.run(ms(1));
    expect(r.value).toBe(-1);
    expect(fx.mm.vmstat().allocfail_process).toBe(1);
  });
});

describe("warn_alloc_failed", () => {
  /** Drains free pages with GFP_ATOMIC in softirq at `at` until `fails` allocations failed. */
  function failAt(fx: ReturnType<typeof mmFixture>, at: number, fails: number, gfp = GFP_ATOMIC): void {
    inSoftirq(fx, at, () => {
      for (let n = 0; n < fails; ) if (fx.mm.allocPageAtomic(gfp, OWNER_SKB) < 0) n++;
    });
  }

  it("prints 10 warnings per 5 * HZ (nopage_rs) and charges each to the failing context", () => {
    const fx = mmFixture(OPTS);
    const { sim, k, mm } = fx;
    failAt(fx, ms(10), 25);
    sim.run(ms(20));
    let v = mm.vmstat();
    expect(v.allocfail_atomic).toBe(25);
    expect(v.allocfail_warned).toBe(NOPAGE_RS_BURST);
    expect(v.allocfail_warn_suppressed).toBe(25 - NOPAGE_RS_BURST);
    // An atomic caller gets SHOW_MEM_FILTER_PAGE_COUNT: no page walk, just the console text.
    expect(k.busyByCategory()[CAT_MM]).toBeGreaterThanOrEqual(NOPAGE_RS_BURST * mm.costs.allocFailWarning);
    // Still inside the window (begins at the first warning, jiffy 2; over once jiffies > 2 + 1250).
    failAt(fx, ms(5_000), 1);
    sim.run(ms(5_001));
    expect(mm.vmstat().allocfail_warned).toBe(NOPAGE_RS_BURST);
    failAt(fx, ms(5_020), 3);
    sim.run(sec(6));
    v = mm.vmstat();
    expect(v.allocfail_warned).toBe(NOPAGE_RS_BURST + 3);
  });

  it("stays silent for __GFP_NOWARN, which is neither printed nor counted as suppressed", () => {
    const fx = mmFixture(OPTS);
    failAt(fx, ms(10), 5, GFP_ATOMIC | __GFP_NOWARN);
    fx.sim.run(ms(20));
    const v = fx.mm.vmstat();
    expect(v.allocfail_atomic).toBe(5);
    expect(v.allocfail_warned).toBe(0);
    expect(v.allocfail_warn_suppressed).toBe(0);
  });
});
