/**
 * `rfc-v1`: seed patch 2/2 on top of patch 1, "virtio_net: Don't disable napi on low memory",
 * as posted (RFC v1, never merged), flaws included:
 *
 * - buffers are allocated in batches of rx_allocate_batch (32) outside the new rx_fill_lock and
 *   enqueued under it (spin_lock_bh); virtnet_poll takes the lock around virtqueue_get_buf;
 * - refill_work no longer disables NAPI, so received packets keep being processed during a slow
 *   GFP_KERNEL refill;
 * - the kick happens once, at the end, while holding the lock: the host sees nothing before;
 * - vi->max starts at ~0 during the probe fill and is then set to what fit;
 * - `bool oom;` is read uninitialised: `rfcOomInit` chooses what it happens to hold.
 */
import { SpinLock } from "../../../sched/lock.ts";
import type { KernelCode } from "../../../sched/kernel.ts";
import { GFP_ATOMIC, GFP_KERNEL } from "../../../mm/gfp.ts";
import { ENOMEM, type VirtnetEnv, type VirtnetOptions } from "../virtnet.ts";
import { Patch1 } from "./patch1.ts";

/** static int rx_allocate_batch = 32 (seed patch 2, module parameter). */
export const RX_ALLOCATE_BATCH = 32;
/** try_fill_recv's state across its batches: the patch's `bool oom`, and whether it returns. */
const FILL_OOM = 1;
const FILL_DONE = 2;

export class RfcV1 extends Patch1 {
  override readonly version: string = "rfc-v1";
  /** Buffers allocated but not yet enqueued (the patch's LIST_HEAD(local_list)). */
  private readonly local: number[] = [];
  private readonly batch: number;

  constructor(env: VirtnetEnv, opts: VirtnetOptions) {
    super(env, opts);
    this.rxFillLock = new SpinLock(env.k, "rx_fill_lock");
    this.batch = opts.rxAllocateBatch ?? RX_ALLOCATE_BATCH;
  }

  /** Start off with a huge max, and then clamp it down to the real max. */
  override *probe(): KernelCode {
    this.max = 0xffffffff;
    yield* super.probe();
    this.max = this.num;
  }

  override *tryFillRecv(gfp: number): KernelCode<boolean> {
    const k = this.k;
    let err = 0;
    let fill = this.opts.rfcOomInit === true ? FILL_OOM : 0;
    do {
      let count = this.batch;
      do {
        err = this.batched(yield* this.allocRecvbuf(gfp));
        if (err === -ENOMEM) fill |= FILL_OOM;
        // A failed allocation's warn_alloc_failed is paid here, before rx_fill_lock is taken.
        if (!k.inAtomic()) yield k.cpu();
        // In case of error, still process the local_list
      } while (err >= 0 && --count);
      fill = this.enqueueLocal(err, fill);
    } while ((fill & FILL_DONE) === 0);
    return (fill & FILL_OOM) === 0;
  }

  /** The same fill from the receive path: nothing in it sleeps. */
  protected override tryFillRecvNoWait(gfp: number): boolean {
    let err = 0;
    let fill = this.opts.rfcOomInit === true ? FILL_OOM : 0;
    do {
      let count = this.batch;
      do {
        err = this.batched(this.allocRecvbufNoWait(gfp));
        if (err === -ENOMEM) fill |= FILL_OOM;
      } while (err >= 0 && --count);
      fill = this.enqueueLocal(err, fill);
    } while ((fill & FILL_DONE) === 0);
    return (fill & FILL_OOM) === 0;
  }

  /** An allocated buffer goes on local_list; returns `err`. */
  private batched(err: number): number {
    if (err >= 0) this.local.push(err);
    return err;
  }

  /**
   * The locked half of a batch: local_list onto the ring under rx_fill_lock; `err` is the last
   * allocation's. Returns `fill` with FILL_OOM added on an -ENOMEM, and FILL_DONE when the ring is
   * full or an add failed (kicked before the lock is released).
   */
  private enqueueLocal(err: number, fill: number): number {
    const lock = this.rxFillLock!;
    const local = this.local;
    lock.lockBh();
    const who = this.enterRing();
    while (local.length > 0) {
      const token = local.shift()!;
      // add_recvbuf_* now uses virtqueue_add_buf, i.e. GFP_ATOMIC for the indirect table.
      err = this.postRecvbufNoWait(token, GFP_ATOMIC);
      if (err === -ENOMEM) fill |= FILL_OOM;
      if (err >= 0) ++this.num;
    }
    if (this.num > this.max) this.max = this.num;
    if (err < 0 || this.num === this.max) {
      fill |= FILL_DONE;
      this.kick();
    }
    this.leaveRing(who);
    lock.unlockBh();
    return fill;
  }

  /** We must serialize access to the queue from any concurrent refills. */
  protected override receive(budget: number, received: number): number {
    const lock = this.rxFillLock!;
    lock.lock();
    const n = super.receive(budget, received);
    lock.unlock();
    return n;
  }

  override *refillWork(): KernelCode {
    const stillEmpty = !(yield* this.tryFillRecvCounted(GFP_KERNEL));
    // In theory, this can happen: if we don't get any buffers in we will *never* try to fill again.
    if (stillEmpty) this.env.wq.scheduleDelayedWork(this.refill, this.k.jiffies.hz / 2);
  }
}
