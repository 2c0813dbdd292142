import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ModelError } from "../../sim/simulator.ts";
import { ms, sec } from "../../sim/time.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import {
  __GFP_COLD,
  __GFP_MOVABLE,
  __GFP_NO_KSWAPD,
  __GFP_RECLAIMABLE,
  GFP_ATOMIC,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
} from "./gfp.ts";
import type { Mm } from "./mm.ts";
import { OWNER_DRIVER_LIST, OWNER_FREE, OWNER_PCP, OWNER_SKB, PageTable } from "./page-table.ts";
import {
  allocflagsToMigratetype,
  MIGRATE_MOVABLE,
  MIGRATE_PCPTYPES,
  MIGRATE_RECLAIMABLE,
  MIGRATE_UNMOVABLE,
  PerCpuPages,
} from "./pcp.ts";

// 1 GiB (batch 31, high 186), min_free_kbytes 1024: min 256, low 320, high 384 pages.
const OPTS = { memBytes: 1 << 30, minFreeKbytes: 1024, kernelReservedBytes: 0 };
/** GFP_ATOMIC that leaves kswapd asleep, so only the test moves pages. */
const ATOMIC = GFP_ATOMIC | __GFP_NO_KSWAPD;

/** Allocates atomically until the watermark check fails; returns the pages. */
function allocUntilFail(mm: Mm): number[] {
  const held: number[] = [];
  for (let p = mm.allocPageAtomic(ATOMIC, OWNER_SKB); p >= 0; p = mm.allocPageAtomic(ATOMIC, OWNER_SKB))
    held.push(p);
  return held;
}

describe("zone_batchsize and setup_pageset", () => {
  it("give batch 15 / high 90 for a 256 MiB zone and batch 31 / high 186 for 1 GiB", () => {
    // 256 MiB = 65536 pages: 65536 / 1024 = 64; 64 × 4 KiB = 256 KiB ≤ 512 KiB; 64 / 4 = 16;
    // rounddown_pow_of_two(16 + 8 = 24) - 1 = 15; high = 6 × 15 = 90.
    const small = mmFixture({ memBytes: 256 << 20 }).mm.pcp;
    expect([small.batch, small.high]).toEqual([15, 90]);
    // 1 GiB = 262144 pages: 262144 / 1024 = 256; 256 × 4 KiB = 1 MiB > 512 KiB → 128; 128 / 4 = 32;
    // rounddown_pow_of_two(32 + 16 = 48) - 1 = 31; high = 6 × 31 = 186.
    const big = mmFixture({ memBytes: 1 << 30 }).mm.pcp;
    expect([big.batch, big.high]).toEqual([31, 186]);
    // 16 MiB = 4096 pages: 4 / 4 = 1; rounddown_pow_of_two(1) - 1 = 0: batch max(1, 0), high 0.
    const tiny = mmFixture({ memBytes: 16 << 20 }).mm.pcp;
    expect([tiny.batch, tiny.high]).toEqual([1, 0]);
  });

  it("follow vm.percpu_pagelist_fraction when set (setup_pagelist_highmark)", () => {
    // 8 MiB = 2048 pages / 8 = high 256, batch 256 / 4 = 64; 1 GiB / 8: high 32768, batch capped at 96.
    const a = mmFixture({ memBytes: 8 << 20, percpuPagelistFraction: 8 }).mm.pcp;
    expect([a.batch, a.high]).toEqual([64, 256]);
    const b = mmFixture({ memBytes: 1 << 30, percpuPagelistFraction: 8 }).mm.pcp;
    expect([b.batch, b.high]).toEqual([96, 32768]);
    expect(() => mmFixture({ memBytes: 8 << 20, percpuPagelistFraction: 4 })).toThrow(
      /percpuPagelistFraction must be 0 or an integer ≥ 8, got 4/,
    );
  });
});

describe("allocflags_to_migratetype", () => {
  it("maps the model's callers: page cache and anon movable, atomic and kernel pages unmovable", () => {
    expect(allocflagsToMigratetype(GFP_HIGHUSER_MOVABLE)).toBe(MIGRATE_MOVABLE);
    expect(allocflagsToMigratetype(GFP_ATOMIC)).toBe(MIGRATE_UNMOVABLE);
    expect(allocflagsToMigratetype(GFP_KERNEL)).toBe(MIGRATE_UNMOVABLE);
    expect(allocflagsToMigratetype(GFP_KERNEL | __GFP_RECLAIMABLE)).toBe(MIGRATE_RECLAIMABLE);
  });
});

