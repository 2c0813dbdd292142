/**
 * sk_buffs as indices into a struct-of-arrays pool. An skb owns a head object from
 * skbuff_head_cache, optionally a kmalloc'ed data area, and optionally page fragments (pages chained
 * through `pageNext`, the way virtio_net chains them through page->private). kfree_skb returns all
 * of it to the memory model.
 */
import { grown } from "../../sim/typed.ts";
import { type KernelCode, ReturnedCode } from "../sched/kernel.ts";
import type { MmPort, SlabCacheId } from "./mm-port.ts";
import { kmallocCacheId, kmallocSize, SLAB_SKBUFF_HEAD } from "./mm-port.ts";

export const NO_SKB = -1;
/** skb->fclone (include/linux/skbuff.h): the original of a pair from skbuff_fclone_cache, its companion. */
const SKB_FCLONE_ORIG = 1;
const SKB_FCLONE_CLONE = 2;
/** SKB_DATA_ALIGN rounds to SMP_CACHE_BYTES = L1_CACHE_BYTES = 64 on x86_64 (include/linux/skbuff.h). */
const SMP_CACHE_BYTES = 64;
/** SKB_DATA_ALIGN(sizeof(struct sk_buff)) on x86_64, about 256 (kernel-facts.md §1.4). */
export const SKB_HEAD_ALIGNED = 256;
/** SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) = 384 on x86_64 (kernel-facts.md §1.4). */
export const SKB_SHINFO_ALIGNED = 384;
/**
 * SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) in v6.1 on x86_64: 48 bytes of fields before
 * frags[] plus MAX_SKB_FRAGS (17) bio_vecs of 16 bytes = 320 (include/linux/skbuff.h).
 */
export const SKB_SHINFO_6_1 = 320;

/** SKB_DATA_ALIGN(x) */
export function skbDataAlign(x: number): number {
  return Math.ceil(x / SMP_CACHE_BYTES) * SMP_CACHE_BYTES;
}

/** __alloc_skb (net/core/skbuff.c, v3.2): the kmalloc size of the data area for `size` bytes. */
export function allocSkbDataBytes(size: number): number {
  return skbDataAlign(size) + SKB_SHINFO_ALIGNED;
}

/**
 * The truesize __alloc_skb gives an skb of `size` bytes: SKB_TRUESIZE(SKB_WITH_OVERHEAD(ksize(data)))
 * ("more accurate skb truesize", v3.2), so the whole kmalloc object is charged.
 */
export function allocSkbTruesize(size: number): number {
  return dataTruesize(allocSkbDataBytes(size));
}

/** The truesize of an skb whose data area is the kmalloc object serving `dataBytes`. */
function dataTruesize(dataBytes: number): number {
  return kmallocSize(dataBytes) + SKB_HEAD_ALIGNED;
}

export class SkbPool {
  head: Int32Array;
  dataCache: Int32Array;
  dataObj: Int32Array;
  /** First fragment page (pfn) or -1; further pages via pageNext. */
  frag: Int32Array;
  /**
   * build_skb's head: the counted page (page_frag, mm-port's getPage/putPage) whose slice is the
   * skb's data area, or -1; the skb holds one reference to it.
   */
  headPage: Int32Array;
  /** First node of the skb's fragments in counted pages (skb_add_rx_frag of a page_frag slice), or -1. */
  fragRef: Int32Array;
  /** Bytes of payload (skb->len). */
  len: Int32Array;
  truesize: Int32Array;
  /** The network packet whose bytes the device wrote into this skb (-1 before receive). */
  pkt: Int32Array;
  /** skb->fclone: 0, SKB_FCLONE_ORIG or SKB_FCLONE_CLONE. */
  private fclone: Uint8Array;
  /** For a clone: the skb whose data it shares (-1 otherwise). */
  private cloneOf: Int32Array;
  /** For an original: its live clones (skb_shinfo(skb)->dataref − 1), and whether its fclone companion is one. */
  private clones: Int32Array;
  private companionBusy: Uint8Array;
  /** kfree_skb'd while clones still share its data: freed with the last clone. */
  private orphan: Uint8Array;
  private free: Int32Array;
  private freeTop = 0;
  /** Fragment nodes in counted pages: the page (one reference each), where the data ends, the next node. */
  private refPage = new Int32Array(0);
  private refEnd = new Int32Array(0);
  private refNext = new Int32Array(0);
  private refFree = -1;
  live = 0;
  private cap = 0;
  /**
   * Called by kfree before it frees anything: the callee may take fragment pages by detaching them
   * from `frag` (page_pool's skb_mark_for_recycle, net/core/page_pool.c); what is left is freed.
   * Null: a free costs one comparison more.
   */
  recycler: ((skb: number) => void) | null = null;
  /** alloc's and allocFclone's result when no allocation slept. */
  private readonly returned = new ReturnedCode<number>();

