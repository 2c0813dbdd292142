import { describe, expect, it } from "vitest";
import type { Simulator } from "../../sim/simulator.ts";
import { ms, sec } from "../../sim/time.ts";
import { selectTracepoints, type TraceRecord, TRACEPOINTS } from "../../sim/trace.ts";
import { installTraceContext } from "../sched/trace-context.ts";
import { ERA_3_2, ERA_6_1 } from "../kernel-era.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import { __GFP_NO_KSWAPD, GFP_ATOMIC, GFP_KERNEL } from "./gfp.ts";
import { MAX_RECLAIM_RETRIES, type Mm } from "./mm.ts";
import { OWNER_SKB } from "./page-table.ts";
import { defaultMinFreeKbytes, zoneWatermarksFor } from "./watermarks.ts";

const MiB = 1 << 20;
const ATOMIC = GFP_ATOMIC | __GFP_NO_KSWAPD;

describe("__setup_per_zone_wmarks by era", () => {
  // 256 MiB = 65536 pages, min_free_kbytes int_sqrt(262144 × 16) = 2048 → min 512 pages.
  // 1 GiB = 262144 pages, min_free_kbytes 4096 → min 1024 pages.
  // 3.2: low = min + min/4, high = min + min/2, whatever the factor.
  // 6.1: tmp = max(min >> 2, pages × factor / 10000); low = min + tmp, high = min + 2 tmp.
  const cases: [string, number, number, [number, number, number]][] = [
    ["256 MiB", 256, 10, [512, 640, 768]], // 65536 × 10 / 10000 = 65 < 128
    ["256 MiB", 256, 100, [512, 1167, 1822]], // tmp 655
    ["256 MiB", 256, 1000, [512, 7065, 13618]], // tmp 6553
    ["1 GiB", 1024, 10, [1024, 1286, 1548]], // tmp max(256, 262) = 262
    ["1 GiB", 1024, 100, [1024, 3645, 6266]], // tmp 2621
    ["1 GiB", 1024, 1000, [1024, 27238, 53452]], // tmp 26214
  ];

  it.each(cases)(
    "%s (%i MiB) at watermark_scale_factor %i: 6.1 gives min/low/high %j",
    (_n, mb, factor, want) => {
      const pages = (mb * MiB) / 4096;
      const kb = defaultMinFreeKbytes(pages * 4, ERA_6_1.minFreeKbytesCeil);
      const w = zoneWatermarksFor(ERA_6_1, kb, pages, factor);
      expect([w.min, w.low, w.high]).toEqual(want);
      // The allocator uses the same numbers.
      const { mm } = mmFixture({ memBytes: mb * MiB, era: ERA_6_1, watermarkScaleFactor: factor });
      expect([mm.wmark.min, mm.wmark.low, mm.wmark.high]).toEqual(want);
    },
  );

  it.each([
    [256, [512, 640, 768]],
    [1024, [1024, 1280, 1536]],
  ])("3.2 ignores the factor: %i MiB gives %j at 10, 100 and 1000", (mb, want) => {
    for (const factor of [10, 100, 1000]) {
      const { mm } = mmFixture({ memBytes: mb * MiB, era: ERA_3_2, watermarkScaleFactor: factor });
      expect([mm.wmark.min, mm.wmark.low, mm.wmark.high]).toEqual(want);
    }
  });

  it("clamps min_free_kbytes to 262144 on 6.1 and 65536 on 3.2", () => {
    const kb = 512 * 1024 * 1024; // 512 GiB of lowmem: int_sqrt(kb × 16) = 92681
    expect(defaultMinFreeKbytes(kb, ERA_6_1.minFreeKbytesCeil)).toBe(92681);
    expect(defaultMinFreeKbytes(kb, ERA_3_2.minFreeKbytesCeil)).toBe(65536);
  });

  it("6.1's fast path passes while free > low, 3.2's while free - 2 > low", () => {
    for (const era of [ERA_6_1, ERA_3_2]) {
      // 16 MiB: pcp batch 1, so each allocation takes exactly one buddy page.
      const { sim, k, mm } = mmFixture({ memBytes: 16 * MiB, minFreeKbytes: 1024, era });
      expect(mm.wmark.low).toBe(320);
      let freeAtFirstWake = -1;
      const ev = sim.register("test.irq", () => {
        k.hardirq(0, () => {
          // A GFP_ATOMIC allocation wakes kswapd only from the slow path.
          while (mm.vmstat().kswapd_wakeups === 0) {
            freeAtFirstWake = mm.nrFree;
            mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
          }
        });
      });
      sim.run(ms(1));
      sim.at(ms(2), ev);
      sim.run(ms(3));
      expect(freeAtFirstWake - mm.wmark.low).toBe(era === ERA_6_1 ? 0 : 2);
    }
  });
});