describe("per-cpu page lists in the allocator", () => {
  it("park a freed page on the pcp list, where the watermark check does not count it", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    const ev = sim.register("test.irq", () => {
      k.hardirq(0, () => {
        const held = allocUntilFail(mm);
        const free = mm.nrFree;
        const pcp = mm.pcp.total;
        mm.freePage(held.pop()!);
        expect(mm.nrFree).toBe(free);
        expect(mm.pcp.total).toBe(pcp + 1);
        expect(mm.vmstat().nr_free_pages).toBe(free);
        // The page is free, on this CPU's unmovable list, yet the allocation fails its check.
        expect(mm.allocPageAtomic(ATOMIC, OWNER_SKB)).toBe(-1);
      });
    });
    sim.at(ms(1), ev);
    sim.run(ms(2));
    mm.checkInvariant();
  });

  it("return the batch of coldest pages to buddy when a free brings the count to high", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    const { batch, high } = mm.pcp;
    const ev = sim.register("test.irq", () => {
      k.hardirq(0, () => {
        const held: number[] = [];
        for (let i = 0; i < high; i++) held.push(mm.allocPageAtomic(ATOMIC, OWNER_SKB));
        mm.drainAllPages();
        const free = mm.nrFree;
        const bulk = mm.vmstat().pcp_free_bulk_pages!;
        for (let i = 0; i < high - 1; i++) mm.freePage(held[i]!);
        expect(mm.nrFree).toBe(free);
        expect(mm.pcp.count[0]).toBe(high - 1);
        mm.freePage(held[high - 1]!);
        expect(mm.nrFree).toBe(free + batch);
        expect(mm.pcp.count[0]).toBe(high - batch);
        expect(mm.vmstat().pcp_free_bulk_pages).toBe(bulk + batch);
        // Hot frees go to the head: the tail, freed first, is what went back.
        for (let i = 0; i < high; i++) expect(mm.ownerOf(held[i]!)).toBe(i < batch ? OWNER_FREE : OWNER_PCP);
      });
    });
    sim.at(ms(1), ev);
    sim.run(ms(2));
    mm.checkInvariant();
  });

  it("serve an allocation from the head of its CPU's list, refilled by a batch from buddy", () => {
    const { sim, k, mm } = mmFixture(OPTS, { vcpus: 2 });
    const ev = sim.register("test.irq", () => {
      k.hardirq(1, () => {
        const free = mm.nrFree;
        const p = mm.allocPageAtomic(ATOMIC, OWNER_SKB);
        // rmqueue_bulk took a batch for cpu 1's unmovable list; one page of it left.
        expect(mm.nrFree).toBe(free - mm.pcp.batch);
        expect(mm.pcp.count[1]).toBe(mm.pcp.batch - 1);
        expect(mm.pcp.count[0]).toBe(0);
        // A hot free goes to the head, where the next hot allocation takes it.
        mm.freePage(p);
        expect(mm.allocPageAtomic(ATOMIC, OWNER_SKB)).toBe(p);
        // A cold allocation takes the tail instead.
        mm.freePage(p);
        const free2 = mm.nrFree;
        expect(mm.allocPageAtomic(ATOMIC | __GFP_COLD, OWNER_SKB)).not.toBe(p);
        expect(mm.nrFree).toBe(free2);
        // A movable request does not take from the unmovable list: it refills its own.
        const q = mm.allocPageAtomic(ATOMIC | __GFP_MOVABLE, OWNER_SKB);
        expect(q).not.toBe(p);
        expect(mm.nrFree).toBe(free2 - mm.pcp.batch);
        expect(mm.pcp.count[1]).toBe(2 * mm.pcp.batch - 2);
      });
    });
    sim.at(ms(1), ev);
    sim.run(ms(2));
    expect(mm.vmstat().pcp_rmqueue_bulk_pages).toBe(2 * mm.pcp.batch);
    mm.checkInvariant();
  });

  it("are not drained by an atomic allocation that fails its watermark check", () => {
    const { sim, k, mm } = mmFixture(OPTS, { vcpus: 2 });
    let held: number[] = [];
    const alloc = sim.register("test.alloc", () => k.hardirq(0, () => (held = allocUntilFail(mm))));
    const free = sim.register("test.free", () => {
      k.hardirq(1, () => {
        for (let i = 0; i < 150; i++) mm.freePage(held.pop()!);
      });
    });
    const results: number[] = [];
    const retry = sim.register("test.retry", (cpu) => {
      k.hardirq(cpu, () => results.push(mm.allocPageAtomic(ATOMIC, OWNER_SKB)));
    });
    sim.run(sec(1));
    sim.at(sec(1) + ms(1), alloc);
    sim.at(sec(1) + ms(2), free);
    sim.at(sec(1) + ms(3), retry, 0);
    // Even on cpu 1, whose unmovable list holds the 150 pages: the check comes first.
    sim.at(sec(1) + ms(4), retry, 1);
    sim.run(sec(1) + ms(5));
    expect(results).toEqual([-1, -1]);
    expect(mm.pcp.count[1]).toBe(150);
    expect(mm.vmstat().pcp_drain_all_pages).toBe(0);
    mm.checkInvariant();
  });

  it("are drained by direct reclaim (drain_all_pages) when the retry after reclaim fails, and the retry succeeds", () => {
    // A free console: the 25 ms warn_alloc_failed of each failure would outlast the test's window.
    const { sim, k, mm } = mmFixture({ ...OPTS, costs: { allocFailWarning: 0 } }, { vcpus: 2 });
    mm.prefillPageCache(20000, "clean");
    sim.run(sec(1)); // kswapd asleep; the test's gfps do not wake it
    let held: number[] = [];
    const alloc = sim.register("test.alloc", () => k.hardirq(0, () => (held = allocUntilFail(mm))));
    const free = sim.register("test.free", () => {
      k.hardirq(1, () => {
        for (let i = 0; i < 150; i++) mm.freePage(held.pop()!);
      });
    });
    sim.at(sec(1) + ms(1), alloc);
    sim.at(sec(1) + ms(2), free);
    sim.run(sec(1) + ms(3));
    const buddy = mm.nrFree;
    const parked = mm.pcp.total;
    const cpu0 = mm.pcp.count[0]!;
    expect(buddy - 2).toBeLessThanOrEqual(mm.wmark.min);
    const r = runInThread(k, "kalloc", () => mm.allocPage(GFP_KERNEL | __GFP_NO_KSWAPD, OWNER_DRIVER_LIST));
    sim.run(sec(1) + ms(50));
    expect(r.done).toBe(true);
    expect(r.value).toBeGreaterThanOrEqual(0);
    const v = mm.vmstat();
    const reclaimed = v.pgsteal_direct!;
    // The scenario meant: reclaim's pages (cold, onto cpu 0's movable list) stayed on the lists
    // and buddy alone stayed below WMARK_MIN; with the lists it is above.
    expect(cpu0 + reclaimed).toBeLessThan(mm.pcp.high);
    expect(buddy + parked + reclaimed - 2).toBeGreaterThan(mm.wmark.min);
    expect(v.allocstall).toBe(1);
    expect(v.pcp_drain_all_pages).toBe(1);
    // Everything parked went to buddy, then the allocation refilled cpu 0's unmovable list.
    expect(mm.pcp.count[1]).toBe(0);
    expect(mm.pcp.count[0]).toBe(mm.pcp.batch - 1);
    expect(mm.nrFree).toBe(buddy + parked + reclaimed - mm.pcp.batch);
    mm.checkInvariant();
  });

  it("are covered by the invariant: a count out of step with the lists is reported", () => {
    const { mm } = mmFixture(OPTS);
    mm.freePage(mm.allocPageAtomic(ATOMIC, OWNER_SKB));
    mm.checkInvariant();
    mm.pcp.count[0]!++;
    expect(() => mm.checkInvariant()).toThrow(/pcp cpu 0: count 32 but 31 pages on its lists/);
  });
});

