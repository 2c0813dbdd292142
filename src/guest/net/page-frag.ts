/**
 * struct page_frag and skb_page_frag_refill (net/core/sock.c, v6.1): a per-queue cache of one
 * page, carved into slices. The cache holds one reference to its page; every slice handed out takes
 * another (get_page), and the skb that ends up with the slice drops it (put_page via
 * skb_free_frag), so the page is freed when the cache has moved on and its last slice is freed.
 * The page stays owned by page_frag all that time, whoever holds its slices.
 */
import { __GFP_COMP, __GFP_NORETRY, __GFP_NOWARN, __GFP_WAIT } from "../mm/gfp.ts";
import type { KernelCode } from "../sched/kernel.ts";
import type { MmPort } from "./mm-port.ts";
import { PAGE_SIZE } from "./virtio_net/constants.ts";

/** SKB_FRAG_PAGE_ORDER = get_order(32768) (include/net/sock.h, v6.1). */
export const SKB_FRAG_PAGE_ORDER = 3;

/**
 * The gfp of the high-order try: `(gfp & ~__GFP_DIRECT_RECLAIM) | __GFP_COMP | __GFP_NOWARN |
 * __GFP_NORETRY` ("Avoid direct reclaim but allow kswapd to wake"). 3.2's __GFP_WAIT is the
 * model's direct-reclaim bit; kswapd is woken unless __GFP_NO_KSWAPD.
 */
export function fragHighOrderGfp(gfp: number): number {
  return (gfp & ~__GFP_WAIT) | __GFP_COMP | __GFP_NOWARN | __GFP_NORETRY;
}

/** Counters of skb_page_frag_refill: high-order pages taken, order-0 fallbacks, refills that got neither. */
export interface PageFragStats {
  pageFragHighOrder: number;
  pageFragOrder0Fallbacks: number;
  pageFragFailures: number;
}

export class PageFrag {
  /** pfrag->page (head pfn) or -1, pfrag->offset, pfrag->size. */
  page = -1;
  offset = 0;
  size = 0;
  constructor(
    private readonly mm: MmPort,
    /** Where the counters go (VirtnetStats' pageFrag* fields). */
    private readonly stats: PageFragStats,
  ) {}

  /**
   * skb_page_frag_refill(sz, pfrag, gfp): true when `page` has `sz` bytes free at `offset`. A page
   * whose slices have all come back (page_count 1: only the cache's reference) is reused from
   * offset 0; otherwise a page without room is released and a new one allocated: order 3 without
   * direct reclaim, then order 0 with the caller's gfp.
   */
  *refill(sz: number, gfp: number): KernelCode<boolean> {
    if (this.refillHighOrder(sz, gfp)) return true;
    return this.order0(yield* this.mm.allocPageCounted(gfp, this.mm.owners.pageFrag));
  }

  /** skb_page_frag_refill for a gfp that cannot sleep, without a generator. */
  refillAtomic(sz: number, gfp: number): boolean {
    if (this.refillHighOrder(sz, gfp)) return true;
    // alloc_page(gfp) with a page_count: order 0 of allocPagesAtomic.
    return this.order0(this.mm.allocPagesAtomic(gfp, 0, this.mm.owners.pageFrag));
  }

  /** The refill up to the order-0 fallback: true when the cached or a new order-3 page has room. */
  private refillHighOrder(sz: number, gfp: number): boolean {
    const mm = this.mm;
    if (this.page >= 0) {
      if (mm.pageCount(this.page) === 1) {
        this.offset = 0;
        return true;
      }
      if (this.offset + sz <= this.size) return true;
      mm.putPage(this.page);
    }
    this.offset = 0;
    this.page = mm.allocPagesAtomic(fragHighOrderGfp(gfp), SKB_FRAG_PAGE_ORDER, mm.owners.pageFrag);
    if (this.page >= 0) {
      this.size = PAGE_SIZE << SKB_FRAG_PAGE_ORDER;
      this.stats.pageFragHighOrder++;
      return true;
    }
    this.stats.pageFragOrder0Fallbacks++;
    return false;
  }

  /** The order-0 fallback's page (or -1) becomes the cache's page. */
  private order0(page: number): boolean {
    this.page = page;
    if (page >= 0) {
      this.size = PAGE_SIZE;
      return true;
    }
    this.stats.pageFragFailures++;
    return false;
  }

  /** Takes `len` bytes at the current offset with their own page reference; returns the offset. */
  take(len: number): number {
    const at = this.offset;
    this.mm.getPage(this.page);
    this.offset += len;
    return at;
  }
}
