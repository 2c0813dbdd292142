/**
 * `reserve-pool` (ours, never in Linux): a small private pool of ready receive buffers, used when
 * an allocation for the ring fails and topped up from process context, where allocations may
 * reclaim; a shrinker gives the pool back to reclaim when reclaim is struggling. Atomic refills
 * then keep the ring going through short dips below the GFP_ATOMIC floor, and the pool is memory
 * reclaim can get back.
 *
 * Precedents: mempool (include/linux/mempool.h, mm/mempool.c): mempool_alloc tries the allocator
 * first and takes an element from the pool only when that fails; the pool is filled with sleeping
 * allocations. The refill uses mempool_alloc's own gfp for its first try, GFP_KERNEL |
 * __GFP_NORETRY | __GFP_NOWARN ("don't loop in __alloc_pages"): one pass of direct reclaim, and
 * never the OOM killer for what is only a reserve; when that fails it tries again after the
 * allocator's own back-off, wait_iff_congested(…, HZ/50) in __alloc_pages_slowpath. mempool has no
 * shrinker; this pool registers one (register_shrinker, include/linux/shrinker.h) with
 * DEFAULT_SEEKS, so reclaim's do_shrink_slab (mm/vmscan.c) takes buffers back only deep in a
 * reclaim pass (priority ≤ 1 for a 64-buffer pool: (64 >> priority) * 4 / 2 must reach 64), and
 * the pool is refilled no sooner than RESERVE_REFILL_AFTER_SHRINK later. That pairing is new: a
 * driver reserve with a shrinker is what a maintainer could merge (the reserve is then never
 * memory the OOM killer has to be called for), not something any driver does today.
 *
 * Built on `mainline`: the pool only adds a source of buffers to its allocation; the refill rules,
 * refill_work and its GFP_KERNEL fill stay for when the pool is empty too.
 *
 * Cost: RESERVE_POOL_BYTES held while memory is not tight (buffers of the current mode: 113
 * small, 64 mergeable pages, 3 big buffers of 19 pages); reclaim work in the worker after every
 * dip. A reserve bridges a dip shorter than the pool's worth of packets (256 KiB: about 2 ms at
 * 1 Gbit/s); under sustained pressure it is gone after one refill and the driver behaves as
 * mainline.
 */
import { DEFAULT_SEEKS, type Shrinker } from "../../../mm/shrinker.ts";
import type { KernelCode } from "../../../sched/kernel.ts";
import type { DelayedWork } from "../../../sched/workqueue.ts";
import { __GFP_NORETRY, __GFP_NOWARN, GFP_KERNEL } from "../../../mm/gfp.ts";
import { BIG_PAGES, PAGE_SIZE, SMALL_TRUESIZE } from "../constants.ts";
import type { VirtnetEnv, VirtnetOptions } from "../virtnet.ts";
import { Mainline } from "./mainline.ts";

/** The pool's size: 64 pages (a quarter of a 256-entry ring of mergeable pages). Ours. */
export const RESERVE_POOL_BYTES = 256 * 1024;
/** mempool_alloc's gfp for the allocator (mm/mempool.c): reclaim once, fail rather than loop. */
export const RESERVE_GFP = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN;
/** Seconds after the shrinker took buffers before the pool is topped up again. Ours. */
export const RESERVE_REFILL_AFTER_SHRINK = 1;

export class ReservePool extends Mainline implements Shrinker {
  override readonly version: string = "reserve-pool";
  /** Buffers the pool can hold: RESERVE_POOL_BYTES in buffers of the mode. */
  readonly reserveCap: number;
  /** Bytes one buffer of the mode holds. */
  readonly bufferBytes: number;
  readonly reserveWork: DelayedWork;
  /** Buffers taken from the pool, and refill passes that stopped on a failed allocation. */
  reserveTaken = 0;
  reserveRefillFailed = 0;
  /** Buffers the shrinker gave back to the allocator. */
  reserveShrunk = 0;
  readonly name = "virtnet-reserve";
  readonly seeks = DEFAULT_SEEKS;
  /** The pool: buffer tokens, pages owned as driver_list while here. */
  private readonly reserve: number[] = [];