type Op =
  | { op: "alloc"; cpu: number; mt: number; cold: boolean }
  | { op: "free"; cpu: number; pick: number; cold: boolean }
  | { op: "drain"; cpu: number }
  | { op: "drainAll" };

const GFP_OF_MT = [GFP_ATOMIC, GFP_ATOMIC | __GFP_RECLAIMABLE, GFP_HIGHUSER_MOVABLE];

/**
 * The reference: list lengths only. free_pcppages_bulk's round-robin restated on counts: start
 * after UNMOVABLE, skip empty lists (each skip lets the next list give one more), the last
 * non-empty list gives all that is left.
 */
class RefLists {
  readonly len: number[][];
  buddy: number;
  constructor(
    ncpus: number,
    buddy: number,
    readonly batch: number,
    readonly high: number,
  ) {
    this.len = Array.from({ length: ncpus }, () => new Array<number>(MIGRATE_PCPTYPES).fill(0));
    this.buddy = buddy;
  }
  count(cpu: number): number {
    return this.len[cpu]!.reduce((a, b) => a + b, 0);
  }
  alloc(cpu: number, mt: number): boolean {
    const l = this.len[cpu]!;
    if (l[mt] === 0) {
      const n = Math.min(this.batch, this.buddy);
      l[mt] = n;
      this.buddy -= n;
      if (n === 0) return false;
    }
    l[mt]!--;
    return true;
  }
  free(cpu: number, mt: number): void {
    this.len[cpu]![mt]!++;
    if (this.count(cpu) >= this.high) this.bulk(cpu, this.batch);
  }
  bulk(cpu: number, count: number): void {
    const l = this.len[cpu]!;
    let mt = 0;
    let credit = 0;
    let left = count;
    while (left > 0) {
      do {
        credit++;
        mt = (mt + 1) % MIGRATE_PCPTYPES;
      } while (l[mt] === 0);
      if (credit === MIGRATE_PCPTYPES) credit = left;
      const n = Math.min(left, credit, l[mt]!);
      l[mt]! -= n;
      left -= n;
      credit -= n;
      this.buddy += n;
    }
  }
}

