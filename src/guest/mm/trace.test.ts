/**
 * The memory manager's tracepoints where the presets never go (the scenario schema refuses a hog
 * the kernel would OOM-kill for, and their hogs leave nothing to reclaim directly): direct reclaim
 * and the OOM killer on a small guest, kswapd's wake/sleep cycle, and allocation failures.
 */
import { describe, expect, it } from "vitest";
import { sec } from "../../sim/time.ts";
import { selectTracepoints, type TraceRecord, TRACEPOINTS } from "../../sim/trace.ts";
import { installTraceContext } from "../sched/trace-context.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import { GFP_ATOMIC } from "./gfp.ts";
import { OWNER_SKB } from "./page-table.ts";

function traced(opts: Parameters<typeof mmFixture>[0], events: string[]) {
  const f = mmFixture(opts);
  installTraceContext(f.k);
  const recs: TraceRecord[] = [];
  f.sim.trace.start(selectTracepoints(events), { event: (r) => recs.push(r) });
  const named = (e: string) => recs.filter((r) => TRACEPOINTS[r.tp]![1] === e);
  return { ...f, recs, named };
}

describe("vmscan and oom tracepoints", () => {
  it("direct reclaim begins and ends in the allocating task, and the OOM victim's pid is marked", () => {
    const { sim, k, mm, recs, named } = traced(
      { memBytes: 32 << 20, minFreeKbytes: 512, kernelReservedBytes: 0 },
      ["vmscan", "oom"],
    );
    const big = mm.registerTask("big");
    const grower = mm.registerTask("grower");
    runInThread(k, "big", () => mm.allocAnon(big, 5000));
    sim.run(sec(1));
    runInThread(k, "grower", () => mm.allocAnon(grower, 4000));
    sim.run(sec(3));
    expect(big.killed).toBe(true);
    const bigPid = k.threadList().find((t) => t.name === "big")!.id + 1;
    expect(named("mark_victim").map((r) => r.fields)).toEqual([`pid=${bigPid}`]);
    // Direct reclaim: balanced begin/end in process context, nothing to reclaim (anon only, no swap).
    const dr = recs.filter((r) => /direct_reclaim/.test(TRACEPOINTS[r.tp]![1]));
    expect(dr.length).toBeGreaterThanOrEqual(2);
    expect(dr.length % 2).toBe(0);
    dr.forEach((r, i) => {
      const begin = i % 2 === 0;
      expect(TRACEPOINTS[r.tp]![1]).toBe(
        begin ? "mm_vmscan_direct_reclaim_begin" : "mm_vmscan_direct_reclaim_end",
      );
      expect(r.fields).toBe(
        begin ? "order=0 may_writepage=1 gfp_flags=GFP_HIGHUSER_MOVABLE" : "nr_reclaimed=0",
      );
      if (!begin) expect(r.task).toBe(dr[i - 1]!.task);
    });
    expect(dr[0]!.task).toBe("grower");
    // The victim is marked after the grower's reclaim gave up.
    expect(recs.indexOf(named("mark_victim")[0]!)).toBeGreaterThan(recs.indexOf(dr[1]!));
  });

  it("kswapd: wakeup_kswapd, then kswapd_wake in kswapd0, and kswapd_sleep once balanced", () => {
    const { sim, k, mm, recs } = traced({ memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 }, [
      "vmscan",
    ]);
    mm.prefillPageCache(12000, "clean");
    sim.run(sec(1));
    const ev = sim.register("test.rx", () =>
      k.hardirq(0, () => {
        while (mm.nrFree > mm.wmark.low + 2) mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
        mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
      }),
    );
    sim.at(sec(1), ev);
    sim.run(sec(2));
    const seq = recs.map((r) => `${r.task} ${TRACEPOINTS[r.tp]![1]}: ${r.fields}`);
    const i = seq.indexOf("<idle> mm_vmscan_wakeup_kswapd: nid=0 zid=1 order=0");
    expect(i).toBeGreaterThanOrEqual(0);
    expect(seq.slice(i + 1)).toEqual([
      "kswapd0 mm_vmscan_kswapd_wake: nid=0 order=0",
      "kswapd0 mm_vmscan_kswapd_sleep: nid=0",
    ]);
  });
});

describe("kmem tracepoints", () => {
  it("trace the failing page and slab allocations with NULL", () => {
    const { sim, k, mm, named } = traced(
      { memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 },
      ["kmem"],
    );
    let pages = 0;
    runInThread(k, "worker", function* () {
      while (mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) >= 0) pages++;
      while (mm.kmemCacheAllocAtomic(mm.skbuffHeadCache, GFP_ATOMIC) >= 0);
      yield k.cpu();
    });
    sim.run(sec(1));
    const allocs = named("mm_page_alloc");
    // One record per page allocated, then the failures (the slab's new page included).
    expect(allocs.filter((r) => !r.fields.startsWith("page=(null)"))).toHaveLength(pages);
    expect(allocs.at(-1)!.fields).toBe("page=(null) pfn=0 order=0 migratetype=0 gfp_flags=GFP_ATOMIC");
    expect(allocs.filter((r) => r.fields.startsWith("page=(null)")).length).toBe(2);
    const cache = named("kmem_cache_alloc");
    expect(cache.at(-1)!.fields).toBe(
      "call_site=__alloc_skb ptr=(null) bytes_req=256 bytes_alloc=256 gfp_flags=GFP_ATOMIC",
    );
    expect(cache.slice(0, -1).every((r) => /ptr=skbuff_head_cache:\d+ /.test(r.fields))).toBe(true);
    expect(named("kmalloc")).toHaveLength(0);
  });
});
