/**
 * sk_buffs as indices into a struct-of-arrays pool. An skb owns a head object from
 * skbuff_head_cache, optionally a kmalloc'ed data area, and optionally page fragments (pages chained
 * through `pageNext`, the way virtio_net chains them through page->private). kfree_skb returns all
 * of it to the memory model.
 */
import { ModelError } from "../../sim/simulator.ts";
import type { MmPort, SlabCacheId } from "./mm-port.ts";
import { SLAB_SKBUFF_HEAD } from "./mm-port.ts";

export const NO_SKB = -1;

export class SkbPool {
  head: Int32Array;
  dataCache: Int32Array;
  dataObj: Int32Array;
  /** First fragment page (pfn) or -1; further pages via pageNext. */
  frag: Int32Array;
  /** Bytes of payload (skb->len). */
  len: Int32Array;
  truesize: Int32Array;
  /** The network packet whose bytes the device wrote into this skb (-1 before receive). */
  pkt: Int32Array;
  private free: Int32Array;
  private freeTop = 0;
  live = 0;
  private cap = 0;
  /**
   * Called by kfree before it frees anything: returns true when the callee keeps the skb whole
   * (it stays live; skb_recycle_check, net/core/skbuff.c until 3.6). The callee may instead
   * take fragment pages by detaching them from `frag` and then return false (page_pool's
   * skb_mark_for_recycle, net/core/page_pool.c). Null: a free costs one comparison more.
   */
  recycler: ((skb: number) => boolean) | null = null;

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
    this.len = new Int32Array(0);
    this.truesize = new Int32Array(0);
    this.pkt = new Int32Array(0);
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
    this.len = g(this.len);
    this.truesize = g(this.truesize);
    this.pkt = g(this.pkt);
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
    this.len[s] = 0;
    this.truesize[s] = truesize;
    this.pkt[s] = -1;
    this.live++;
    return s;
  }

  setData(skb: number, cache: SlabCacheId, obj: number): void {
    this.dataCache[skb] = cache;
    this.dataObj[skb] = obj;
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

  /** skb_recycle: a kept skb (with no fragments left) back to the state __alloc_skb left it in. */
  recycle(skb: number, truesize: number): void {
    if (this.frag[skb]! >= 0) throw new ModelError(`skb ${skb} recycled with fragment pages attached`);
    this.len[skb] = 0;
    this.truesize[skb] = truesize;
    this.pkt[skb] = -1;
  }

  /** kfree_skb: frees the head, the data area and every fragment page. */
  kfree(skb: number): void {
    if (this.recycler?.(skb)) return;
    const mm = this.mm;
    if (this.dataObj[skb]! >= 0) mm.slabFree(this.dataCache[skb]!, this.dataObj[skb]!);
    let p = this.frag[skb]!;
    while (p >= 0) {
      const next = this.pageNext[p]!;
      this.pageNext[p] = -1;
      mm.freePage(p);
      p = next;
    }
    mm.slabFree(SLAB_SKBUFF_HEAD, this.head[skb]!);
    this.head[skb] = -1;
    this.free[this.freeTop++] = skb;
    this.live--;
  }
}