  constructor(
    private readonly mm: MmPort,
    /** page->private links for the guest's pages, shared with the driver. */
    readonly pageNext: Int32Array,
    initial = 1024,
  ) {
    this.head = new Int32Array(0);
    this.dataCache = new Int32Array(0);
    this.dataObj = new Int32Array(0);
    this.frag = new Int32Array(0);
    this.headPage = new Int32Array(0);
    this.fragRef = new Int32Array(0);
    this.len = new Int32Array(0);
    this.truesize = new Int32Array(0);
    this.pkt = new Int32Array(0);
    this.fclone = new Uint8Array(0);
    this.cloneOf = new Int32Array(0);
    this.clones = new Int32Array(0);
    this.companionBusy = new Uint8Array(0);
    this.orphan = new Uint8Array(0);
    this.free = new Int32Array(0);
    this.grow(initial);
  }

  private grow(n: number): void {
    const old = this.cap;
    const g = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.head = g(this.head);
    this.dataCache = g(this.dataCache);
    this.dataObj = g(this.dataObj);
    this.frag = g(this.frag);
    this.headPage = g(this.headPage);
    this.fragRef = g(this.fragRef);
    this.len = g(this.len);
    this.truesize = g(this.truesize);
    this.pkt = g(this.pkt);
    this.fclone = grown(this.fclone, n);
    this.cloneOf = g(this.cloneOf);
    this.clones = g(this.clones);
    this.companionBusy = grown(this.companionBusy, n);
    this.orphan = grown(this.orphan, n);
    const free = new Int32Array(n);
    free.set(this.free.subarray(0, this.freeTop));
    for (let i = n - 1; i >= old; i--) free[this.freeTop++] = i;
    this.free = free;
    this.cap = n;
  }

  /** Takes a pool slot for an skb whose head object `headObj` is already allocated. */
  take(headObj: number, truesize: number): number {
    if (this.freeTop === 0) this.grow(this.cap * 2);
    const s = this.free[--this.freeTop]!;
    this.head[s] = headObj;
    this.dataCache[s] = -1;
    this.dataObj[s] = -1;
    this.frag[s] = -1;
    this.headPage[s] = -1;
    this.fragRef[s] = -1;
    this.len[s] = 0;
    this.truesize[s] = truesize;
    this.pkt[s] = -1;
    this.fclone[s] = 0;
    this.cloneOf[s] = -1;
    this.clones[s] = 0;
    this.companionBusy[s] = 0;
    this.orphan[s] = 0;
    this.live++;
    return s;
  }

  /** Appends a page fragment (set_skb_frag); the page must already be owned by the skb. */
  addFrag(skb: number, pfn: number): void {
    this.pageNext[pfn] = -1;
    let p = this.frag[skb]!;
    if (p < 0) {
      this.frag[skb] = pfn;
      return;
    }
    while (this.pageNext[p]! >= 0) p = this.pageNext[p]!;
    this.pageNext[p] = pfn;
  }

  /** skb_shinfo(skb)->nr_frags */
  nrFrags(skb: number): number {
    let n = 0;
    for (let p = this.frag[skb]!; p >= 0; p = this.pageNext[p]!) n++;
    return n;
  }

  /**
   * alloc_skb(size, gfp) for callers that cannot sleep: a head from skbuff_head_cache, then the
   * data area from kmalloc (freeing the head again when that fails, as __alloc_skb's nodata path).
   * The skb id, or NO_SKB. `site` names the caller for fault injection (mm-port's ALLOC_SITE_*).
   */
  allocAtomic(size: number, gfp: number, site: number): number {
    const mm = this.mm;
    mm.allocSite = site;
    const head = mm.slabAllocAtomic(SLAB_SKBUFF_HEAD, gfp);
    if (head < 0) return NO_SKB;
    const bytes = allocSkbDataBytes(size);
    const cache = kmallocCacheId(bytes);
    return this.withData(head, cache, mm.slabAllocAtomic(cache, gfp), dataTruesize(bytes));
  }

  /**
   * alloc_skb(size, gfp) for callers that may sleep (gfp with __GFP_WAIT may reclaim). A generator
   * only when an allocation sleeps: the slab's fast paths return a ReturnedCode, and so does this.
   */
  alloc(size: number, gfp: number, site: number): KernelCode<number> {
    return this.allocSkb(size, gfp, site, 0);
  }

