/**
 * What the network code needs from the memory model: page and slab allocation with gfp semantics
 * and page ownership moves. Sleeping variants are generators (process context only); with a gfp
 * lacking __GFP_WAIT they never yield, so one code path serves softirq and process context.
 */
import type { Shrinker } from "../mm/shrinker.ts";
import type { KernelCode } from "../sched/kernel.ts";

export interface MmPort {
  /** Page owner codes used by the driver and the stack. */
  readonly owners: { driverList: number; rxRing: number; skb: number; pageFrag: number };
  /**
   * The ALLOC_SITE_* the next allocations are for, set before each rx allocation. Fault injectors
   * filter on it where the kernel's filter reads the stack trace; nothing else reads it.
   */
  allocSite: number;
  /** alloc_page(gfp): a pfn, or -1. May sleep when gfp has __GFP_WAIT. */
  allocPage(gfp: number, owner: number): KernelCode<number>;
  /** The same for callers that cannot sleep (gfp without __GFP_WAIT). */
  allocPageAtomic(gfp: number, owner: number): number;
  /** __free_page / put_page of the last reference. */
  freePage(pfn: number): void;
  /** Moves a page between owners, asserting where it was. */
  setOwner(pfn: number, from: number, to: number): void;
  /**
   * alloc_pages(gfp, order) without sleeping: the head pfn of a page with page_count 1, or -1.
   * Counted pages are freed by the putPage that drops the last reference, never by freePage.
   */
  allocPagesAtomic(gfp: number, order: number, owner: number): number;
  /** alloc_page(gfp) with a page_count of 1; may sleep when gfp has __GFP_WAIT. */
  allocPageCounted(gfp: number, owner: number): KernelCode<number>;
  /** get_page / put_page / page_count of a counted page's head. */
  getPage(head: number): void;
  putPage(head: number): void;
  pageCount(head: number): number;
  /** kmem_cache_alloc / kmalloc: an object id, or -1. */
  slabAlloc(cache: SlabCacheId, gfp: number): KernelCode<number>;
  /** The same for callers that cannot sleep (gfp without __GFP_WAIT). */
  slabAllocAtomic(cache: SlabCacheId, gfp: number): number;
  slabFree(cache: SlabCacheId, obj: number): void;
  /** register_shrinker: reclaim's shrink_slab will ask `s` for memory back. */
  registerShrinker(s: Shrinker): void;
}

/** The caches the rx path allocates from (mm/slub.c kmalloc size classes; see kernel-facts §3.8). */
export const SLAB_SKBUFF_HEAD = 0;
export const SLAB_KMALLOC_32 = 1;
export const SLAB_KMALLOC_512 = 2;
export const SLAB_KMALLOC_1024 = 3;
export const SLAB_KMALLOC_2048 = 4;
/** tcp_collapse's skbs of up to a page (alloc_skb(SKB_MAX_ORDER(header, 0) + header)). */
export const SLAB_KMALLOC_4096 = 5;
export type SlabCacheId = number;

/**
 * Allocation sites of the receive and transmit paths, for fault injection's site filter (ALLOC_SITES in the
 * scenario schema names them in this order; a test checks it). Bit i of an injector's site mask.
 * A new slab page that a kmem_cache_alloc needs counts as that allocation's site.
 */
/** add_recvbuf_small's sk_buff (skbuff_head_cache); in 6.1, receive_small's build_skb sk_buff. */
export const ALLOC_SITE_SMALL_SKB_HEAD = 0;
/** add_recvbuf_small's data area (kmalloc-2048). */
export const ALLOC_SITE_SMALL_SKB_DATA = 1;
/** get_a_page's alloc_page for big and mergeable buffers; in 6.1, skb_page_frag_refill's pages. */
export const ALLOC_SITE_RX_PAGE = 2;
/** page_to_skb's GOOD_COPY_LEN skb, head and data (6.1: napi_alloc_skb, or build_skb's sk_buff). */
export const ALLOC_SITE_PAGE_TO_SKB = 3;
/** vring_add_indirect's table (kmalloc-32 / kmalloc-512). */
export const ALLOC_SITE_INDIRECT = 4;
/** tcp_collapse's alloc_skb(copy, GFP_ATOMIC) (skbuff_head_cache and kmalloc-1024..4096). */
export const ALLOC_SITE_TCP_COLLAPSE = 5;
/** tcp_send_ack's alloc_skb(MAX_TCP_HEADER, GFP_ATOMIC) (skbuff_head_cache and kmalloc-1024). */
export const ALLOC_SITE_TCP_SEND_ACK = 6;
/**
 * A data segment's skb (sk_stream_alloc_skb in tcp_sendmsg, with sk->sk_allocation), and the
 * sk_buff of its clone when the fclone companion is taken (tcp_transmit_skb's skb_clone, GFP_ATOMIC).
 */
export const ALLOC_SITE_TCP_SENDMSG = 7;

/**
 * kmalloc_index (SLUB's power-of-two caches above 192 bytes) for 256 < bytes <= 4096, the range of
 * __alloc_skb's data areas that the stack sizes at run time: at least SKB_DATA_ALIGN(1) + the aligned
 * skb_shared_info, 448 bytes (a tcp_collapse skb for the last few bytes of a queue takes kmalloc-512
 * when its headroom holds no timestamp option).
 */
export function kmallocCacheId(bytes: number): SlabCacheId {
  if (bytes <= 256 || bytes > 4096)
    throw new Error(`kmallocCacheId(${bytes}): only 257..4096 bytes have an id`);
  return bytes <= 512
    ? SLAB_KMALLOC_512
    : bytes <= 1024
      ? SLAB_KMALLOC_1024
      : bytes <= 2048
        ? SLAB_KMALLOC_2048
        : SLAB_KMALLOC_4096;
}

/** ksize of an object from kmallocCacheId(bytes). */
export function kmallocSize(bytes: number): number {
  const id = kmallocCacheId(bytes);
  return id === SLAB_KMALLOC_512
    ? 512
    : id === SLAB_KMALLOC_1024
      ? 1024
      : id === SLAB_KMALLOC_2048
        ? 2048
        : 4096;
}