  constructor(env: VirtnetEnv, opts: VirtnetOptions) {
    super(env, opts);
    this.bufferBytes =
      opts.mode === "small" ? SMALL_TRUESIZE : opts.mode === "big" ? BIG_PAGES * PAGE_SIZE : PAGE_SIZE;
    this.reserveCap = Math.floor(RESERVE_POOL_BYTES / this.bufferBytes);
    this.reserveWork = env.wq.init("virtnet_reserve_refill", () => this.refillReserve());
    env.mm.registerShrinker(this);
  }

  /** count_objects: the buffers in the pool. */
  countObjects(): number {
    return this.reserve.length;
  }

  /** scan_objects: frees up to `nrToScan` buffers, and tops the pool up again a while later. */
  scanObjects(nrToScan: number): number {
    const n = Math.min(nrToScan, this.reserve.length);
    const skbs = this.env.skbs;
    for (let i = 0; i < n; i++) {
      const t = this.reserve.pop()!;
      if (this.mode === "small") {
        skbs.kfree(t);
        continue;
      }
      for (let p = t; p >= 0; ) {
        const next = skbs.pageNext[p]!;
        skbs.pageNext[p] = -1;
        this.env.mm.freePage(p);
        p = next;
      }
    }
    this.reserveShrunk += n;
    if (n > 0) {
      const hz = this.k.jiffies.hz;
      this.env.wq.scheduleDelayedWork(this.reserveWork, RESERVE_REFILL_AFTER_SHRINK * hz);
    }
    return n;
  }

  override policyCounters(): Record<string, number> {
    return {
      reserveTaken: this.reserveTaken,
      reserveRefillFailed: this.reserveRefillFailed,
      reserveShrunk: this.reserveShrunk,
    };
  }

  get reserveCount(): number {
    return this.reserve.length;
  }

  override heldBytes(): number {
    return super.heldBytes() + this.reserve.length * this.bufferBytes;
  }

  /** The ring first, then the pool (mempool_create fills it before returning). */
  override *probe(): KernelCode {
    yield* super.probe();
    yield* this.refillReserve();
  }

  /** mempool_alloc: the allocator, and the pool only when it fails. */
  protected override *allocRecvbuf(gfp: number): KernelCode<number> {
    return this.orReserve(yield* super.allocRecvbuf(gfp));
  }

  protected override allocRecvbufNoWait(gfp: number): number {
    return this.orReserve(super.allocRecvbufNoWait(gfp));
  }

  /** The allocator's `token`, or a buffer from the pool when that failed and the pool has one. */
  private orReserve(token: number): number {
    if (token >= 0 || this.reserve.length === 0) return token;
    const t = this.reserve.pop()!;
    this.movePages(t, false);
    this.reserveTaken++;
    this.env.wq.scheduleDelayedWork(this.reserveWork, 0);
    return t;
  }

  /** Tops the pool up in process context; on a failure, tries again HZ/50 later. */
  private *refillReserve(): KernelCode {
    const k = this.k;
    while (this.reserve.length < this.reserveCap) {
      const t = yield* super.allocRecvbuf(RESERVE_GFP);
      if (t < 0) {
        this.reserveRefillFailed++;
        this.env.wq.scheduleDelayedWork(this.reserveWork, Math.max(1, Math.floor(k.jiffies.hz / 50)));
        return;
      }
      this.movePages(t, true);
      this.reserve.push(t);
      yield k.cpu();
    }
  }

  /** A page-mode buffer's pages between the ring's ownership and the driver's (the pool). */
  private movePages(token: number, intoPool: boolean): void {
    if (this.mode === "small") return;
    const mm = this.env.mm;
    const from = intoPool ? mm.owners.rxRing : mm.owners.driverList;
    const to = intoPool ? mm.owners.driverList : mm.owners.rxRing;
    for (let p = token; p >= 0; p = this.env.skbs.pageNext[p]!) mm.setOwner(p, from, to);
  }
}
