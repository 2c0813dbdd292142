import { describe, expect, it } from "vitest";
import { ms, sec } from "../../sim/time.ts";
import { CAT_RECLAIM } from "../sched/costs.ts";
import { exhaustAtomicAt, mmFixture, runInThread } from "./fixture.ts";
import { GFP_ATOMIC, GFP_KERNEL } from "./gfp.ts";
import { OWNER_SKB } from "./page-table.ts";

// 64 MiB, min_free_kbytes 1024: min 256, low 320, high 384 pages.
const OPTS = { memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 };

describe("kswapd", () => {
  it("wakes when an allocation finds the zone below WMARK_LOW and reclaims until WMARK_HIGH", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    mm.prefillPageCache(12000, "clean");
    sim.run(sec(1));
    expect(mm.kswapdThread.waitingOn?.name).toBe("kswapd_wait");
    /** Free pages in buddy and on the pcp lists once the allocations are done. */
    let freeAfterAlloc = 0;
    const ev = sim.register("test.rx", () => {
      k.hardirq(0, () => {
        // The fast path serves while free - 2 > low; the next allocation takes the slow path.
        while (mm.nrFree > mm.wmark.low + 2) mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
        expect(mm.vmstat().kswapd_wakeups).toBe(0);
        mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
        expect(mm.vmstat().kswapd_wakeups).toBe(1);
        freeAfterAlloc = mm.nrFree + mm.pcp.total;
      });
    });
    sim.at(sec(1), ev);
    sim.run(sec(1) + ms(1));
    const busyBefore = k.busyByCategory()[CAT_RECLAIM]!;
    sim.run(sec(3));
    const v = mm.vmstat();
    // Balanced: at WMARK_HIGH, and not more than one priority pass (≤ 64 pages here) beyond it.
    expect(mm.nrFree).toBeGreaterThanOrEqual(mm.wmark.high + 3);
    expect(mm.nrFree).toBeLessThan(mm.wmark.high + 3 + 64);
    expect(v.pgsteal_kswapd).toBe(mm.nrFree + mm.pcp.total - freeAfterAlloc);
    expect(v.pgscan_kswapd).toBeGreaterThanOrEqual(v.pgsteal_kswapd!);
    expect(v.pgsteal_direct).toBe(0);
    expect(k.busyByCategory()[CAT_RECLAIM]!).toBeGreaterThan(busyBefore);
    expect(mm.kswapdThread.waitingOn?.name).toBe("kswapd_wait");
    mm.checkInvariant();
  });

  it("writes dirty pages itself below DEF_PRIORITY - 2 and waits on congestion between passes", () => {
    const { sim, k, mm } = mmFixture({ ...OPTS, disk: { bandwidthBytesPerSec: 50e6 } });
    sim.run(ms(1));
    mm.prefillPageCache(8000, "dirty");
    const ev = sim.register("test.rx", () => {
      k.hardirq(0, () => {
        // Just below WMARK_LOW: above WMARK_MIN kswapd does not skip its congestion waits.
        while (mm.nrFree > mm.wmark.low + 1) mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
      });
    });
    sim.at(ms(2), ev);
    // Before the flusher's periodic wakeup (5 s): only kswapd's own writes clean pages.
    sim.run(sec(4));
    const v = mm.vmstat();
    expect(v.nr_vmscan_write).toBeGreaterThan(0);
    expect(v.congestion_waits).toBeGreaterThan(0);
    expect(v.kswapd_skip_congestion_wait).toBe(0);
    expect(v.flusher_wakeups_reclaim).toBe(0);
    expect(v.pgrotated).toBeGreaterThan(0);
    expect(v.pgsteal_kswapd).toBeGreaterThan(0);
    expect(mm.nrFree).toBeGreaterThanOrEqual(mm.wmark.high + 3);
    mm.checkInvariant();
  });

  it("gives up a zone with nothing reclaimable (all_unreclaimable) and goes back to sleep", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    sim.run(sec(1));
    exhaustAtomicAt({ sim, k, mm }, sec(1));
    sim.run(sec(2));
    expect(mm.allUnreclaimable).toBe(true);
    expect(mm.kswapdThread.waitingOn?.name).toBe("kswapd_wait");
    expect(mm.vmstat().pageoutrun).toBe(1);
  });
});

describe("OOM killer", () => {
  it("kills the task with the most anonymous memory when nothing is reclaimable", () => {
    const { sim, k, mm } = mmFixture({ memBytes: 32 << 20, minFreeKbytes: 512, kernelReservedBytes: 0 });
    const big = mm.registerTask("big");
    const small = mm.registerTask("grower");
    const a = runInThread(k, "big", () => mm.allocAnon(big, 5000));
    sim.run(sec(1));
    expect(a.value).toBe(5000);
    // 8192 pages: the grower cannot get 4000 more without someone dying.
    const b = runInThread(k, "grower", () => mm.allocAnon(small, 4000));
    sim.run(sec(3));
    expect(b.value).toBe(4000);
    expect(big.killed).toBe(true);
    expect(small.killed).toBe(false);
    const v = mm.vmstat();
    expect(v.oom_kill).toBe(1);
    expect(mm.oomKills).toEqual([{ time: expect.any(Number), task: "big", pages: 5000 }]);
    expect(v.nr_anon_pages).toBe(4000);
    mm.checkInvariant();
  });

  it("stops a task's allocation when the task itself is chosen", () => {
    const { sim, k, mm } = mmFixture({ memBytes: 32 << 20, minFreeKbytes: 512, kernelReservedBytes: 0 });
    const hog = mm.registerTask("hog");
    const r = runInThread(k, "hog", () => mm.allocAnon(hog, 100_000));
    sim.run(sec(3));
    expect(r.done).toBe(true);
    expect(r.value).toBeLessThan(8192);
    expect(hog.killed).toBe(true);
    expect(mm.vmstat().nr_anon_pages).toBe(0);
    mm.checkInvariant();
  });

  it("panics when there is nothing to kill", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    runInThread(k, "worker", function* () {
      while (mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) >= 0);
      return yield* mm.allocPage(GFP_KERNEL, OWNER_SKB);
    });
    expect(() => sim.run(sec(1))).toThrow(/Out of memory and no killable processes/);
  });
});