describe("per-cpu lists by era", () => {
  it("6.1 sizes batch from 1 MiB and high from the low watermark split over the CPUs", () => {
    // 512 MiB = 131072 pages: batch min(128, 256) / 4 = 32 → rounddown_pow_of_two(48) - 1 = 31.
    // min_free_kbytes 2896 → min 724, tmp max(181, 131) = 181, low 905: high 905 on one CPU.
    const a = mmFixture({ memBytes: 512 * MiB, era: ERA_6_1 }).mm.pcp;
    expect([a.batch, a.high]).toEqual([31, 905]);
    // Two vCPUs share it: 905 / 2 = 452.
    const b = mmFixture({ memBytes: 512 * MiB, era: ERA_6_1 }, { vcpus: 2 }).mm.pcp;
    expect([b.batch, b.high]).toEqual([31, 452]);
    // 1 GiB: batch min(256, 256) / 4 = 64 → rounddown_pow_of_two(96) - 1 = 63 (3.2: 31, capped at
    // 512 KiB); low 1286 → high 1286.
    const c = mmFixture({ memBytes: 1 << 30, era: ERA_6_1 }).mm.pcp;
    expect([c.batch, c.high]).toEqual([63, 1286]);
    // high is at least 4 × batch: 64 MiB (batch 16 / 4 = 4 → 3) at high_fraction 8192 gives 2 < 12.
    const d = mmFixture({ memBytes: 64 * MiB, era: ERA_6_1, percpuPagelistFraction: 8192 }).mm.pcp;
    expect([d.batch, d.high]).toEqual([3, 12]);
    // percpu_pagelist_high_fraction 8: 131072 / 8 / 1 CPU.
    const e = mmFixture({ memBytes: 512 * MiB, era: ERA_6_1, percpuPagelistFraction: 8 }).mm.pcp;
    expect([e.batch, e.high]).toEqual([31, 16384]);
  });

  it("6.1 frees ever larger bulks while nothing is allocated, and halves them per allocation", () => {
    const { sim, k, mm } = mmFixture({ memBytes: 512 * MiB, era: ERA_6_1 });
    const { batch, high } = mm.pcp; // 31, 905
    const ev = sim.register("test.irq", () => {
      k.hardirq(0, () => {
        const held: number[] = [];
        for (let i = 0; i < 2000; i++) held.push(mm.allocPageAtomic(ATOMIC, OWNER_SKB));
        mm.drainAllPages();
        const bulks: number[] = [];
        let bulk = mm.pcp.freeBulkPages;
        let i = 0;
        const freeUntilBulk = () => {
          while (mm.pcp.freeBulkPages === bulk) mm.freePage(held[i++]!);
          bulks.push(mm.pcp.freeBulkPages - bulk);
          bulk = mm.pcp.freeBulkPages;
        };
        // nr_pcp_free: batch << free_factor (0, 1, 2, …) clamped to [batch, high - batch].
        freeUntilBulk();
        freeUntilBulk();
        freeUntilBulk();
        expect(bulks).toEqual([batch, 2 * batch, 4 * batch]);
        expect(mm.pcp.freeFactor[0]).toBe(3);
        // One allocation: free_factor 3 >> 1 = 1, so the next bulk is 2 × batch.
        held.push(mm.allocPageAtomic(ATOMIC, OWNER_SKB));
        freeUntilBulk();
        expect(bulks[3]).toBe(2 * batch);
        // Each bulk left the list at high minus what it freed.
        expect(mm.pcp.count[0]).toBe(high - 2 * batch);
      });
    });
    sim.at(ms(1), ev);
    sim.run(ms(2));
    mm.checkInvariant();
  });

  it("6.1 caps the lists at 4 × batch while kswapd reclaims (ZONE_RECLAIM_ACTIVE)", () => {
    const { mm } = mmFixture({ memBytes: 512 * MiB, era: ERA_6_1 });
    expect(mm.pcp.nrPcpHigh()).toBe(905);
    mm.pcp.reclaimActive = true;
    expect(mm.pcp.nrPcpHigh()).toBe(4 * 31);
  });
});

/**
 * 3000 anonymous pages of a task the OOM killer can take; then a GFP_KERNEL allocator of 100
 * pages more than the zone has above its min watermark, which cannot finish without a kill.
 */
function fillAndAllocate({ sim, k, mm }: { sim: Simulator; k: Mm["k"]; mm: Mm }, pfWqWorker = false) {
  const hog = mm.registerTask("hog");
  runInThread(k, "hog", () => mm.allocAnon(hog, 3000));
  sim.run(ms(100));
  const n = mm.nrFree + mm.pcp.total - mm.wmark.min + 100;
  const worker = runInThread(k, "worker", function* () {
    for (let i = 0; i < n; i++) if ((yield* mm.allocPage(GFP_KERNEL, OWNER_SKB)) < 0) return i;
    return n;
  });
  k.threadList().find((t) => t.name === "worker")!.pfWqWorker = pfWqWorker;
  return { hog, worker, n };
}

