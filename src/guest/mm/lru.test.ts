import { describe, expect, it } from "vitest";
import { ms, sec } from "../../sim/time.ts";
import { type MmFixture, mmFixture, runInThread } from "./fixture.ts";
import { GFP_ATOMIC } from "./gfp.ts";
import { PG_ACTIVE, PG_REFERENCED } from "./lru.ts";
import { OWNER_PAGECACHE_CLEAN, OWNER_PAGECACHE_DIRTY, OWNER_SKB } from "./page-table.ts";

// 64 MiB, min_free_kbytes 1024: min 256, low 320, high 384 pages.
const OPTS = { memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 };

/** Atomic allocations from a hardirq at `at` until free pages are just below WMARK_LOW (kswapd wakes). */
function pressAt(f: MmFixture, at: number): void {
  const ev = f.sim.register("test.rx", () => {
    f.k.hardirq(0, () => {
      while (f.mm.nrFree > f.mm.wmark.low + 1) f.mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
    });
  });
  f.sim.at(at, ev);
}

/** Reads pages [0, pages) of a new file twice: every page cached, clean and active. */
function activeFile(f: MmFixture, pages: number): number {
  const file = f.mm.lru.addressSpace(pages);
  const task = f.mm.registerTask("reader");
  runInThread(f.k, "reader", function* () {
    yield* f.mm.readFilePages(task, file, 0, pages);
    yield* f.mm.readFilePages(task, file, 0, pages);
  });
  return file;
}

describe("file LRU (mark_page_accessed)", () => {
  it("keeps a page written once inactive and referenced, and activates it when it is read", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    const file = mm.lru.addressSpace(8);
    const task = mm.registerTask("client");
    const w = runInThread(k, "write", () => mm.writeFilePages(task, file, 2, 4));
    sim.run(ms(10));
    expect(w.value).toBe(4);
    const pfn = mm.lru.findPage(file, 3);
    expect(mm.ownerOf(pfn)).toBe(OWNER_PAGECACHE_DIRTY);
    expect(mm.pt.flags[pfn]! & (PG_ACTIVE | PG_REFERENCED)).toBe(PG_REFERENCED);
    expect(mm.vmstat().nr_inactive_file).toBe(4);
    // The hash re-read of pages 2..5 finds them cached: no disk read, all four activated.
    const r = runInThread(k, "hash", () => mm.readFilePages(task, file, 2, 4));
    sim.run(ms(20));
    expect(r.value).toBe(0);
    const v = mm.vmstat();
    expect(v.pgactivate).toBe(4);
    expect(v.nr_active_file).toBe(4);
    expect(v.nr_inactive_file).toBe(0);
    expect(mm.pt.flags[pfn]! & (PG_ACTIVE | PG_REFERENCED)).toBe(PG_ACTIVE);
    mm.checkInvariant();
  });

  it("reads pages that are not cached from the disk, leaving them inactive and referenced", () => {
    const { sim, k, mm } = mmFixture({
      ...OPTS,
      disk: { bandwidthBytesPerSec: 4096e3, requestLatencyNs: 0 },
    });
    const file = mm.lru.addressSpace(300);
    const task = mm.registerTask("client");
    // 300 pages in requests of at most 128 (max_sectors_kb): 3 requests, 300 ms at 1000 pages/s.
    const r = runInThread(k, "read", () => mm.readFilePages(task, file, 0, 300));
    sim.run(sec(1));
    expect(r.value).toBe(300);
    expect(r.at).toBeGreaterThanOrEqual(ms(300));
    const v = mm.vmstat();
    expect(v.disk_requests).toBe(3);
    expect(v.nr_inactive_file).toBe(300);
    expect(v.pgactivate).toBe(0);
    expect(mm.ownerOf(mm.lru.findPage(file, 299))).toBe(OWNER_PAGECACHE_CLEAN);
    mm.checkInvariant();
  });
});

describe("file LRU reclaim (shrink_active_list, page_check_references)", () => {
  it("deactivates active pages when active > inactive, and frees them from the inactive list", () => {
    const f = mmFixture(OPTS);
    const file = activeFile(f, 12000);
    f.sim.run(sec(2));
    expect(f.mm.vmstat().nr_active_file).toBe(12000);
    pressAt(f, sec(2));
    f.sim.run(sec(4));
    const v = f.mm.vmstat();
    expect(v.pgdeactivate).toBeGreaterThan(0);
    expect(v.pgrefill).toBe(v.pgdeactivate);
    expect(v.pgsteal_kswapd).toBeGreaterThan(0);
    expect(f.mm.nrFree).toBeGreaterThanOrEqual(f.mm.wmark.high + 3);
    // The oldest pages (the tail of the active list) were the ones deactivated and freed.
    expect(f.mm.lru.findPage(file, 0)).toBe(-1);
    expect(f.mm.lru.findPage(file, 11999)).toBeGreaterThanOrEqual(0);
    f.mm.checkInvariant();
  });

  it("reclaims the inactive list first and leaves the active list alone while inactive ≥ active", () => {
    const f = mmFixture(OPTS);
    activeFile(f, 3000);
    f.sim.run(sec(1));
    f.mm.prefillPageCache(9000, "clean");
    pressAt(f, sec(1));
    f.sim.run(sec(3));
    const v = f.mm.vmstat();
    expect(v.pgsteal_kswapd).toBeGreaterThan(0);
    expect(v.pgdeactivate).toBe(0);
    expect(v.nr_active_file).toBe(3000);
    f.mm.checkInvariant();
  });

  it("frees a clean inactive page though it is referenced (PAGEREF_RECLAIM_CLEAN: use-once)", () => {
    const f = mmFixture(OPTS);
    f.mm.prefillPageCache(12000, "clean");
    const lru = f.mm.lru;
    for (let p = lru.inactive.head; p >= 0; p = lru.inactive.next(p)) lru.markPageAccessed(p);
    pressAt(f, sec(1));
    f.sim.run(sec(3));
    const v = f.mm.vmstat();
    expect(v.pgsteal_kswapd).toBe(v.pgscan_kswapd);
    expect(v.pgactivate).toBe(0);
  });

  it("gives a referenced dirty page one more trip before kswapd writes it", () => {
    /** pgscan_kswapd when kswapd's first pageout() is submitted, with the dirty pages referenced or not. */
    const scannedAtFirstPageout = (referenced: boolean): number => {
      const f = mmFixture({ ...OPTS, disk: { bandwidthBytesPerSec: 50e6 } });
      f.sim.run(ms(1));
      f.mm.prefillPageCache(8000, "dirty");
      const lru = f.mm.lru;
      if (referenced)
        for (let p = lru.inactive.head; p >= 0; p = lru.inactive.next(p)) lru.markPageAccessed(p);
      pressAt(f, ms(2));
      while (f.mm.vmstat().nr_vmscan_write === 0 && f.sim.now < sec(4)) f.sim.run(f.sim.now + ms(1));
      expect(f.mm.vmstat().nr_vmscan_write).toBeGreaterThan(0);
      return f.mm.vmstat().pgscan_kswapd!;
    };
    // Unreferenced pages go out at the first pass below DEF_PRIORITY - 2; referenced ones only once
    // every dirty page has been scanned and lost its PG_referenced.
    expect(scannedAtFirstPageout(false)).toBeLessThan(8000);
    expect(scannedAtFirstPageout(true)).toBeGreaterThanOrEqual(8000);
  });
});
