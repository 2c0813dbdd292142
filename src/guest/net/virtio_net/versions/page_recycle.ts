/**
 * `page-recycle` (ours, never in Linux's virtio_net): the receive pages of big and mergeable
 * buffers come from a page_pool (net/core/page_pool.c, include/net/page_pool.h), and the pages of
 * an skb the stack frees go back to that pool instead of the allocator, so a receive path in
 * steady state allocates no pages (and so cannot fail to).
 *
 * page_pool's rules, as 6.1 has them unless said otherwise:
 * - only pool-owned pages return (page->pp_magic, skb_mark_for_recycle); anything else an skb
 *   holds is freed as before;
 * - a page freed inside this device's NAPI poll goes to the pool's lockless alloc cache
 *   (page_pool_recycle_in_cache, PP_ALLOC_CACHE_SIZE); direct recycling from the skb free path is
 *   napi_pp_put_page's napi_safe case (net/core/skbuff.c, 6.5+; 6.1 sends every skb's page to the
 *   ring). From any other context (the reader's recvmsg) it goes to the pool's ptr_ring of
 *   pool_size entries (page_pool_recycle_in_ring); when the ring is full the page leaves the pool
 *   and returns to the allocator (recycle_stat ring_full, page_pool_return_page);
 * - page_pool_alloc_pages: the alloc cache, then up to PP_ALLOC_CACHE_REFILL pages moved from the
 *   ring (page_pool_refill_alloc_cache), then the page allocator with the caller's gfp. The slow
 *   path's alloc_pages_bulk (up to 64 pages at once) is modelled as one page per call.
 * get_a_page keeps serving vi->pages first, as the driver's partial big chains live there.
 *
 * Small mode has no pages to pool (its buffers are kmalloc'ed skbs here): it is mainline there.
 * Recycling whole skbs (skb_recycle_check, removed in 3.7) and the copy-skb cache of the earlier
 * version of this policy are gone: no kernel recycles them for a driver today.
 *
 * Memory held: the alloc cache and the ring, up to PP_ALLOC_CACHE_SIZE + pool_size pages besides
 * the posted buffers (1.5 MiB with a 256-entry mergeable ring), which no reclaim can take back:
 * page_pool has no shrinker, and releases its pages only when the ring overflows or the pool is
 * destroyed (page_pool_destroy at device removal).
 */
import type { KernelCode } from "../../../sched/kernel.ts";
import { BIG_PAGES, PAGE_SIZE } from "../constants.ts";
import type { VirtnetEnv, VirtnetOptions } from "../virtnet.ts";
import { Mainline } from "./mainline.ts";

/** PP_ALLOC_CACHE_SIZE (include/net/page_pool.h): the lockless alloc cache's entries. */
export const PP_ALLOC_CACHE_SIZE = 128;
/** PP_ALLOC_CACHE_REFILL (include/net/page_pool.h): pages moved from the ring per refill. */
export const PP_ALLOC_CACHE_REFILL = 64;

/** page_pool_stats (6.1, CONFIG_PAGE_POOL_STATS), under the kernel's names. */
export class PagePoolStats {
  /** alloc_stats: from the cache; from the allocator; cache refills from the ring; both empty. */
  fast = 0;
  slow = 0;
  refill = 0;
  empty = 0;
  /** recycle_stats: into the cache; cache full; into the ring; ring full (page released). */
  cached = 0;
  cacheFull = 0;
  ring = 0;
  ringFull = 0;
}

export class PageRecycle extends Mainline {
  override readonly version: string = "page-recycle";
  /** pool_size, the ptr_ring's entries: a ring's worth of pages (drivers size it to their rx ring). */
  readonly poolSize: number;
  readonly ppStats = new PagePoolStats();
  /** page->pp_magic: the page belongs to this pool. */
  private readonly ppPage: Uint8Array;
  /** pool->alloc.cache, a stack. */
  private readonly cache = new Int32Array(PP_ALLOC_CACHE_SIZE);
  private cacheCount = 0;
  /** pool->ring, a FIFO of poolSize entries. */
  private readonly ring: Int32Array;
  private ringHead = 0;
  private ringCount = 0;
  /** In this device's NAPI poll: frees may recycle directly. */
  private inNapi = false;
  /** The most pages the pool held at once. */
  pooledPagesMax = 0;