describe("the OOM decision by era", () => {
  // 64 MiB, min_free_kbytes 1024: min 256; 6.1 low 320, high 384.
  const OPTS = { memBytes: 64 * MiB, minFreeKbytes: 1024, kernelReservedBytes: 0 };
  /** Dirty page cache on a disk that takes minutes per request: on the LRU, never freed. */
  const STUCK = { ...OPTS, disk: { bandwidthBytesPerSec: 100 } };

  it("6.1: nothing reclaimable fails should_reclaim_retry's watermark check at once, and kills", () => {
    const f = mmFixture({ ...OPTS, era: ERA_6_1 });
    const { hog, worker, n } = fillAndAllocate(f);
    f.sim.run(sec(1));
    expect(worker.value).toBe(n);
    expect(hog.killed).toBe(true);
    const v = f.mm.vmstat();
    // One direct reclaim freed nothing; available = 0 reclaimable + free ≤ min: straight to OOM.
    expect(v.allocstall).toBe(1);
    expect(v.reclaim_retry_give_ups).toBe(1);
    expect(v.oom_kill).toBe(1);
    f.mm.checkInvariant();
  });

  it("6.1: reclaimable pages that never come free give up after MAX_RECLAIM_RETRIES, then kill", () => {
    const f = mmFixture({ ...STUCK, era: ERA_6_1 });
    f.mm.prefillPageCache(8000, "dirty");
    const { hog, worker, n } = fillAndAllocate(f);
    f.sim.run(sec(2));
    expect(worker.value).toBe(n);
    expect(hog.killed).toBe(true);
    const v = f.mm.vmstat();
    // no_progress_loops 1..16 retry; the 17th round finds it above MAX_RECLAIM_RETRIES.
    expect(v.allocstall).toBe(MAX_RECLAIM_RETRIES + 1);
    expect(v.reclaim_retry_give_ups).toBe(1);
    expect(v.oom_kill).toBe(1);
    f.mm.checkInvariant();
  });

  it("6.1: a kworker sleeps a jiffy between retries (PF_WQ_WORKER), other threads only yield", () => {
    const gaps: number[][] = [];
    for (const kworker of [false, true]) {
      const f = mmFixture({ ...STUCK, era: ERA_6_1 });
      installTraceContext(f.k);
      const recs: TraceRecord[] = [];
      f.sim.trace.start(selectTracepoints(["vmscan"]), { event: (r) => recs.push(r) });
      f.mm.prefillPageCache(8000, "dirty");
      const { worker } = fillAndAllocate(f, kworker);
      f.sim.run(sec(2));
      expect(worker.done).toBe(true);
      // From the end of one of the worker's direct reclaims to the start of its next.
      const mine = recs.filter((r) => r.task === "worker" && /direct_reclaim/.test(TRACEPOINTS[r.tp]![1]));
      const g: number[] = [];
      for (let i = 1; i + 1 < mine.length; i += 2) g.push(mine[i + 1]!.ts - mine[i]!.ts);
      expect(g).toHaveLength(MAX_RECLAIM_RETRIES);
      gaps.push(g);
    }
    // cond_resched costs microseconds; schedule_timeout_uninterruptible(1) waits for the next jiffy.
    expect(Math.max(...gaps[0]!)).toBeLessThan(10_000);
    expect(Math.min(...gaps[1]!)).toBeGreaterThan(100_000);
  });
});

describe("kswapd by era", () => {
  it("6.1 gives a hopeless node up after MAX_RECLAIM_RETRIES fruitless runs; reclaim revives it", () => {
    const { sim, k, mm } = mmFixture({ memBytes: 64 * MiB, minFreeKbytes: 1024, era: ERA_6_1 });
    sim.run(ms(1));
    const held: number[] = [];
    const ev = sim.register("test.irq", () => {
      k.hardirq(0, () => {
        for (let p = mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB); p >= 0; ) {
          held.push(p);
          p = mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
        }
      });
    });
    sim.at(ms(2), ev);
    sim.run(sec(1));
    expect(mm.vmstat().pageoutrun).toBe(MAX_RECLAIM_RETRIES);
    expect(mm.kswapdFailures).toBe(MAX_RECLAIM_RETRIES);
    expect(mm.allUnreclaimable).toBe(false);
    expect(mm.kswapdThread.waitingOn?.name).toBe("kswapd_wait");
    // Hopeless: further allocations below the watermarks do not wake it.
    sim.at(sec(1) + ms(1), ev);
    sim.run(sec(2));
    expect(mm.vmstat().kswapd_wakeups).toBe(1);
    // Page cache takes memory down to just under min; direct reclaim frees some and resets it.
    const free = sim.register("test.free", () => k.hardirq(0, () => held.forEach((p) => mm.freePage(p))));
    sim.at(sec(2) + ms(1), free);
    sim.run(sec(2) + ms(2));
    mm.drainAllPages();
    mm.prefillPageCache(mm.nrFree - mm.wmark.min + 10, "clean");
    const r = runInThread(k, "worker", () => mm.allocPage(GFP_KERNEL, OWNER_SKB));
    sim.run(sec(3));
    expect(r.value).toBeGreaterThanOrEqual(0);
    expect(mm.vmstat().pgsteal_direct).toBeGreaterThan(0);
    expect(mm.kswapdFailures).toBe(0);
  });
});
