import { describe, expect, it } from "vitest";
import { ms, sec } from "../../sim/time.ts";
import { Hog, type HogSpec, hogSpec } from "../apps/hog.ts";
import { kernelEra } from "../kernel-era.ts";
import { mmFixture } from "./fixture.ts";
import type { MmOptions } from "./mm.ts";
import { AnonLru, getScanCount, inactiveRatio, type ScanCount } from "./swap.ts";

// 32 MiB: 8192 pages, min_free_kbytes 512.
const BASE: MmOptions = { memBytes: 32 << 20, minFreeKbytes: 512, kernelReservedBytes: 0 };
const SWAP = { sizeBytes: 64 << 20, bandwidthBytesPerSec: 100e6, latencyNs: ms(1) };

function hog(over: Partial<HogSpec>): HogSpec {
  return hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 100, ...over });
}

describe("get_scan_count and inactive_ratio (hand-computed)", () => {
  it("inactive_ratio is int_sqrt(10 × GiB), 1 below 1 GiB", () => {
    expect(inactiveRatio((256 << 20) / 4096)).toBe(1);
    expect(inactiveRatio((1 << 30) / 4096)).toBe(3);
    expect(inactiveRatio((10 * 2 ** 30) / 4096)).toBe(10);
  });

  it("balances anon and file by swappiness 60 and the rotated fractions", () => {
    const lru = new AnonLru(10_000);
    for (let p = 0; p < 4096; p++) lru.active.addHead(p);
    for (let p = 4096; p < 8192; p++) lru.inactive.addHead(p);
    const out: ScanCount = { inactiveAnon: 0, activeAnon: 0, inactiveFile: 0, activeFile: 0 };
    // Nothing scanned yet: ap = 60 × 1 / 1, fp = 140 × 1 / 1, denominator 201.
    getScanCount(lru, 8192, 0, 1000, 384, 4, false, 32, out);
    // 4096 >> 4 = 256: 256 × 60 / 201 = 76; file 8192 >> 4 = 512: 512 × 140 / 201 = 356.
    expect(out).toEqual({ inactiveAnon: 76, activeAnon: 76, inactiveFile: 356, activeFile: 0 });
    // Anon pages rotated back (referenced) lower the anon share: ap = 60 × 101 / 91 = 66.
    lru.recentScanned[0] = 100;
    lru.recentRotated[0] = 90;
    getScanCount(lru, 8192, 0, 1000, 384, 4, false, 32, out);
    // 256 × 66 / (66 + 140 + 1) = 81.6… → 81.
    expect(out.inactiveAnon).toBe(81);
    // Priority 0 scans every list whole.
    getScanCount(lru, 8192, 0, 1000, 384, 0, false, 32, out);
    expect(out).toEqual({ inactiveAnon: 4096, activeAnon: 4096, inactiveFile: 8192, activeFile: 0 });
  });

  it("scans only anon when file + free pages are at or below the high watermark", () => {
    const lru = new AnonLru(10_000);
    for (let p = 0; p < 2048; p++) lru.inactive.addHead(p);
    const out: ScanCount = { inactiveAnon: 0, activeAnon: 0, inactiveFile: 0, activeFile: 0 };
    getScanCount(lru, 100, 0, 284, 384, 3, false, 32, out);
    expect(out).toEqual({ inactiveAnon: 256, activeAnon: 0, inactiveFile: 0, activeFile: 0 });
  });
});

describe("swap", () => {
  // On 6.1 rules should_reclaim_retry counts the anon lists as reclaimable while swap has room, so it
  // keeps retrying instead of declaring OOM.
  it.each(["3.2", "6.1"] as const)(
    "%s: swaps a touching hog's anon pages out (pswpout) and back in on touch (pswpin, major faults), no OOM",
    (era) => {
      const { sim, k, mm } = mmFixture({ ...BASE, swap: SWAP, era: kernelEra(era) });
      // 10 000 pages in 8192 of RAM, swept at 20 000 pages/s: the cold end is out when the sweep gets there.
      const h = new Hog(k, mm, hog({ pages: 10_000, touchRate: 20_000 }));
      sim.run(sec(3));
      const v = mm.vmstat();
      expect(mm.oomKills).toEqual([]);
      expect(v.pswpout).toBeGreaterThan(0);
      expect(v.pswpin).toBeGreaterThan(0);
      expect(v.pgmajfault).toBe(v.pswpin);
      const t = h.lives[0]!;
      expect(t.anonPages).toHaveLength(10_000);
      expect(t.swapents).toBeGreaterThan(0);
      expect(v.swap_used_pages).toBe(t.swapents);
      // The anon lists also hold the swap cache pages that reclaim has not freed yet.
      expect(v.nr_active_anon! + v.nr_inactive_anon!).toBe(t.anonRss + v.nr_swapcached!);
      mm.checkInvariant();
    },
  );

  it("without swap the same hog is OOM-killed and nothing is swapped", () => {
    const { sim, k, mm } = mmFixture(BASE);
    new Hog(k, mm, hog({ pages: 10_000, touchRate: 20_000 }));
    sim.run(sec(3));
    const v = mm.vmstat();
    expect(mm.oomKills).toHaveLength(1);
    expect(v.pswpout).toBe(0);
    expect(v.pswpin).toBe(0);
    mm.checkInvariant();
  });

  it("a hog that does not touch is swapped out but never read back", () => {
    const { sim, k, mm } = mmFixture({ ...BASE, swap: SWAP });
    new Hog(k, mm, hog({ pages: 10_000 }));
    sim.run(sec(3));
    const v = mm.vmstat();
    expect(v.pswpout).toBeGreaterThan(10_000 - 8192);
    expect(v.pswpin).toBe(0);
    expect(mm.oomKills).toEqual([]);
    mm.checkInvariant();
  });

  it("OOM-kills once swap is full too, and the victim's swap slots are freed", () => {
    const { sim, k, mm } = mmFixture({ ...BASE, swap: { ...SWAP, sizeBytes: 4 << 20 } });
    new Hog(k, mm, hog({ pages: 12_000 }));
    sim.run(sec(5));
    const v = mm.vmstat();
    expect(v.pswpout).toBeGreaterThan(0);
    expect(mm.oomKills).toHaveLength(1);
    expect(v.swap_used_pages).toBe(0);
    mm.checkInvariant();
  });

  it("keeps the invariant at every event while swapping in and out", () => {
    const { sim, k, mm } = mmFixture({ ...BASE, memBytes: 8 << 20, minFreeKbytes: 128, swap: SWAP });
    new Hog(k, mm, hog({ pages: 2500, touchRate: 10_000 }));
    new Hog(
      k,
      mm,
      hog({ name: "hog1", at: ms(50), pages: 600, touchRate: 1000, restart: { delay: ms(20), count: -1 } }),
    );
    sim.afterEvent = () => mm.checkInvariant();
    sim.run(sec(1));
    expect(mm.vmstat().pswpin).toBeGreaterThan(0);
  });
});
