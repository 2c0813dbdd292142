import { describe, expect, it } from "vitest";
import { ms } from "../../../../sim/time.ts";
import { SLAB_KMALLOC_32, SLAB_KMALLOC_512 } from "../../mm-port.ts";
import type { RxMode } from "../constants.ts";
import { type PageRecycle, COPY_SKB_CACHE_SIZE } from "./page_recycle.ts";
import { invariantRun, policyHarness } from "./policy-testing.ts";

const MODES: RxMode[] = ["small", "big", "mergeable"];

/**
 * Allocations of receive-buffer memory (pages, sk_buff heads, data areas; not the indirect tables
 * virtqueue_add_buf allocates per post) and packets received between 200 and 400 ms of steady
 * traffic.
 */
function steadyAllocations(driver: string, mode: RxMode) {
  const h = policyHarness(driver, mode);
  const mm = h.driver.env.mm;
  const { allocPage, slabAlloc, slabAllocAtomic } = mm;
  let allocs = 0;
  const buffer = (cache: number) => cache !== SLAB_KMALLOC_32 && cache !== SLAB_KMALLOC_512;
  mm.allocPage = (gfp, owner) => {
    allocs++;
    return allocPage.call(mm, gfp, owner);
  };
  mm.slabAlloc = (cache, gfp) => {
    if (buffer(cache)) allocs++;
    return slabAlloc.call(mm, cache, gfp);
  };
  mm.slabAllocAtomic = (cache, gfp) => {
    if (buffer(cache)) allocs++;
    return slabAllocAtomic.call(mm, cache, gfp);
  };
  h.runTo(ms(200));
  const before = { allocs, rx: h.driver.stats.rxPackets };
  h.runTo(ms(400));
  return { allocs: allocs - before.allocs, rx: h.driver.stats.rxPackets - before.rx };
}

describe("page-recycle", () => {
  it.each(MODES)("allocates nothing for receive buffers in steady state (%s)", (mode) => {
    const recycled = steadyAllocations("page-recycle", mode);
    expect(recycled.rx).toBeGreaterThan(1000);
    expect(recycled.allocs).toBe(0);
    // Its base, mainline on 3.2's buffers, allocates one buffer (and, with pages, one copy skb) per packet.
    const mainline = steadyAllocations("mainline-3.2buf", mode);
    expect(mainline.rx).toBe(recycled.rx);
    expect(mainline.allocs).toBeGreaterThanOrEqual(mainline.rx);
  });

  it.each([
    { mode: "small", cap: 256 },
    { mode: "mergeable", cap: COPY_SKB_CACHE_SIZE },
  ] as const)("keeps at most a ring's worth of what the stack frees ($mode)", ({ mode, cap }) => {
    const h = policyHarness("page-recycle", mode);
    const d = h.driver as PageRecycle;
    let most = { skbs: 0, pages: 0 };
    h.sim.afterEvent = () => {
      most = { skbs: Math.max(most.skbs, d.keptSkbs), pages: Math.max(most.pages, d.pagesCount) };
    };
    h.runTo(ms(100));
    // Freed skbs pile up while memory is squeezed, then are all freed at once.
    h.squeeze(2048);
    h.runTo(ms(300));
    const live = h.sys.skbs.live;
    h.releaseHeld();
    expect(d.keptCap).toBe(cap);
    expect(d.keptSkbs).toBe(cap);
    expect(h.sys.skbs.live).toBeLessThan(live);
    h.runTo(ms(400));
    expect(most.skbs).toBe(cap);
    expect(most.pages).toBeLessThanOrEqual(d.pageCap);
    if (mode === "mergeable") expect(d.pagesRecycled).toBeGreaterThan(d.pageCap);
  });

  it.each(MODES)("keeps the page invariant (%s)", (mode) => {
    const d = invariantRun("page-recycle", mode).driver as PageRecycle;
    expect(d.skbsRecycled).toBeGreaterThan(0);
    if (mode !== "small") expect(d.pagesRecycled).toBeGreaterThan(0);
  });
});
