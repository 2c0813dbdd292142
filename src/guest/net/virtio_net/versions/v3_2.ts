/**
 * `v3.2`: drivers/net/virtio_net.c as the seed found it (Linux v3.2; kernel-facts.md §1.5–1.9).
 *
 * - virtnet_poll refills with GFP_ATOMIC once fewer than half the buffers are posted and, when that
 *   fails, queues refill_work with no delay (a no-op while it is pending).
 * - refill_work disables NAPI for the whole GFP_KERNEL fill, re-enables it and, if an allocation
 *   failed, tries again HZ/2 later. add_recvbuf_small's skb is GFP_ATOMIC whatever gfp says.
 * - virtnet_napi_enable raises NET_RX from process context: the poll waits for the next softirq
 *   point (in practice the next timer tick).
 */
import type { KernelCode } from "../../../sched/kernel.ts";
import { GFP_KERNEL } from "../../../mm/gfp.ts";
import { ENOMEM, VirtnetDriver } from "../virtnet.ts";

/** static int napi_weight = 128 (virtio_net.c v3.2, module parameter). */
export const V3_2_NAPI_WEIGHT = 128;

export class V3_2 extends VirtnetDriver {
  override readonly version: string = "v3.2";

  protected napiWeight(): number {
    return V3_2_NAPI_WEIGHT;
  }

  /** The refill threshold of virtnet_poll. */
  protected needsRefill(_budget: number): boolean {
    return this.num < this.max / 2;
  }

  /**
   * Returns false if we couldn't fill entirely (OOM). Normally run in the receive path, but can
   * also be run from refill_work which is careful to disable receiving (using napi_disable).
   */
  *tryFillRecv(gfp: number): KernelCode<boolean> {
    const k = this.k;
    let err: number;
    const who = this.enterRing();
    do {
      err = this.added(yield* this.addRecvbuf(gfp));
      // In process context the fill takes real time, a failed allocation's warn_alloc_failed
      // included (paid here, with NAPI still disabled); interrupts may arrive meanwhile.
      if (!k.inAtomic()) yield k.cpu();
    } while (err > 0);
    return this.filled(who, err);
  }

  /** The same fill from the receive path: nothing in it sleeps. */
  protected tryFillRecvNoWait(gfp: number): boolean {
    let err: number;
    const who = this.enterRing();
    do err = this.added(this.addRecvbufNoWait(gfp));
    while (err > 0);
    return this.filled(who, err);
  }

  /** `if (err < 0) break; ++vi->num;` for one add_recvbuf_* result; returns it. */
  private added(err: number): number {
    if (err >= 0) ++this.num;
    return err;
  }

  /** The end of try_fill_recv after the add that returned `err`; oom is its -ENOMEM. */
  private filled(who: number, err: number): boolean {
    if (this.num > this.max) this.max = this.num;
    this.kick();
    this.leaveRing(who);
    return err !== -ENOMEM;
  }

  /** The virtqueue_get_buf loop of virtnet_poll: receive up to `budget` buffers in all. */
  protected receive(budget: number, received: number): number {
    const who = this.enterRing();
    while (received < budget && this.receiveOne()) {
      --this.num;
      received++;
    }
    this.leaveRing(who);
    return received;
  }

  /** After receiving: refill with GFP_ATOMIC, or leave it to refill_work when that fails. */
  protected refillFromPoll(): void {
    if (!this.tryFillRecvAtomic()) this.env.wq.scheduleDelayedWork(this.refill, 0);
  }

  virtnetPoll(budget: number): number {
    const napi = this.env.napi;
    let received = 0;
    this.chargePoll();
    for (;;) {
      // again:
      received = this.receive(budget, received);
      if (this.needsRefill(budget)) this.refillFromPoll();
      // Out of packets?
      if (received < budget) {
        napi.complete(this.napi);
        if (!this.vq.enableCb() && this.virtqueueNapiSchedule()) continue;
      }
      return received;
    }
  }

  *refillWork(): KernelCode {
    const env = this.env;
    yield* env.napi.disableNapi(this.napi);
    const stillEmpty = !(yield* this.tryFillRecvCounted(GFP_KERNEL));
    this.virtnetNapiEnable();
    // In theory, this can happen: if we don't get any buffers in we will *never* try to fill again.
    if (stillEmpty) env.wq.scheduleDelayedWork(this.refill, this.k.jiffies.hz / 2);
  }

  protected virtnetNapiEnable(): void {
    const napi = this.env.napi;
    napi.enable(this.napi);
    // If all buffers were filled by other side before we napi_enabled, we won't get another
    // interrupt, so process any outstanding packets now.
    this.virtqueueNapiSchedule();
  }
}
