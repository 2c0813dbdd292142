import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sec } from "../../sim/time.ts";
import { exhaustAtomicAt, mmFixture, runInThread } from "./fixture.ts";
import { GFP_ATOMIC, GFP_KERNEL } from "./gfp.ts";
import { OWNER_DRIVER_LIST, OWNER_SKB } from "./page-table.ts";
import { DEFAULT_SEEKS, SHRINK_BATCH, type Shrinker, ShrinkerList } from "./shrinker.ts";

/** A shrinker of `n` objects recording each scan_objects request. */
function objects(n: number, seeks = DEFAULT_SEEKS) {
  const s = {
    left: n,
    requests: [] as number[],
    name: "test",
    seeks,
    countObjects: () => s.left,
    scanObjects(nr: number): number {
      s.requests.push(nr);
      const freed = Math.min(nr, s.left);
      s.left -= freed;
      return freed;
    },
  };
  return s;
}

function registered(s: Shrinker): ShrinkerList {
  const list = new ShrinkerList();
  list.register(s);
  return list;
}

describe("do_shrink_slab", () => {
  it("scans nothing of a small DEFAULT_SEEKS cache at DEF_PRIORITY, all of it at priority 0", () => {
    const s = objects(64);
    const list = registered(s);
    expect(list.shrink(12)).toBe(0);
    expect(s.requests).toEqual([]);
    const fresh = objects(64);
    // delta = (64 >> 1) * 4 / 2 = 64 ≥ freeable: one batch of 64.
    expect(registered(fresh).shrink(1)).toBe(64);
    expect(fresh.requests).toEqual([64]);
  });

  it("carries what it did not scan to later calls (nr_deferred)", () => {
    const s = objects(64);
    const list = registered(s);
    // At priority 2 each call adds delta 32 to nr_deferred (capped at 2 × 64); the scan target
    // (nr_deferred >> 2) + 32 reaches the 64 objects at the fifth call.
    for (let i = 0; i < 4; i++) expect(list.shrink(2)).toBe(0);
    expect(list.shrink(2)).toBe(64);
    expect(list.freed).toEqual([64]);
  });

  it("trims a seeks = 0 cache by half its count per call, in whole batches", () => {
    const s = objects(1000, 0);
    // total_scan 500: batches while at least SHRINK_BATCH remain, the last 116 carried over.
    expect(registered(s).shrink(12)).toBe(384);
    expect(s.requests).toEqual([128, 128, 128]);
  });

  it("asks for at most SHRINK_BATCH at a time, never frees more than it holds, and empties at priority 0", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 20 }),
        (n, priorities) => {
          const s = objects(n);
          const list = registered(s);
          let freed = 0;
          for (const p of priorities) freed += list.shrink(p);
          expect(s.requests.every((r) => r > 0 && r <= SHRINK_BATCH)).toBe(true);
          expect(freed).toBe(n - s.left);
          list.shrink(0);
          expect(s.left).toBe(0);
        },
      ),
    );
  });
});

describe("shrink_slab in reclaim", () => {
  // 64 MiB, min_free_kbytes 1024: min 256, low 320, high 384 pages.
  const OPTS = { memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 };

  /** A shrinker holding `n` pages (owned as a driver's list) that it frees when scanned. */
  function pagesShrinker(mm: ReturnType<typeof mmFixture>["mm"], n: number, seeks = DEFAULT_SEEKS) {
    const held: number[] = [];
    for (let i = 0; i < n; i++) held.push(mm.allocPageAtomic(GFP_ATOMIC, OWNER_DRIVER_LIST));
    const s: Shrinker = {
      name: "pages",
      seeks,
      countObjects: () => held.length,
      scanObjects(nr) {
        const k = Math.min(nr, held.length);
        for (let i = 0; i < k; i++) mm.freePage(held.pop()!);
        return k;
      },
    };
    mm.shrinkers.register(s);
    return held;
  }

  it("direct reclaim with nothing on the LRU takes a shrinker's pages instead of the OOM killer", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    // 512 pages: enough to lift free memory from the GFP_ATOMIC floor above WMARK_MIN.
    const held = pagesShrinker(mm, 512);
    const r = runInThread(k, "worker", function* () {
      while (mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) >= 0);
      return yield* mm.allocPage(GFP_KERNEL, OWNER_SKB);
    });
    sim.run(sec(1));
    expect(r.value).toBeGreaterThanOrEqual(0);
    expect(mm.shrinkers.freed[0]).toBeGreaterThanOrEqual(mm.wmark.min - 96);
    expect(held.length + mm.shrinkers.freed[0]!).toBe(512);
    expect(mm.oomKills).toHaveLength(0);
    mm.checkInvariant();
  });

  it("kswapd gives a zone up only once its shrinkers free nothing either", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    // seeks 0: scanned from DEF_PRIORITY on (a DEFAULT_SEEKS one would not be asked before 3.2's
    // zone_reclaimable gives an empty LRU up after the first pass).
    const held = pagesShrinker(mm, 300, 0);
    sim.run(sec(1));
    exhaustAtomicAt({ sim, k, mm }, sec(1));
    sim.run(sec(2));
    // DEF_PRIORITY: 150 to scan, one batch of 128 freed; the next pass scans nothing (86 < 128).
    expect(mm.shrinkers.freed).toEqual([SHRINK_BATCH]);
    expect(held).toHaveLength(300 - SHRINK_BATCH);
    expect(mm.allUnreclaimable).toBe(true);
  });
});