  /**
   * alloc_skb_fclone(size, gfp) (sk_stream_alloc_skb): an skb whose companion skb_clone can use
   * without allocating. The pair comes from skbuff_fclone_cache in the kernel; the model takes one
   * skbuff_head_cache object for it (about half the pair's size).
   */
  allocFclone(size: number, gfp: number, site: number): KernelCode<number> {
    return this.allocSkb(size, gfp, site, SKB_FCLONE_ORIG);
  }

  /** __alloc_skb(size, gfp, fclone): the sk_buff head, then the data area. */
  private allocSkb(size: number, gfp: number, site: number, fclone: number): KernelCode<number> {
    this.mm.allocSite = site;
    const head = this.mm.slabAlloc(SLAB_SKBUFF_HEAD, gfp);
    if (head instanceof ReturnedCode) return this.allocSkbData(head.value, size, gfp, fclone);
    return this.allocSkbSleptHead(head, size, gfp, site, fclone);
  }

  private *allocSkbSleptHead(
    head: KernelCode<number>,
    size: number,
    gfp: number,
    site: number,
    fclone: number,
  ): KernelCode<number> {
    const obj = yield* head;
    // The sleep may have run other allocations meanwhile: the data area is this site's too.
    this.mm.allocSite = site;
    return yield* this.allocSkbData(obj, size, gfp, fclone);
  }

  /** __alloc_skb after its head `head` (-1: none): the data area from kmalloc. */
  private allocSkbData(head: number, size: number, gfp: number, fclone: number): KernelCode<number> {
    if (head < 0) return this.returned.of(NO_SKB);
    const bytes = allocSkbDataBytes(size);
    const cache = kmallocCacheId(bytes);
    const data = this.mm.slabAlloc(cache, gfp);
    if (data instanceof ReturnedCode)
      return this.returned.of(this.allocated(head, cache, data.value, bytes, fclone));
    return this.allocSkbSleptData(head, cache, data, bytes, fclone);
  }

  private *allocSkbSleptData(
    head: number,
    cache: SlabCacheId,
    data: KernelCode<number>,
    bytes: number,
    fclone: number,
  ): KernelCode<number> {
    return this.allocated(head, cache, yield* data, bytes, fclone);
  }

  /** The end of __alloc_skb: the skb from its head and data object (-1: none), skb->fclone set. */
  private allocated(head: number, cache: SlabCacheId, data: number, bytes: number, fclone: number): number {
    const skb = this.withData(head, cache, data, dataTruesize(bytes));
    if (skb >= 0 && fclone !== 0) this.fclone[skb] = fclone;
    return skb;
  }

  /**
   * skb_clone(skb, gfp) (net/core/skbuff.c, v3.2): a second sk_buff sharing the data, for the
   * transmit path. An fclone original's companion is used when free ("n = skb + 1 … n->fclone ==
   * SKB_FCLONE_UNAVAILABLE"); otherwise kmem_cache_alloc(skbuff_head_cache, gfp), which callers in
   * softirq context make GFP_ATOMIC. The clone's id, or NO_SKB.
   */
  clone(skb: number, gfp: number, site: number): number {
    let c: number;
    if (this.fclone[skb] === SKB_FCLONE_ORIG && this.companionBusy[skb] === 0) {
      c = this.take(-1, this.truesize[skb]!);
      this.fclone[c] = SKB_FCLONE_CLONE;
      this.companionBusy[skb] = 1;
    } else {
      this.mm.allocSite = site;
      const head = this.mm.slabAllocAtomic(SLAB_SKBUFF_HEAD, gfp);
      if (head < 0) return NO_SKB;
      c = this.take(head, this.truesize[skb]!);
    }
    this.cloneOf[c] = skb;
    this.clones[skb]!++;
    this.len[c] = this.len[skb]!;
    return c;
  }

  /**
   * An skb from its sk_buff head and the data object `data` of `cache` just allocated for it (-1 if
   * that failed), of `truesize`: the skb, or NO_SKB with the head freed (__alloc_skb's nodata path).
   * alloc_skb and the drivers' own head-then-data allocations end here.
   */
  withData(head: number, cache: SlabCacheId, data: number, truesize: number): number {
    if (data < 0) {
      this.mm.slabFree(SLAB_SKBUFF_HEAD, head);
      return NO_SKB;
    }
    const skb = this.take(head, truesize);
    this.dataCache[skb] = cache;
    this.dataObj[skb] = data;
    return skb;
  }

