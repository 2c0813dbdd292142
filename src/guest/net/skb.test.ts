/** skb_clone's two ways (the fclone companion, a new skbuff_head_cache object) and shared data. */
import { describe, expect, it } from "vitest";
import { MmAdapter } from "../../run/system.ts";
import { mmFixture, runInThread } from "../mm/fixture.ts";
import { GFP_ATOMIC, GFP_KERNEL } from "../mm/gfp.ts";
import { OWNER_SKB } from "../mm/page-table.ts";
import { ReturnedCode } from "../sched/kernel.ts";
import {
  ALLOC_SITE_SMALL_SKB_HEAD,
  ALLOC_SITE_TCP_SENDMSG,
  SLAB_KMALLOC_512,
  SLAB_KMALLOC_1024,
  SLAB_KMALLOC_2048,
  SLAB_KMALLOC_4096,
} from "./mm-port.ts";
import { NO_SKB, SkbPool } from "./skb.ts";

/** A 1448-byte segment's skb from sk_stream_alloc_skb (size + MAX_TCP_HEADER → kmalloc-4096). */
const SEG = 1448 + 304;

function pool() {
  const f = mmFixture({ memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 });
  const skbs = new SkbPool(new MmAdapter(f.mm), new Int32Array(f.mm.nPages).fill(-1));
  const heads = f.mm.skbuffHeadCache;
  const data = f.mm.kmallocCache(4096);
  const allocFclone = () => {
    const r = runInThread(f.k, "sendmsg", () => skbs.allocFclone(SEG, GFP_KERNEL, ALLOC_SITE_TCP_SENDMSG));
    f.sim.run(1_000_000);
    return r.value!;
  };
  return { ...f, skbs, heads, data, allocFclone };
}

describe("skb_clone", () => {
  it("takes an fclone's companion without allocating, and a second clone from skbuff_head_cache", () => {
    const t = pool();
    const orig = t.allocFclone();
    expect(orig).toBeGreaterThanOrEqual(0);
    expect(t.heads.inuse).toBe(1);
    const c1 = t.skbs.clone(orig, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG);
    expect(t.heads.inuse).toBe(1);
    const c2 = t.skbs.clone(orig, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG);
    expect(t.heads.inuse).toBe(2);
    t.skbs.kfree(c1);
    // The companion is free again: the next clone allocates nothing.
    const c3 = t.skbs.clone(orig, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG);
    expect(t.heads.inuse).toBe(2);
    t.skbs.kfree(c2);
    t.skbs.kfree(c3);
    t.skbs.kfree(orig);
    expect(t.heads.inuse).toBe(0);
    expect(t.data.inuse).toBe(0);
    expect(t.skbs.live).toBe(0);
  });

  it("fails when the companion is busy and GFP_ATOMIC finds no memory", () => {
    const t = pool();
    const orig = t.allocFclone();
    const c1 = t.skbs.clone(orig, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG);
    // Fill the head cache's slabs and take every page GFP_ATOMIC may have.
    t.k.hardirq(0, () => {
      while (t.mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) >= 0);
    });
    let failed = false;
    for (let i = 0; i < 100_000 && !failed; i++)
      failed = t.skbs.clone(orig, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG) === NO_SKB;
    expect(failed).toBe(true);
    // The companion still serves once it is free.
    t.skbs.kfree(c1);
    expect(t.skbs.clone(orig, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG)).toBeGreaterThanOrEqual(0);
  });

  it("keeps the data of an skb freed while a clone is on the ring, until the clone is freed", () => {
    const t = pool();
    const orig = t.allocFclone();
    const c = t.skbs.clone(orig, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG);
    t.skbs.kfree(orig);
    expect(t.data.inuse).toBe(1);
    expect(t.heads.inuse).toBe(1);
    expect(t.skbs.live).toBe(2);
    t.skbs.kfree(c);
    expect(t.data.inuse).toBe(0);
    expect(t.heads.inuse).toBe(0);
    expect(t.skbs.live).toBe(0);
  });
});

