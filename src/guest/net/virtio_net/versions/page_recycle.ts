/**
 * `page-recycle` (ours, never in Linux): what the stack frees after the application has copied the
 * data comes back to the driver instead of the allocator, and the next refill takes it from there,
 * so a receive path in steady state allocates nothing (and so cannot fail to).
 *
 * - mergeable and big: fragment pages go onto vi->pages, which get_a_page already serves first;
 *   page_to_skb's copy skbs (sk_buff + kmalloc-1024) go to a small cache of their own;
 * - small: the whole rx skb (sk_buff + kmalloc-2048 data area) is kept and posted again.
 * Each store is bounded; past the bound things are freed as before.
 *
 * Precedents: page_pool (net/core/page_pool.c, 4.18+): pages of an skb marked for recycling return
 * to their pool's ptr_ring when the skb is freed, or are released when the ring is full; drivers
 * size the pool to their rx ring. The per-cpu skb head cache (net/core/skbuff.c,
 * NAPI_SKB_CACHE_SIZE = 64). For small buffers, skb_recycle_check (net/core/skbuff.c until 3.6,
 * used by gianfar, ucc_geth, stmmac): a freed linear skb large enough for a receive buffer is reset
 * and reused. Here the hook is SkbPool.recycler (kfree_skb), and every fragment page and every skb
 * with a kmalloc-2048 or kmalloc-1024 data area comes from this driver's receive path.
 *
 * Built on `mainline`: only where buffers come from changes; the refill rules do not. When the
 * stores are empty (the stack holds every buffer, e.g. while sockets grow) it allocates and fails
 * exactly as mainline does.
 *
 * Cost: up to a ring's worth of buffers (256 pages = 1 MiB mergeable, 256 small skbs = 576 KiB,
 * 256 × 19 pages big) and 64 copy skbs held besides the ring, invisible to reclaim; that memory
 * is not free for anybody else even while the driver has no use for it.
 */
import { SLAB_KMALLOC_1024, SLAB_KMALLOC_2048 } from "../../mm-port.ts";
import type { KernelCode } from "../../../sched/kernel.ts";
import { CAT_DRIVER } from "../../../sched/costs.ts";
import { ModelError } from "../../../../sim/simulator.ts";
import { BIG_PAGES, COPY_HEAD_TRUESIZE, MAX_PACKET_LEN, SMALL_TRUESIZE } from "../constants.ts";
import type { VirtnetEnv, VirtnetOptions } from "../virtnet.ts";
import { Mainline } from "./mainline.ts";

/** NAPI_SKB_CACHE_SIZE (net/core/skbuff.c): the bound of the copy-skb cache. */
export const COPY_SKB_CACHE_SIZE = 64;

export class PageRecycle extends Mainline {
  override readonly version: string = "page-recycle";
  /** Bound of vi->pages for recycling: one ring's worth of buffers (page_pool's pool_size). */
  readonly pageCap: number;
  /** Pages, small skbs and copy skbs that came back instead of being freed. */
  pagesRecycled = 0;
  skbsRecycled = 0;
  /** Bound of the kept skbs: a ring's worth of small skbs, or COPY_SKB_CACHE_SIZE copy skbs. */
  readonly keptCap: number;
  /** Small rx skbs (small mode) or page_to_skb copy skbs (page modes) kept for reuse. */
  private readonly kept: number[] = [];
  private readonly keptTruesize: number;

  constructor(env: VirtnetEnv, opts: VirtnetOptions) {
    super(env, opts);
    if (env.skbs.recycler !== null) throw new ModelError("page-recycle: the skb pool already has a recycler");
    this.pageCap = env.vq.size * (opts.mode === "big" ? BIG_PAGES : 1);
    const small = opts.mode === "small";
    this.keptCap = small ? env.vq.size : COPY_SKB_CACHE_SIZE;
    this.keptTruesize = small ? SMALL_TRUESIZE : COPY_HEAD_TRUESIZE;
    env.skbs.recycler = small ? (skb) => this.keepSmall(skb) : (skb) => this.keepPages(skb);
  }

  get keptSkbs(): number {
    return this.kept.length;
  }

  override heldBytes(): number {
    return super.heldBytes() + this.kept.length * this.keptTruesize;
  }

  /** skb_recycle_check: a linear rx skb with room for a full frame, kept whole. */
  private keepSmall(skb: number): boolean {
    const skbs = this.env.skbs;
    if (skbs.dataCache[skb] !== SLAB_KMALLOC_2048 || this.kept.length >= this.keptCap) return false;
    skbs.recycle(skb, SMALL_TRUESIZE);
    this.kept.push(skb);
    this.skbsRecycled++;
    return true;
  }

  /** page_pool_return_skb_page for each fragment, then the head into the skb cache. */
  private keepPages(skb: number): boolean {
    const skbs = this.env.skbs;
    const mm = this.env.mm;
    const next = skbs.pageNext;
    let p = skbs.frag[skb]!;
    while (p >= 0 && this.pagesCount < this.pageCap) {
      const following = next[p]!;
      mm.setOwner(p, mm.owners.skb, mm.owners.driverList);
      next[p] = this.pages;
      this.pages = p;
      this.pagesCount++;
      this.pagesRecycled++;
      p = following;
    }
    skbs.frag[skb] = p;
    if (p >= 0 || skbs.dataCache[skb] !== SLAB_KMALLOC_1024 || this.kept.length >= this.keptCap) return false;
    skbs.recycle(skb, COPY_HEAD_TRUESIZE);
    this.kept.push(skb);
    this.skbsRecycled++;
    return true;
  }

  protected override *allocRecvbufSmall(gfp: number): KernelCode<number> {
    const skb = this.kept.pop();
    if (skb === undefined) return yield* super.allocRecvbufSmall(gfp);
    this.env.skbs.len[skb] = MAX_PACKET_LEN; // skb_put(skb, MAX_PACKET_LEN)
    this.k.charge(this.env.costs.addBuf / 2, CAT_DRIVER);
    return skb;
  }

  protected override allocCopySkb(): number {
    return this.kept.pop() ?? super.allocCopySkb();
  }
}
