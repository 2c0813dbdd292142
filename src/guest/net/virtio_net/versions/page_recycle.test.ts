import { describe, expect, it } from "vitest";
import { GFP_ATOMIC } from "../../../mm/gfp.ts";
import { OWNER_PCP, OWNER_SKB } from "../../../mm/page-table.ts";
import { ms } from "../../../../sim/time.ts";
import { ALLOC_SITE_RX_PAGE } from "../../mm-port.ts";
import type { RxMode } from "../constants.ts";
import { PP_ALLOC_CACHE_SIZE, type PageRecycle } from "./page_recycle.ts";
import { invariantRun, policyHarness } from "./policy-testing.ts";

/** Pages allocated from the page allocator and packets received between 200 and 400 ms. */
function steadyPageAllocations(driver: string, mode: RxMode) {
  const h = policyHarness(driver, mode);
  const mm = h.driver.env.mm;
  const { allocPage, allocPageAtomic } = mm;
  let allocs = 0;
  mm.allocPage = (gfp, owner) => {
    allocs++;
    return allocPage.call(mm, gfp, owner);
  };
  mm.allocPageAtomic = (gfp, owner) => {
    allocs++;
    return allocPageAtomic.call(mm, gfp, owner);
  };
  h.runTo(ms(200));
  const before = { allocs, rx: h.driver.stats.rxPackets };
  h.runTo(ms(400));
  return { h, allocs: allocs - before.allocs, rx: h.driver.stats.rxPackets - before.rx };
}

describe("page-recycle (page_pool)", () => {
  it.each(["big", "mergeable"] as const)("allocates no receive pages in steady state (%s)", (mode) => {
    const pooled = steadyPageAllocations("page-recycle", mode);
    expect(pooled.rx).toBeGreaterThan(1000);
    expect(pooled.allocs).toBe(0);
    // Its base, mainline on 3.2's buffers, allocates a page per packet (give or take the buffers
    // the ring holds at either end of the window).
    const mainline = steadyPageAllocations("mainline-3.2buf", mode);
    expect(mainline.rx).toBe(pooled.rx);
    expect(mainline.allocs).toBeGreaterThan(0.9 * mainline.rx);
  });

  it("is mainline in small mode: kmalloc'ed buffers have no pages to pool", () => {
    const pooled = steadyPageAllocations("page-recycle", "small");
    const mainline = steadyPageAllocations("mainline-3.2buf", "small");
    expect(pooled.rx).toBe(mainline.rx);
    expect(pooled.h.sys.sim.events).toBe(mainline.h.sys.sim.events);
    expect((pooled.h.driver as PageRecycle).pooledPages).toBe(0);
  });

  it("recycles directly into the alloc cache only from its NAPI poll, through the ring otherwise", () => {
    // The reader frees in process context (recvmsg): the ring.
    const reader = policyHarness("page-recycle", "mergeable");
    reader.runTo(ms(200));
    const viaRing = (reader.driver as PageRecycle).ppStats;
    expect(viaRing.ring).toBeGreaterThan(1000);
    expect(viaRing.cached).toBe(0);
    // The same frees, made from inside the poll (as the stack's softirq frees): the cache.
    const h = policyHarness("page-recycle", "mergeable");
    const env = h.driver.env;
    const skbs = h.sys.skbs;
    const kfree = skbs.kfree;
    const deferred: number[] = [];
    skbs.kfree = (skb) => {
      deferred.push(skb);
    };
    const receive = env.netifReceiveSkb;
    env.netifReceiveSkb = (skb) => {
      for (const s of deferred.splice(0)) kfree(s);
      receive(skb);
    };
    h.runTo(ms(200));
    const direct = (h.driver as PageRecycle).ppStats;
    expect(direct.cached).toBeGreaterThan(1000);
    expect(direct.cached).toBeGreaterThan(10 * direct.ring);
  });

  it("takes back only pages it owns", () => {
    const h = policyHarness("page-recycle", "mergeable");
    h.runTo(ms(100));
    const d = h.driver as PageRecycle;
    const mm = h.mm;
    mm.allocSite = ALLOC_SITE_RX_PAGE;
    const page = mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
    const skb = h.sys.skbs.allocAtomic(600, GFP_ATOMIC, ALLOC_SITE_RX_PAGE);
    h.sys.skbs.addFrag(skb, page);
    const ring = d.ppStats.ring;
    h.sys.skbs.kfree(skb);
    // Freed: onto the per-cpu free list.
    expect(mm.ownerOf(page)).toBe(OWNER_PCP);
    expect(d.ppStats.ring).toBe(ring);
  });

  it("holds at most its cache and ring; pages past a full ring go back to the allocator", () => {
    const h = policyHarness("page-recycle", "mergeable");
    const d = h.driver as PageRecycle;
    let most = 0;
    h.sim.afterEvent = () => {
      most = Math.max(most, d.pooledPages);
    };
    h.runTo(ms(100));
    // Freed skbs pile up while memory is squeezed, then are all freed at once (process context).
    h.squeeze(2048);
    h.runTo(ms(300));
    h.releaseHeld();
    most = Math.max(most, d.pooledPages);
    expect(d.ppStats.ringFull).toBeGreaterThan(0);
    expect(d.pooledPages).toBe(d.poolSize);
    h.runTo(ms(400));
    expect(most).toBeLessThanOrEqual(PP_ALLOC_CACHE_SIZE + d.poolSize);
    expect(d.heldBytes()).toBe((d.pooledPages + d.pagesCount) * 4096);
  });

  it.each(["small", "big", "mergeable"] as const)("keeps the page invariant (%s)", (mode) => {
    const d = invariantRun("page-recycle", mode, (x) => (x as PageRecycle).pooledPages).driver as PageRecycle;
    if (mode !== "small") expect(d.ppStats.ring + d.ppStats.cached).toBeGreaterThan(0);
  });
});
