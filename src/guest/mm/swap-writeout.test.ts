import { describe, expect, it } from "vitest";
import { ms, sec } from "../../sim/time.ts";
import { Hog, hogSpec } from "../apps/hog.ts";
import { type KernelEra, kernelEra } from "../kernel-era.ts";
import { EV_PGROTATED } from "./events.ts";
import { mmFixture } from "./fixture.ts";
import type { Mm, MmOptions } from "./mm.ts";
import { OWNER_SWAPCACHE, type PageList, PG_WRITEBACK } from "./page-table.ts";
import { NR_REQUESTS, type SwapOptions } from "./swap.ts";

// 32 MiB: 8192 pages, min_free_kbytes 512.
const BASE: MmOptions = { memBytes: 32 << 20, minFreeKbytes: 512, kernelReservedBytes: 0 };
const FAST: SwapOptions = { sizeBytes: 64 << 20, bandwidthBytesPerSec: 100e6, latencyNs: ms(5) };
// 1000 pages/s: far slower than a hog faults memory in.
const SLOW: SwapOptions = { ...FAST, bandwidthBytesPerSec: 4e6 };

function guest(era: KernelEra, swap: SwapOptions, opts: Partial<MmOptions> = {}) {
  return mmFixture({ ...BASE, ...opts, swap, era: kernelEra(era) });
}

/** Swap cache pages under writeback on `list`. */
function writebackOn(mm: Mm, list: PageList): number {
  let n = 0;
  for (let p = list.head; p >= 0; p = list.next(p)) {
    if (mm.pt.owner[p] === OWNER_SWAPCACHE && (mm.pt.flags[p]! & PG_WRITEBACK) !== 0) n++;
  }
  return n;
}

describe("swap writeout: written pages are freed by a later scan", () => {
  it.each(["3.2", "6.1"] as const)(
    "%s: a page's write completing rotates it to the inactive tail (pgrotated)",
    (era) => {
      const { sim, k, mm } = guest(era, FAST);
      new Hog(k, mm, hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 10_000, touchRate: 5000 }));
      const inactive = mm.anonLru!.inactive;
      let rotated = 0;
      let checked = 0;
      sim.afterEvent = () => {
        const now = mm.ev[EV_PGROTATED]!;
        if (now === rotated) return;
        rotated = now;
        // end_page_writeback → rotate_reclaimable_page: the page just written is where reclaim looks next.
        const tail = inactive.tail;
        expect(mm.pt.owner[tail]).toBe(OWNER_SWAPCACHE);
        expect(mm.pt.flags[tail]! & PG_WRITEBACK).toBe(0);
        checked++;
      };
      sim.run(sec(2));
      expect(checked).toBeGreaterThan(10);
      const v = mm.vmstat();
      // Every page written has PG_reclaim, so every completed write is rotated.
      expect(v.pgrotated).toBe(v.pswpout! - v.nr_writeback!);
    },
  );

  it.each(["3.2", "6.1"] as const)(
    "%s: written pages count as reclaimed only when a scan frees them (pgsteal), not when the write completes",
    (era) => {
      const { sim, k, mm } = guest(era, FAST);
      new Hog(k, mm, hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 10_000, touchRate: 5000 }));
      sim.run(sec(2));
      const v = mm.vmstat();
      expect(v.nr_vmscan_write).toBe(v.pswpout);
      // No page cache here: every page reclaim freed was a written anon page; the others were
      // touched again while in the swap cache (mapped back without a read) or are still there
      // (under writeback, or written and not scanned since).
      const stolen = v.pgsteal_kswapd! + v.pgsteal_direct!;
      expect(stolen).toBeGreaterThan(1000);
      expect(stolen + v.swapcache_hits!).toBe(v.pswpout! - v.nr_swapcached!);
      // Swap cache pages off the lists: at most the hog's own page being read in.
      expect(v.owner_swapcache! - v.nr_swapcached!).toBeLessThanOrEqual(1);
      expect(mm.oomKills).toEqual([]);
    },
  );

  // 6.1: its reclaim activates pages under writeback, so written pages stay in the swap cache long
  // enough for the sweep to come back to some of them (on 3.2 rules the next scan frees them first).
  it.each(["6.1"] as const)(
    "%s: a touch of a written page still in the swap cache maps it back without a read (lookup_swap_cache)",
    (era) => {
      const { sim, k, mm } = guest(era, FAST);
      new Hog(k, mm, hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 10_000, touchRate: 5000 }));
      sim.run(sec(2));
      const v = mm.vmstat();
      expect(v.swapcache_hits).toBeGreaterThan(0);
      // Only the swap-ins that missed the swap cache are major faults and reads.
      expect(v.pgmajfault).toBe(v.pswpin);
    },
  );

  it("keeps the invariant at every event on both eras with a slow swap disk", () => {
    for (const era of ["3.2", "6.1"] as const) {
      const { sim, k, mm } = guest(era, SLOW, { memBytes: 8 << 20, minFreeKbytes: 128 });
      new Hog(k, mm, hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 2500, touchRate: 2000 }));
      sim.afterEvent = () => mm.checkInvariant();
      sim.run(ms(1500));
      expect(mm.vmstat().pgrotated).toBeGreaterThan(0);
    }
  });
});