describe("PerCpuPages against a reference of list lengths", () => {
  it("agree after every step of random allocations, frees and drains on several CPUs", () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          op: fc.constant("alloc" as const),
          cpu: fc.integer({ min: 0, max: 2 }),
          mt: fc.integer({ min: 0, max: MIGRATE_PCPTYPES - 1 }),
          cold: fc.boolean(),
        }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          op: fc.constant("free" as const),
          cpu: fc.integer({ min: 0, max: 2 }),
          pick: fc.nat(),
          cold: fc.boolean(),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ op: fc.constant("drain" as const), cpu: fc.integer({ min: 0, max: 2 }) }),
      },
      { weight: 1, arbitrary: fc.constant({ op: "drainAll" as const }) },
    );
    fc.assert(
      fc.property(
        // size "max": fast-check's default size would keep the arrays at about ten steps.
        fc.array(op, { minLength: 1, maxLength: 300, size: "max" }),
        fc.integer({ min: 8, max: 40 }),
        (ops, frac) => {
          // 300 pages: pcp high 300 / frac (7..37), batch high / 4 (at least 1).
          const pt = new PageTable(300, 10);
          const pcp = new PerCpuPages(pt, 3, frac);
          const ref = new RefLists(3, pt.freeTop, pcp.batch, pcp.high);
          const held: { pfn: number; mt: number }[] = [];
          for (const o of ops) {
            switch (o.op) {
              case "alloc": {
                const gfp = GFP_OF_MT[o.mt]! | (o.cold ? __GFP_COLD : 0);
                const pfn = pcp.rmqueue(o.cpu, gfp, OWNER_SKB);
                expect(pfn >= 0).toBe(ref.alloc(o.cpu, o.mt));
                if (pfn >= 0) held.push({ pfn, mt: o.mt });
                break;
              }
              case "free":
                if (held.length > 0) {
                  const i = o.pick % held.length;
                  const h = held[i]!;
                  held[i] = held[held.length - 1]!;
                  held.pop();
                  pcp.free(o.cpu, h.pfn, OWNER_SKB, o.cold);
                  ref.free(o.cpu, h.mt);
                }
                break;
              case "drain":
                pcp.drain(o.cpu);
                ref.bulk(o.cpu, ref.count(o.cpu));
                break;
              case "drainAll":
                pcp.drainAll();
                for (let c = 0; c < 3; c++) ref.bulk(c, ref.count(c));
                break;
            }
            for (let c = 0; c < 3; c++)
              for (let mt = 0; mt < MIGRATE_PCPTYPES; mt++)
                expect(pcp.size[c * MIGRATE_PCPTYPES + mt]).toBe(ref.len[c]![mt]);
            expect(pt.freeTop).toBe(ref.buddy);
            pt.check();
            pcp.check();
          }
        },
      ),
      { numRuns: 100, seed: 20120104 },
    );
  });

  it("rejects a page freed from the wrong owner", () => {
    const pt = new PageTable(100, 0);
    const pcp = new PerCpuPages(pt, 1, 8);
    const p = pcp.rmqueue(0, GFP_ATOMIC, OWNER_SKB);
    expect(() => pcp.free(0, p, OWNER_DRIVER_LIST, false)).toThrow(ModelError);
  });
});
