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
    const lock = this.rxFillLock!;
    const local = this.local;
    let err = 0;
    let oom = this.opts.rfcOomInit ?? false;
    for (;;) {
      let count = this.batch;
      do {
        err = yield* this.allocRecvbuf(gfp);
        oom ||= err === -ENOMEM;
        if (err >= 0) local.push(err);
        // A failed allocation's warn_alloc_failed is paid here, before rx_fill_lock is taken.
        if (!k.inAtomic()) yield k.cpu();
        // In case of error, still process the local_list
      } while (err >= 0 && --count);

      lock.lockBh();
      const who = this.enterRing();
      while (local.length > 0) {
        const token = local.shift()!;
        // add_recvbuf_* now uses virtqueue_add_buf, i.e. GFP_ATOMIC for the indirect table.
        err = this.postAtomic(token);
        oom ||= err === -ENOMEM;
        if (err >= 0) ++this.num;
      }
      if (this.num > this.max) this.max = this.num;
      if (err < 0 || this.num === this.max) {
        this.kick();
        this.leaveRing(who);
        lock.unlockBh();
        return !oom;
      }
      this.leaveRing(who);
      lock.unlockBh();
    }
  }

  private postAtomic(token: number): number {
    return this.runAtomic(this.postRecvbuf(token, GFP_ATOMIC), "add_recvbuf");
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
