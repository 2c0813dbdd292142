import { describe, expect, it } from "vitest";
import { ModelError } from "../../sim/simulator.ts";
import { ms, sec } from "../../sim/time.ts";
import { CAT_RECLAIM } from "../sched/costs.ts";
import { ReturnedCode } from "../sched/kernel.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import {
  __GFP_NORETRY,
  ALLOC_HARDER,
  ALLOC_HIGH,
  effectiveMin,
  GFP_ATOMIC,
  GFP_KERNEL,
  GFP_NOWAIT,
} from "./gfp.ts";
import type { Mm } from "./mm.ts";
import { OWNER_DRIVER_LIST, OWNER_RX_RING, OWNER_SKB } from "./page-table.ts";

// 64 MiB, min_free_kbytes 1024: min 256, low 320, high 384 pages.
const OPTS = { memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 };

/** Allocates with `gfp` without sleeping until it fails; returns how many succeeded. */
function drain(mm: Mm, gfp: number): number {
  let n = 0;
  while (mm.allocPageAtomic(gfp, OWNER_SKB) >= 0) n++;
  return n;
}

describe("atomic allocation", () => {
  it("uses the fast path above WMARK_LOW without waking kswapd", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    sim.run(sec(1)); // kswapd goes to sleep
    const ev = sim.register("test.alloc", () => {
      k.hardirq(0, () => {
        let failed = 0;
        while (mm.nrFree > mm.wmark.low + 2) if (mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) < 0) failed++;
        expect(failed).toBe(0);
      });
    });
    sim.at(sec(1), ev);
    sim.run(sec(2));
    // The last allocation may have refilled its pcp list with a batch from buddy.
    expect(mm.nrFree).toBeLessThanOrEqual(mm.wmark.low + 2);
    expect(mm.nrFree).toBeGreaterThan(mm.wmark.low + 2 - mm.pcp.batch);
    const v = mm.vmstat();
    expect(v.kswapd_wakeups).toBe(0);
    expect(v.pgalloc).toBe(mm.nPages - mm.nrFree - mm.pcp.total);
  });

  it("succeeds down to 3/8 of WMARK_MIN and fails below, counted as an atomic failure", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    sim.run(sec(1));
    const atomicMin = effectiveMin(mm.wmark.min, ALLOC_HIGH | ALLOC_HARDER);
    expect(atomicMin).toBe(96); // 256 - 128 = 128, 128 - 32 = 96
    const nowaitMin = effectiveMin(mm.wmark.min, ALLOC_HARDER);
    const ev = sim.register("test.softirq", () => {
      k.hardirq(0, () => {
        drain(mm, GFP_NOWAIT);
        // GFP_NOWAIT has ALLOC_HARDER only: it stops where free - 2 reaches 3/4 of min (the last
        // success may have taken a pcp batch from buddy, so up to batch - 1 pages below), even
        // with pages left on the pcp list: the watermark check comes first and counts buddy only.
        expect(mm.nrFree).toBeLessThanOrEqual(nowaitMin + 2);
        expect(mm.nrFree).toBeGreaterThan(nowaitMin + 2 - mm.pcp.batch);
        drain(mm, GFP_ATOMIC);
        expect(mm.nrFree).toBeLessThanOrEqual(atomicMin + 2);
        expect(mm.nrFree).toBeGreaterThan(atomicMin + 2 - mm.pcp.batch);
        const p = mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
        expect(p).toBe(-1);
      });
    });
    sim.at(sec(1), ev);
    sim.run(sec(1) + ms(1));
    const v = mm.vmstat();
    expect(v.allocfail_atomic).toBe(3);
    expect(v.allocfail_process).toBe(0);
    expect(v.allocfail_gfp_GFP_ATOMIC).toBe(2);
    expect(v.allocfail_gfp_GFP_NOWAIT).toBe(1);
    expect(v.kswapd_wakeups).toBe(1);
    mm.checkInvariant();
  });

  it("refuses a sleeping gfp in atomic context", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    const ev = sim.register("test.irq", () => {
      k.hardirq(0, () => {
        expect(() => mm.allocPage(GFP_KERNEL, OWNER_SKB).next()).toThrow(ModelError);
        expect(() => mm.allocPageAtomic(GFP_KERNEL, OWNER_SKB)).toThrow(ModelError);
        expect(mm.allocPage(GFP_ATOMIC, OWNER_SKB).next().value).toBeGreaterThanOrEqual(0);
      });
    });
    sim.at(ms(1), ev);
    sim.run(ms(2));
  });
});

describe("GFP_KERNEL fast paths", () => {
  it("return without a generator above WMARK_LOW; below it the slow path takes over and may sleep", () => {
    const { sim, k, mm } = mmFixture({ ...OPTS, costs: { allocFailWarning: 0 } });
    mm.prefillPageCache(4000, "clean");
    sim.run(sec(1));
    const cache = mm.kmallocCache(1024);
    const r = runInThread(k, "t", function* () {
      const page = mm.allocPage(GFP_KERNEL, OWNER_SKB);
      expect(page).toBeInstanceOf(ReturnedCode);
      expect(page.next().value).toBeGreaterThanOrEqual(0);
      // An empty cache: its new slab page comes from the fast path too.
      const obj = mm.kmemCacheAlloc(cache, GFP_KERNEL);
      expect(obj).toBeInstanceOf(ReturnedCode);
      expect(obj.next().value).toBe(0);
      expect(mm.vmstat().allocstall).toBe(0);
      // Below WMARK_LOW and with the cache's slab full: each must enter the slow path.
      while (cache.alloc() >= 0);
      drain(mm, GFP_ATOMIC);
      const slowPage = mm.allocPage(GFP_KERNEL, OWNER_SKB);
      expect(slowPage).not.toBeInstanceOf(ReturnedCode);
      expect(yield* slowPage).toBeGreaterThanOrEqual(0);
      drain(mm, GFP_ATOMIC);
      const slowObj = mm.kmemCacheAlloc(cache, GFP_KERNEL);
      expect(slowObj).not.toBeInstanceOf(ReturnedCode);
      return yield* slowObj;
    });
    sim.run(sec(2));
    expect(r.done).toBe(true);
    expect(r.value).toBeGreaterThanOrEqual(0);
    expect(mm.vmstat().allocstall).toBeGreaterThanOrEqual(2);
    expect(r.at).toBeGreaterThan(sec(1));
  });
});

