import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ModelError } from "../../sim/simulator.ts";
import { ms, sec } from "../../sim/time.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import { GFP_ATOMIC, GFP_KERNEL } from "./gfp.ts";
import { OWNER_SKB, OWNER_SLAB } from "./page-table.ts";
import { KmemCache, slubMinPartial } from "./slab.ts";

const OPTS = { memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 };

describe("kmem caches", () => {
  it("size classes: objects per order-0 slab and min_partial", () => {
    const { mm } = mmFixture(OPTS);
    expect(mm.kmallocCache(2 * 16).name).toBe("kmalloc-32");
    expect(mm.kmallocCache(20 * 16).name).toBe("kmalloc-512");
    expect(mm.kmallocCache(576).name).toBe("kmalloc-1024");
    expect(mm.kmallocCache(1984).name).toBe("kmalloc-2048");
    expect(mm.kmallocCache(65).name).toBe("kmalloc-96");
    expect(() => mm.kmallocCache(4097)).toThrow(ModelError);
    expect(mm.kmallocCache(2048).objsPerSlab).toBe(2);
    expect(mm.skbuffHeadCache.objsPerSlab).toBe(16);
    expect(mm.kmallocCache(32).objsPerSlab).toBe(128);
    expect([slubMinPartial(32), slubMinPartial(256), slubMinPartial(512), slubMinPartial(2048)]).toEqual([
      5, 8, 9, 10,
    ]);
  });

  it("takes a page per slab from the allocator and returns empty slabs beyond min_partial", () => {
    const { mm } = mmFixture(OPTS);
    const c = mm.kmallocCache(2048);
    const objs: number[] = [];
    for (let i = 0; i < 41; i++) objs.push(mm.kmemCacheAllocAtomic(c, GFP_ATOMIC));
    expect(new Set(objs).size).toBe(41);
    expect(c.nrSlabs).toBe(21);
    expect(mm.ownerCount(OWNER_SLAB)).toBe(21);
    mm.checkInvariant();
    for (const o of objs) mm.kmemCacheFree(c, o);
    expect(c.inuse).toBe(0);
    expect(c.nrSlabs).toBe(c.minPartial);
    expect(mm.ownerCount(OWNER_SLAB)).toBe(c.minPartial);
    expect(mm.slabinfo().find((r) => r.name === "kmalloc-2048")).toEqual({
      name: "kmalloc-2048",
      activeObjs: 0,
      numObjs: 20,
      objSize: 2048,
      objPerSlab: 2,
      numSlabs: 10,
    });
    expect(() => mm.kmemCacheFree(c, objs[0]!)).toThrow(/not allocated/);
    mm.checkInvariant();
  });

  it("fails an atomic allocation that needs a new slab below the atomic floor, not one a slab can serve", () => {
    const { mm } = mmFixture(OPTS);
    const c = mm.skbuffHeadCache;
    const first = mm.kmemCacheAllocAtomic(c, GFP_ATOMIC);
    while (mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) >= 0);
    for (let i = 1; i < c.objsPerSlab; i++)
      expect(mm.kmemCacheAllocAtomic(c, GFP_ATOMIC)).toBeGreaterThanOrEqual(0);
    expect(mm.kmemCacheAllocAtomic(c, GFP_ATOMIC)).toBe(-1);
    expect(c.allocFailures).toBe(1);
    mm.kmemCacheFree(c, first);
    expect(mm.kmemCacheAllocAtomic(c, GFP_ATOMIC)).toBe(first);
    expect(() => mm.kmemCacheAllocAtomic(c, GFP_KERNEL)).toThrow(ModelError);
    mm.checkInvariant();
  });

  it("a sleeping cache allocation reclaims for its slab page", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    mm.prefillPageCache(4000, "clean");
    sim.run(ms(1));
    const c = mm.kmallocCache(2048);
    const r = runInThread(k, "refill", function* () {
      while (mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) >= 0);
      return yield* mm.kmemCacheAlloc(c, GFP_KERNEL);
    });
    sim.run(sec(1));
    expect(r.value).toBeGreaterThanOrEqual(0);
    expect(mm.vmstat().pgsteal_direct).toBeGreaterThan(0);
    mm.checkInvariant();
  });

  it("rejects objects larger than a page", () => {
    expect(() => new KmemCache("too-big", 8192)).toThrow(ModelError);
  });
});

