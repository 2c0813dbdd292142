import { describe, expect, it } from "vitest";
import { ms, sec, us } from "../../sim/time.ts";
import { ERA_3_2, ERA_6_1 } from "../kernel-era.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import { __GFP_NO_KSWAPD, GFP_ATOMIC, GFP_KERNEL } from "./gfp.ts";
import { OWNER_SKB } from "./page-table.ts";

// 32 MiB, min_free_kbytes 128: MIN 32 pages. Nothing is reclaimable (no page cache, no swap).
const OPTS = { memBytes: 32 << 20, minFreeKbytes: 128, kernelReservedBytes: 0 };
/** Pages the interrupt frees each time: more than the per-cpu list keeps (high 6), so batches reach the buddy lists. */
const CHURN = 50;

describe("issue 14's livelock case: a hog against frees that would reset 3.2's all_unreclaimable", () => {
  it("6.1: should_reclaim_retry ignores the frees and kills at the first fruitless reclaim", () => {
    const { sim, k, mm } = mmFixture({ ...OPTS, era: ERA_6_1 });
    // Every 100 µs an interrupt frees CHURN of its GFP_ATOMIC pages (skbs a reader consumed) and
    // takes pages back down to the GFP_ATOMIC floor without waking kswapd: free memory stays below
    // MIN while batches of frees keep reaching the buddy lists (free_pcppages_bulk), which is what
    // clears 3.2's zone->all_unreclaimable and makes its do_try_to_free_pages report progress.
    const held: number[] = [];
    const ev = sim.register("test.churn", () => {
      k.hardirq(0, () => {
        for (let i = 0; i < CHURN && held.length > 0; i++) mm.freePage(held.pop()!);
        for (;;) {
          const p = mm.allocPageAtomic(GFP_ATOMIC | __GFP_NO_KSWAPD, OWNER_SKB);
          if (p < 0) break;
          held.push(p);
        }
      });
      sim.after(us(100), ev);
    });
    sim.at(ms(1), ev);
    const task = mm.registerTask("hog");
    runInThread(k, "hog", () => mm.allocAnon(task, 2 * (OPTS.memBytes >> 12)));
    sim.run(sec(1));
    const v = mm.vmstat();
    expect(task.killed).toBe(true);
    expect(v.oom_kill).toBe(1);
    // available = free + zone_reclaimable_pages (0) fails MIN at once: one round, one give-up.
    expect(v.reclaim_retry_give_ups).toBe(1);
    expect(v.allocstall).toBe(1);
  });
});

describe("3.2's progress after a fruitless direct reclaim", () => {
  it("is decided before __alloc_pages_direct_reclaim's cond_resched, where the woken kswapd marks the zone", () => {
    const { sim, k, mm } = mmFixture({ ...OPTS, era: ERA_3_2 });
    const task = mm.registerTask("hog");
    runInThread(k, "hog", () => mm.allocAnon(task, 7000));
    sim.run(ms(100));
    // Down to just above MIN: kswapd wakes below LOW, finds nothing to reclaim, marks the zone
    // all_unreclaimable and sleeps.
    const take = (name: string, n: number) =>
      runInThread(k, name, function* () {
        for (let i = 0; i < n; i++) yield* mm.allocPage(GFP_KERNEL, OWNER_SKB);
      });
    take("filler", mm.nrFree + mm.pcp.total - mm.wmark.min - 2);
    sim.run(ms(150));
    expect(mm.allUnreclaimable).toBe(true);
    // A batch of frees reaching the buddy lists (free_pcppages_bulk) clears the flag, as a reader's
    // freed skbs would; then a worker allocates past MIN.
    mm.allUnreclaimable = false;
    take("worker", 10);
    sim.run(ms(200));
    const v = mm.vmstat();
    // The first reclaim saw the flag clear and reported progress (1); kswapd, woken at the slow
    // path's start, marked the zone in the cond_resched; the retry's reclaim reported none: OOM.
    expect(v.oom_kill).toBe(1);
    expect(v.allocstall).toBe(2);
  });
});