describe("GFP_KERNEL allocation under pressure", () => {
  it("reclaims clean page cache directly where GFP_ATOMIC failed, charging CPU for the scan", () => {
    // A free console: the atomic failure's printed warning would give kswapd 25 ms to reclaim first.
    const { sim, k, mm } = mmFixture({ ...OPTS, costs: { allocFailWarning: 0 } });
    mm.prefillPageCache(4000, "clean");
    sim.run(sec(1));
    const r = runInThread(k, "refill", function* () {
      drain(mm, GFP_ATOMIC);
      expect(mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB)).toBe(-1);
      return yield* mm.allocPage(GFP_KERNEL, OWNER_SKB);
    });
    sim.run(sec(2));
    expect(r.done).toBe(true);
    expect(r.value).toBeGreaterThanOrEqual(0);
    const v = mm.vmstat();
    // A try_to_free_pages frees at least SWAP_CLUSTER_MAX (32) clean pages; the caller retries until
    // free pages pass WMARK_MIN, so reclaim freed at least min + 3 - (atomic floor + 2) in all. The
    // kswapd the slow path woke after its long sleep is placed sched_latency/2 behind min_vruntime
    // and preempts the allocating thread (CFS), so it does part of that work.
    expect(v.allocstall).toBeGreaterThanOrEqual(1);
    expect(v.pgsteal_direct).toBeGreaterThanOrEqual(32);
    expect(v.pgsteal_direct! + v.pgsteal_kswapd!).toBeGreaterThanOrEqual(mm.wmark.min + 3 - 98);
    expect(v.pgscan_direct).toBeGreaterThanOrEqual(v.pgsteal_direct!);
    expect(k.busyByCategory()[CAT_RECLAIM]!).toBeGreaterThan(0);
    expect(r.at).toBeGreaterThan(sec(1));
    mm.checkInvariant();
  });

  it("with only dirty pages wakes the flusher and waits until the disk has cleaned some", () => {
    // A disk finishing a 512 KiB request in ~1.4 ms.
    const disk = { bandwidthBytesPerSec: 400e6, requestLatencyNs: 100_000 };
    const { sim, k, mm } = mmFixture({ ...OPTS, disk });
    sim.run(ms(1)); // the flusher sleeps until someone asks for writeback
    mm.prefillPageCache(8192, "dirty");
    let writtenAtSuccess = -1;
    const r = runInThread(k, "refill", function* () {
      drain(mm, GFP_ATOMIC);
      const p = yield* mm.allocPage(GFP_KERNEL, OWNER_SKB);
      writtenAtSuccess = mm.vmstat().nr_written!;
      return p;
    });
    sim.run(sec(2));
    expect(r.done).toBe(true);
    expect(r.value).toBeGreaterThanOrEqual(0);
    // Reclaim could only succeed on pages the disk had written back.
    expect(writtenAtSuccess).toBeGreaterThan(0);
    const firstRequestNs = disk.requestLatencyNs + Math.ceil((128 * 4096 * 1e9) / disk.bandwidthBytesPerSec);
    expect(r.at - ms(1)).toBeGreaterThan(firstRequestNs);
    const v = mm.vmstat();
    expect(v.flusher_wakeups_reclaim).toBeGreaterThan(0);
    expect(v.nr_vmscan_immediate_reclaim).toBeGreaterThan(0);
    expect(v.pgrotated).toBeGreaterThan(0);
    expect(v.pgsteal_direct).toBeGreaterThan(0);
    expect(v.oom_kill).toBe(0);
    mm.checkInvariant();
  });

  it("gives up after one reclaim pass with __GFP_NORETRY", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    const r = runInThread(k, "noretry", function* () {
      drain(mm, GFP_ATOMIC);
      return yield* mm.allocPage(GFP_KERNEL | __GFP_NORETRY, OWNER_SKB);
    });
    sim.run(sec(1));
    expect(r.value).toBe(-1);
    const v = mm.vmstat();
    expect(v.allocstall).toBe(1);
    expect(v.oom_kill).toBe(0);
    expect(v["allocfail_gfp_GFP_KERNEL|__GFP_NORETRY"]).toBe(1);
  });
});

describe("page ownership transfers", () => {
  it("moves pages between outside owners and rejects wrong claims", () => {
    const { mm } = mmFixture(OPTS);
    const p = mm.allocPageAtomic(GFP_ATOMIC, OWNER_DRIVER_LIST);
    mm.setOwner(p, OWNER_DRIVER_LIST, OWNER_RX_RING);
    expect(mm.ownerOf(p)).toBe(OWNER_RX_RING);
    expect(() => mm.setOwner(p, OWNER_DRIVER_LIST, OWNER_SKB)).toThrow(
      /expected owner driver_list, found rx_ring/,
    );
    mm.freePage(p);
    expect(() => mm.freePage(p)).toThrow(ModelError);
    mm.checkInvariant();
  });
});