  /**
   * build_skb(data, frag_size) from softirq: an sk_buff head from skbuff_head_cache (GFP_ATOMIC,
   * __build_skb) around a slice of counted page `page`, whose reference the skb takes over. The
   * skb id, or NO_SKB (the caller still holds the reference).
   */
  buildAtomic(page: number, truesize: number, gfp: number, site: number): number {
    const mm = this.mm;
    mm.allocSite = site;
    const head = mm.slabAllocAtomic(SLAB_SKBUFF_HEAD, gfp);
    if (head < 0) return NO_SKB;
    const skb = this.take(head, truesize);
    this.headPage[skb] = page;
    return skb;
  }

  /**
   * skb_add_rx_frag of bytes [offset, offset + len) of counted page `page`, whose reference the skb
   * takes over; skb_can_coalesce: when they continue the last fragment in the same page, that
   * fragment grows and the extra reference is dropped (put_page), as receive_mergeable does.
   * Returns the skb's fragment count.
   */
  addRefFrag(skb: number, page: number, offset: number, len: number): number {
    let last = this.fragRef[skb]!;
    let n = 0;
    if (last >= 0) {
      n = 1;
      while (this.refNext[last]! >= 0) {
        last = this.refNext[last]!;
        n++;
      }
      if (this.refPage[last] === page && this.refEnd[last] === offset) {
        this.refEnd[last] = offset + len;
        this.mm.putPage(page);
        return n;
      }
    }
    if (this.refFree < 0) this.growRefs();
    const node = this.refFree;
    this.refFree = this.refNext[node]!;
    this.refPage[node] = page;
    this.refEnd[node] = offset + len;
    this.refNext[node] = -1;
    if (last >= 0) this.refNext[last] = node;
    else this.fragRef[skb] = node;
    return n + 1;
  }

  /** Calls `fn` for every live skb (for invariant checks: O(capacity)). */
  forEachLive(fn: (skb: number) => void): void {
    const free = new Uint8Array(this.cap);
    for (let i = 0; i < this.freeTop; i++) free[this.free[i]!] = 1;
    for (let s = 0; s < this.cap; s++) if (free[s] === 0) fn(s);
  }

  /** Counted pages an skb references (build_skb's head and its fragments), for invariant checks. */
  forEachRefPage(skb: number, fn: (page: number) => void): void {
    if (this.headPage[skb]! >= 0) fn(this.headPage[skb]!);
    for (let r = this.fragRef[skb]!; r >= 0; r = this.refNext[r]!) fn(this.refPage[r]!);
  }

  private growRefs(): void {
    const old = this.refPage.length;
    const n = Math.max(64, old * 2);
    this.refPage = grown(this.refPage, n);
    this.refEnd = grown(this.refEnd, n);
    this.refNext = grown(this.refNext, n);
    for (let i = n - 1; i >= old; i--) {
      this.refNext[i] = this.refFree;
      this.refFree = i;
    }
  }

  /**
   * kfree_skb: frees the head, the data area and every fragment page. A clone frees only its own
   * sk_buff (none for an fclone companion); data shared with clones is freed with the last of them
   * (skb_release_data's dataref).
   */
  kfree(skb: number): void {
    const orig = this.cloneOf[skb]!;
    if (orig >= 0) {
      if (this.fclone[skb] === SKB_FCLONE_CLONE) this.companionBusy[orig] = 0;
      else this.mm.slabFree(SLAB_SKBUFF_HEAD, this.head[skb]!);
      this.release(skb);
      if (--this.clones[orig]! === 0 && this.orphan[orig] === 1) this.freeAll(orig);
      return;
    }
    if (this.clones[skb]! > 0) {
      this.orphan[skb] = 1;
      return;
    }
    this.freeAll(skb);
  }

  /** Clones sharing `skb`'s data that are still live. */
  liveClones(skb: number): number {
    return this.clones[skb]!;
  }

  private release(skb: number): void {
    this.head[skb] = -1;
    this.free[this.freeTop++] = skb;
    this.live--;
  }

  private freeAll(skb: number): void {
    this.recycler?.(skb);
    const mm = this.mm;
    if (this.dataObj[skb]! >= 0) mm.slabFree(this.dataCache[skb]!, this.dataObj[skb]!);
    let p = this.frag[skb]!;
    while (p >= 0) {
      const next = this.pageNext[p]!;
      this.pageNext[p] = -1;
      mm.freePage(p);
      p = next;
    }
    if (this.headPage[skb]! >= 0) mm.putPage(this.headPage[skb]!);
    for (let r = this.fragRef[skb]!; r >= 0; ) {
      const next = this.refNext[r]!;
      mm.putPage(this.refPage[r]!);
      this.refNext[r] = this.refFree;
      this.refFree = r;
      r = next;
    }
    mm.slabFree(SLAB_SKBUFF_HEAD, this.head[skb]!);
    this.release(skb);
  }
}