/**
 * The cache's policy written plainly on arrays: a LIFO freelist per slab, allocation from the first
 * partial slab, a full slab off the list, a slab freed into at the partial tail, an empty one given
 * back beyond min_partial, slab indices recycled LIFO.
 */
class RefCache {
  readonly free: number[][] = [];
  readonly pfn: number[] = [];
  partial: number[] = [];
  spare: number[] = [];
  live = new Set<number>();
  constructor(
    readonly perSlab: number,
    readonly minPartial: number,
  ) {}
  alloc(): number {
    const s = this.partial[0];
    if (s === undefined) return -1;
    const obj = this.free[s]!.pop()!;
    if (this.free[s]!.length === 0) this.partial.shift();
    this.live.add(obj);
    return obj;
  }
  addSlab(pfn: number): void {
    const s = this.spare.length > 0 ? this.spare.pop()! : this.free.length;
    this.pfn[s] = pfn;
    this.free[s] = [];
    for (let i = this.perSlab - 1; i >= 0; i--) this.free[s]!.push(s * this.perSlab + i);
    this.partial.unshift(s);
  }
  release(obj: number): number {
    const s = Math.floor(obj / this.perSlab);
    this.live.delete(obj);
    this.free[s]!.push(obj);
    if (!this.partial.includes(s)) this.partial.push(s);
    if (this.free[s]!.length === this.perSlab && this.partial.length > this.minPartial) {
      this.partial = this.partial.filter((x) => x !== s);
      this.spare.push(s);
      return this.pfn[s]!;
    }
    return -1;
  }
}

describe("KmemCache", () => {
  it("returns the objects, slabs and pages of the plain policy under random alloc/free, its check passing", () => {
    // Bursts of allocations or frees, so that more than min_partial slabs (up to ten) empty out.
    const op = fc.record({ alloc: fc.boolean(), n: fc.integer({ min: 1, max: 16 }), pick: fc.nat(1000) });
    fc.assert(
      fc.property(
        fc.constantFrom(256, 1024, 2048, 4096, 96),
        fc.array(op, { maxLength: 60 }),
        (size, ops) => {
          const c = new KmemCache(`kmalloc-${size}`, size);
          const ref = new RefCache(c.objsPerSlab, c.minPartial);
          const owner = new Uint8Array(4096).fill(OWNER_SLAB);
          let nextPfn = 0;
          for (const { alloc, n, pick } of ops) {
            for (let i = 0; i < n; i++) {
              if (alloc) {
                let obj = c.alloc();
                expect(obj).toBe(ref.alloc());
                if (obj < 0) {
                  obj = c.allocFromNewSlab(nextPfn);
                  ref.addSlab(nextPfn++);
                  expect(obj).toBe(ref.alloc());
                }
              } else if (ref.live.size > 0) {
                const obj = [...ref.live][(pick + i) % ref.live.size]!;
                expect(c.free(obj)).toBe(ref.release(obj));
                expect(() => c.free(obj)).toThrow(/not allocated/);
              }
              expect(c.inuse).toBe(ref.live.size);
              expect(c.nrPartial).toBe(ref.partial.length);
              c.check(owner);
            }
          }
          // At most 60 * 16 objects ever live, so slab 1024 is never carved (with one object per
          // slab, as kmalloc-4096 has, slab 64 can be).
          for (const bad of [-1, 0.5, c.objsPerSlab * 1024, Number.NaN])
            expect(() => c.free(bad)).toThrow(/not allocated/);
        },
      ),
    );
  });
});
