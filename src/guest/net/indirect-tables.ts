/**
 * Indirect descriptor tables as Linux v3.2 vring_add_indirect gets them: kmalloc((out + in) * 16,
 * gfp) — kmalloc-32 for a small buffer's 2 entries, kmalloc-512 for a big buffer's 20 — falling back
 * to direct descriptors when that fails. The slab object comes from the memory model with the
 * caller's gfp (so GFP_KERNEL may reclaim first); the table bytes live in a pool region of guest
 * memory that the device reads.
 */
import type { VirtqueueDriver } from "../../virtio/driver.ts";
import type { IndirectPool, IndirectTableAllocator } from "../../virtio/indirect.ts";
import type { KernelCode } from "../sched/kernel.ts";
import { ALLOC_SITE_INDIRECT, type MmPort, SLAB_KMALLOC_32, SLAB_KMALLOC_512 } from "./mm-port.ts";

export class IndirectTables implements IndirectTableAllocator {
  /** The slab object prepared for the next addBuf, or -1. */
  private pendingObj = -1;
  private pendingCache = 0;
  /** Slab object and cache behind each pool block, by block index. */
  private readonly blockObj: Int32Array;
  private readonly blockCache: Int32Array;

  constructor(
    private readonly mm: MmPort,
    private readonly pool: IndirectPool,
  ) {
    this.blockObj = new Int32Array(pool.blocks).fill(-1);
    this.blockCache = new Int32Array(pool.blocks);
  }

  /**
   * Before virtqueue_add_buf: allocate the table's slab object with `gfp` when the ring will go
   * indirect (indirect negotiated, more than one sg entry, and a free descriptor).
   */
  *prepare(vq: VirtqueueDriver, sgCount: number, gfp: number): KernelCode {
    const cache = this.tableCache(vq, sgCount);
    if (cache < 0) return;
    this.pendingObj = yield* this.mm.slabAlloc(cache, gfp);
  }

  /** The same for callers that cannot sleep (xmit_skb's GFP_ATOMIC), without a generator per call. */
  prepareAtomic(vq: VirtqueueDriver, sgCount: number, gfp: number): void {
    const cache = this.tableCache(vq, sgCount);
    if (cache >= 0) this.pendingObj = this.mm.slabAllocAtomic(cache, gfp);
  }

  /** The kmalloc cache of the table virtqueue_add_buf will want, or -1 when it goes direct. */
  private tableCache(vq: VirtqueueDriver, sgCount: number): number {
    if (!vq.indirect || sgCount <= 1 || vq.numFree === 0) return -1;
    const cache = sgCount * 16 <= 32 ? SLAB_KMALLOC_32 : SLAB_KMALLOC_512;
    this.mm.allocSite = ALLOC_SITE_INDIRECT;
    this.pendingCache = cache;
    return cache;
  }

  /** After virtqueue_add_buf: an object the ring did not take is freed. */
  release(): void {
    if (this.pendingObj >= 0) this.mm.slabFree(this.pendingCache, this.pendingObj);
    this.pendingObj = -1;
  }

  alloc(entries: number): number {
    if (this.pendingObj < 0 || entries > this.pool.entriesPerBlock) return -1;
    const b = this.pool.allocBlock(entries);
    if (b < 0) return -1;
    this.blockObj[b] = this.pendingObj;
    this.blockCache[b] = this.pendingCache;
    this.pendingObj = -1;
    return this.pool.tableAt(b);
  }

  free(offset: number): void {
    // The pool validates the offset and names its block: one division per table, not two.
    const b = this.pool.free(offset);
    this.mm.slabFree(this.blockCache[b]!, this.blockObj[b]!);
    this.blockObj[b] = -1;
  }
}