describe("alloc_skb", () => {
  it("takes the data area from the kmalloc cache of SKB_DATA_ALIGN(size) + shinfo, and charges that object's truesize", () => {
    // size → (kmalloc cache, truesize = object + SKB_HEAD_ALIGNED): 128 + 384 = 512 (tcp_collapse's
    // skb for the last 10 bytes of a queue, 118 bytes of headroom without timestamps); one byte more
    // aligns to 192 + 384 (kmalloc-1024); 640 + 384 = 1024; 641 aligns to 704 + 384 (kmalloc-2048);
    // 1664 + 384 = 2048; 1665 aligns to 1728 + 384 (kmalloc-4096).
    const cases = [
      [1, SLAB_KMALLOC_512, 512 + 256],
      [128, SLAB_KMALLOC_512, 512 + 256],
      [129, SLAB_KMALLOC_1024, 1024 + 256],
      [640, SLAB_KMALLOC_1024, 1024 + 256],
      [641, SLAB_KMALLOC_2048, 2048 + 256],
      [1664, SLAB_KMALLOC_2048, 2048 + 256],
      [1665, SLAB_KMALLOC_4096, 4096 + 256],
    ] as const;
    for (const sleeping of [false, true]) {
      const t = pool();
      for (const [size, cache, truesize] of cases) {
        let skb: number;
        if (sleeping) {
          const r = runInThread(t.k, "alloc", () => t.skbs.alloc(size, GFP_KERNEL, ALLOC_SITE_TCP_SENDMSG));
          t.sim.run(t.k.now + 1_000_000);
          skb = r.value!;
        } else skb = t.skbs.allocAtomic(size, GFP_ATOMIC, ALLOC_SITE_SMALL_SKB_HEAD);
        expect(skb).toBeGreaterThanOrEqual(0);
        expect(t.skbs.dataCache[skb]).toBe(cache);
        expect(t.skbs.truesize[skb]).toBe(truesize);
        t.skbs.kfree(skb);
      }
      expect(t.skbs.live).toBe(0);
      t.mm.checkInvariant();
    }
  });
});

describe("alloc_skb_fclone that may sleep", () => {
  /**
   * allocFclone in a thread once the free pages are below WMARK_LOW (clean page cache left to
   * reclaim): whether it came back without a generator, the skb, and whether its clone took the
   * fclone companion (no skbuff_head_cache object).
   */
  function underPressure(prepare: (t: ReturnType<typeof pool>) => void) {
    const t = pool();
    t.mm.prefillPageCache(4000, "clean");
    const first = t.allocFclone();
    prepare(t);
    t.k.hardirq(0, () => {
      while (t.mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) >= 0);
    });
    let returned = false;
    const r = runInThread(t.k, "sendmsg", () => {
      const code = t.skbs.allocFclone(SEG, GFP_KERNEL, ALLOC_SITE_TCP_SENDMSG);
      returned = code instanceof ReturnedCode;
      return code;
    });
    t.sim.run(t.k.now + 1_000_000_000);
    const skb = r.value!;
    const heads = t.heads.inuse;
    const c = skb >= 0 ? t.skbs.clone(skb, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG) : NO_SKB;
    return {
      returned,
      first,
      skb,
      companion: c >= 0 && t.heads.inuse === heads,
      stalls: t.mm.vmstat().allocstall,
    };
  }

  it("returns without a generator while neither allocation needs the slow path", () => {
    // The head cache has free objects and the data cache a freed one: no page is needed.
    const r = underPressure((t) => t.skbs.kfree(t.allocFclone()));
    expect(r.first).toBeGreaterThanOrEqual(0);
    expect(r).toMatchObject({ returned: true, companion: true, stalls: 0 });
    expect(r.skb).toBeGreaterThanOrEqual(0);
  });

  it("continues in a generator when the head's slab page, or the data's alone, needs the slow path", () => {
    const head = underPressure((t) => {
      while (t.heads.alloc() >= 0);
    });
    const data = underPressure(() => {});
    for (const r of [head, data]) {
      expect(r).toMatchObject({ returned: false, companion: true });
      expect(r.skb).toBeGreaterThanOrEqual(0);
    }
  });
});
