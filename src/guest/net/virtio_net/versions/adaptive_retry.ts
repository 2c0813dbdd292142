/**
 * `adaptive-retry` (ours, never in Linux): mainline's refill_work with an exponential back-off
 * instead of its fixed HZ/2 re-arm, an allocation that may not OOM-kill, and a retry that the next
 * NAPI poll brings forward or cancels when its own atomic refill shows memory is back. Every piece
 * is a mechanism 6.1 has; nothing new is asked of mm.
 *
 * Against mainline (drivers/net/virtio_net.c, 6.1), as a patch would read:
 * - refill_work: `try_fill_recv(vi, rq, GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN)`: one pass of
 *   direct reclaim, then -ENOMEM instead of the OOM killer (plain GFP_KERNEL order-0 allocations
 *   do not fail: they loop and kill, so no back-off on them could ever run). The gfp is
 *   mempool_alloc's first try (mm/mempool.c, "don't loop in __alloc_pages").
 * - on failure `mod_delayed_work(system_wq, &vi->refill, delay)` (include/linux/workqueue.h,
 *   kernel/workqueue.c) with delay 1, 2, 4, … jiffies up to the HZ/2 mainline always waits,
 *   back to 1 after a fill that succeeds; precedent for the back-off: defer_compaction
 *   (mm/compaction.c, 1 << compact_defer_shift, the shift growing per failure, reset on success).
 * - virtnet_poll's refill: `try_fill_recv(vi, rq, GFP_ATOMIC | __GFP_NOWARN)` — a failure there
 *   has a retry behind it, as page_pool_dev_alloc_pages' GFP_ATOMIC | __GFP_NOWARN has the next
 *   poll (include/net/page_pool.h); so warn_alloc_failed never prints for it. When that refill
 *   fills the ring, `cancel_delayed_work(&vi->refill)`: nothing is left for the retry. When it
 *   adds some buffers and then fails, memory is coming back: a retry backed off for longer than a
 *   jiffy is brought forward to one jiffy with mod_delayed_work, once per back-off step. With no
 *   progress it does what mainline does (schedule_delayed_work(&vi->refill, 0), a no-op while the
 *   retry is pending).
 *
 * The wake-up is the poll that already runs for every packet: no callback from the page-free path
 * (kswapd progress is not one; an earlier version of this policy used such a hook, which no kernel
 * has). Cost: up to HZ refill_work runs (napi_disable, one direct-reclaim pass each) per second
 * while memory stays short and the polls keep finding some; no OOM kill to make room, so when
 * nothing is reclaimable the ring stays short until someone else frees memory.
 */
import type { KernelCode } from "../../../sched/kernel.ts";
import { __GFP_NORETRY, __GFP_NOWARN, GFP_ATOMIC, GFP_KERNEL } from "../../../mm/gfp.ts";
import type { VirtnetEnv, VirtnetOptions } from "../virtnet.ts";
import { Mainline } from "./mainline.ts";

/** The first retry after a failed fill, jiffies: the shortest a timer can wait. Ours. */
export const RETRY_MIN_JIFFIES = 1;
/** refill_work's gfp: direct reclaim once, no OOM killer (mempool_alloc's first try). */
export const ADAPTIVE_GFP = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN;
/** virtnet_poll's refill gfp: page_pool_dev_alloc_pages' (include/net/page_pool.h). */
export const ADAPTIVE_POLL_GFP = GFP_ATOMIC | __GFP_NOWARN;

export class AdaptiveRetry extends Mainline {
  override readonly version: string = "adaptive-retry";
  /** The longest retry delay, jiffies: mainline's fixed HZ/2, so it is never slower than mainline. */
  readonly retryMaxJiffies: number;
  /** Jiffies the armed retry waits (0: the last fill succeeded). */
  delayJiffies = 0;
  /** Backed-off retries a poll brought forward, and pending retries a poll's full refill cancelled. */
  retriesBroughtForward = 0;
  retriesCancelled = 0;
  /** The armed retry was already brought forward (cleared when refill_work runs). */
  private broughtForward = false;

  constructor(env: VirtnetEnv, opts: VirtnetOptions) {
    super(env, opts);
    this.retryMaxJiffies = Math.floor(env.k.jiffies.hz / 2);
  }

  override policyCounters(): Record<string, number> {
    return { retriesBroughtForward: this.retriesBroughtForward, retriesCancelled: this.retriesCancelled };
  }

  protected override refillFromPoll(): void {
    const wq = this.env.wq;
    const before = this.num;
    if (this.tryFillRecvAtomic(ADAPTIVE_POLL_GFP)) {
      if (wq.cancelDelayedWork(this.refill)) this.retriesCancelled++;
      this.delayJiffies = 0;
    } else if (this.num > before && this.delayJiffies > RETRY_MIN_JIFFIES && !this.broughtForward) {
      this.broughtForward = true;
      this.retriesBroughtForward++;
      wq.modDelayedWork(this.refill, RETRY_MIN_JIFFIES);
    } else {
      wq.scheduleDelayedWork(this.refill, 0);
    }
  }

  override *refillWork(): KernelCode {
    const env = this.env;
    this.broughtForward = false;
    yield* env.napi.disableNapi(this.napi);
    if (yield* this.tryFillRecvCounted(ADAPTIVE_GFP)) {
      this.delayJiffies = 0;
    } else {
      // Queued before NAPI is enabled: the poll that runs there must find the retry pending.
      this.delayJiffies =
        this.delayJiffies === 0 ? RETRY_MIN_JIFFIES : Math.min(2 * this.delayJiffies, this.retryMaxJiffies);
      env.wq.modDelayedWork(this.refill, this.delayJiffies);
    }
    this.virtnetNapiEnable();
  }
}