  constructor(env: VirtnetEnv, opts: VirtnetOptions) {
    super(env, opts);
    this.poolSize = env.vq.size * (opts.mode === "big" ? BIG_PAGES : 1);
    this.ring = new Int32Array(this.poolSize);
    this.ppPage = new Uint8Array(env.skbs.pageNext.length);
    if (opts.mode !== "small") env.skbs.recycler = (skb) => this.returnSkbPages(skb);
  }

  /** Pages the pool holds (alloc cache and ring). */
  get pooledPages(): number {
    return this.cacheCount + this.ringCount;
  }

  override heldBytes(): number {
    return super.heldBytes() + this.pooledPages * PAGE_SIZE;
  }

  override policyCounters(): Record<string, number> {
    return { ...this.ppStats, pooledPagesMax: this.pooledPagesMax };
  }

  override virtnetPoll(budget: number): number {
    this.inNapi = true;
    const n = super.virtnetPoll(budget);
    this.inNapi = false;
    return n;
  }

  /** get_a_page: vi->pages, then page_pool_alloc_pages. */
  protected override *getAPage(gfp: number): KernelCode<number> {
    const p = this.cachedPage();
    return p >= 0 ? p : this.slowPage(yield* super.getAPage(gfp));
  }

  protected override getAPageNoWait(gfp: number): number {
    const p = this.cachedPage();
    return p >= 0 ? p : this.slowPage(super.getAPageNoWait(gfp));
  }

  /** A page from vi->pages or the pool's cache (refilled from its ring); -1 when both are empty. */
  private cachedPage(): number {
    if (this.pages >= 0) return this.takeListPage();
    const p = this.poolGetCached();
    if (p >= 0) {
      const mm = this.env.mm;
      mm.setOwner(p, mm.owners.driverList, mm.owners.rxRing);
      this.env.skbs.pageNext[p] = -1;
    }
    return p;
  }

  /** The allocator's page (or -1): from now on the pool's (page_pool's slow path). */
  private slowPage(page: number): number {
    if (page >= 0) {
      this.ppPage[page] = 1;
      this.ppStats.slow++;
    }
    return page;
  }

  /** __page_pool_get_cached: the alloc cache, refilled from the ring when empty; -1 if both are. */
  private poolGetCached(): number {
    const s = this.ppStats;
    if (this.cacheCount > 0) {
      s.fast++;
      return this.cache[--this.cacheCount]!;
    }
    if (this.ringCount === 0) {
      s.empty++;
      return -1;
    }
    s.refill++;
    while (this.cacheCount < PP_ALLOC_CACHE_REFILL && this.ringCount > 0) {
      this.cache[this.cacheCount++] = this.ring[this.ringHead]!;
      this.ringHead = (this.ringHead + 1) % this.poolSize;
      this.ringCount--;
    }
    return this.cache[--this.cacheCount]!;
  }

  /**
   * kfree_skb of an skb with pool pages (skb_pp_recycle → page_pool_put_full_page for each):
   * they are detached and kept; other pages, and pool pages the full ring refuses, stay on the
   * skb and are freed with it.
   */
  private returnSkbPages(skb: number): void {
    const skbs = this.env.skbs;
    const mm = this.env.mm;
    const next = skbs.pageNext;
    let p = skbs.frag[skb]!;
    let kept = -1;
    let keptTail = -1;
    while (p >= 0) {
      const following = next[p]!;
      if (this.ppPage[p] === 1 && this.recycle(p)) {
        mm.setOwner(p, mm.owners.skb, mm.owners.driverList);
      } else {
        next[p] = -1;
        if (keptTail < 0) kept = p;
        else next[keptTail] = p;
        keptTail = p;
      }
      p = following;
    }
    skbs.frag[skb] = kept;
  }

  /** __page_pool_put_page: the cache from NAPI context, else the ring; false: the page leaves. */
  private recycle(p: number): boolean {
    const s = this.ppStats;
    if (this.inNapi) {
      if (this.cacheCount < PP_ALLOC_CACHE_SIZE) {
        this.cache[this.cacheCount++] = p;
        s.cached++;
        if (this.pooledPages > this.pooledPagesMax) this.pooledPagesMax = this.pooledPages;
        return true;
      }
      s.cacheFull++;
    }
    if (this.ringCount < this.poolSize) {
      this.ring[(this.ringHead + this.ringCount) % this.poolSize] = p;
      this.ringCount++;
      s.ring++;
      if (this.pooledPages > this.pooledPagesMax) this.pooledPagesMax = this.pooledPages;
      return true;
    }
    // page_pool_return_page: no longer the pool's.
    s.ringFull++;
    this.ppPage[p] = 0;
    return false;
  }
}