describe("swap writeout: throttling", () => {
  it("a writer sleeps in get_request_wait once nr_requests requests are queued", () => {
    // 96 MiB of RAM and a 1 MB/s swap disk: the hog's fault-in queues more than 128 requests of
    // up to 128 pages.
    // 6.1, because 3.2 gives the zone up and kills the hog before (see the last test).
    const { sim, k, mm } = guest(
      "6.1",
      { ...SLOW, sizeBytes: 256 << 20, bandwidthBytesPerSec: 1e6 },
      {
        memBytes: 96 << 20,
      },
    );
    new Hog(k, mm, hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 40_000 }));
    let maxRequests = 0;
    sim.afterEvent = () => {
      maxRequests = Math.max(maxRequests, mm.swap!.requestsInFlight);
    };
    sim.run(sec(3));
    const v = mm.vmstat();
    expect(v.swap_request_waits).toBeGreaterThan(0);
    // The batch that fills the queue is submitted; then each writer (the hog, kswapd) waits.
    expect(maxRequests).toBeGreaterThanOrEqual(NR_REQUESTS);
    expect(maxRequests).toBeLessThanOrEqual(NR_REQUESTS + 2);
  });

  it("3.2 keeps pages under writeback on the inactive list, 6.1 activates them", () => {
    const seen: Record<string, number> = {};
    for (const era of ["3.2", "6.1"] as const) {
      const { sim, k, mm } = guest(era, SLOW);
      new Hog(k, mm, hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 10_000, touchRate: 5000 }));
      let onActive = 0;
      for (let t = 100; t <= 2000; t += 100) {
        sim.run(ms(t));
        onActive = Math.max(onActive, writebackOn(mm, mm.anonLru!.active));
      }
      expect(mm.vmstat().nr_writeback).toBeGreaterThan(0);
      seen[era] = onActive;
    }
    expect(seen["3.2"]).toBe(0);
    expect(seen["6.1"]).toBeGreaterThan(0);
  });

  it("6.1 throttles kswapd on writeback (nr_immediate) and direct reclaim on a congested lruvec; 3.2 never", () => {
    const counts: Record<string, number[]> = {};
    for (const era of ["3.2", "6.1"] as const) {
      const { sim, k, mm } = guest(era, SLOW);
      new Hog(k, mm, hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 10_000, touchRate: 5000 }));
      sim.run(sec(3));
      const v = mm.vmstat();
      counts[era] = [v.vmscan_throttled_writeback!, v.vmscan_throttled_congested!];
    }
    expect(counts["3.2"]).toEqual([0, 0]);
    expect(counts["6.1"]![0]).toBeGreaterThan(0);
    expect(counts["6.1"]![1]).toBeGreaterThan(0);
  });

  it("with swap writes far slower than faults, 3.2 gives the zone up and OOM-kills; 6.1 throttles and does not", () => {
    // 3.2: the inactive anon list is all under writeback, zone->pages_scanned passes six times the
    // reclaimable pages with none freed, kswapd sets all_unreclaimable and direct reclaim reports
    // no progress. 6.1's should_reclaim_retry counts the anon lists as reclaimable while swap has room.
    const kills: Record<string, number> = {};
    for (const era of ["3.2", "6.1"] as const) {
      const { sim, k, mm } = guest(era, SLOW);
      new Hog(k, mm, hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 10_000, touchRate: 5000 }));
      sim.run(sec(3));
      kills[era] = mm.oomKills.length;
    }
    expect(kills).toEqual({ "3.2": 1, "6.1": 0 });
  });
});
