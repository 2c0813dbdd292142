/**
 * `adaptive-retry` (ours, never in Linux): refill_work's retry after a failed fill comes one jiffy
 * later, then 2, 4, … up to the HZ/2 it replaces, back to one jiffy after a fill that succeeds;
 * and it comes at once when free memory is back above WMARK_LOW, whoever freed it (kswapd, the
 * stack, an exiting task), instead of waiting for the timer. Its fill allocates with GFP_KERNEL |
 * __GFP_NORETRY: one pass of direct reclaim, then failure and a retry, never the OOM killer (plain
 * GFP_KERNEL order-0 allocations do not fail in 3.2: they loop and kill, so a retry policy on them
 * would never run).
 *
 * Precedents: exponential back-off after failure in mm itself, defer_compaction (mm/compaction.c:
 * skip 1 << compact_defer_shift attempts, the shift growing per failure up to 6, reset on
 * success); the gfp of mempool_alloc's first try (mm/mempool.c: "don't loop in __alloc_pages");
 * waking on memory rather than a timer: pgdat->pfmemalloc_wait (mm/vmscan.c, 3.6+), which kswapd
 * wakes in balance_pgdat once free memory is back ("If the low watermark is met there is no need
 * for processes to be throttled on pfmemalloc_wait"). Later kernels' mod_delayed_work (3.7) would
 * bring vi->refill forward directly; here a timer_list of the driver queues the work.
 *
 * Built on `mainline`, whose refill_work (napi_disable, fill, napi enable that polls at once) it
 * keeps; only the allocation's gfp and the re-arm change. While a retry is armed, a failed atomic
 * refill in the poll leaves the refill to it, as mainline's pending HZ/2 work does.
 *
 * Cost: up to one refill_work (and one napi_disable) per jiffy while memory stays short, each with
 * a pass of direct reclaim; no OOM kill to make room, so when nothing is reclaimable the ring
 * stays short until someone else frees memory. Needs VirtnetEnv.freePages for the memory wakeup;
 * without it only the back-off timer runs.
 */
import type { KernelCode } from "../../../sched/kernel.ts";
import { __GFP_NORETRY, __GFP_NOWARN, GFP_KERNEL, WMARK_LOW } from "../../../mm/gfp.ts";
import { FreePagesWatcher } from "../../../mm/mm.ts";
import type { VirtnetEnv, VirtnetOptions } from "../virtnet.ts";
import { Mainline } from "./mainline.ts";

/** The first retry after a failed fill, jiffies: the shortest a timer can wait. Ours. */
export const RETRY_MIN_JIFFIES = 1;
/** The refill's gfp: direct reclaim once, no OOM killer (mempool_alloc's first try). */
export const ADAPTIVE_GFP = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN;

export class AdaptiveRetry extends Mainline {
  override readonly version: string = "adaptive-retry";
  /** The longest retry delay, jiffies: v3.2's fixed HZ/2, so it is never slower than mainline. */
  readonly retryMaxJiffies: number;
  /** Jiffies the next retry waits (0: the last fill succeeded). */
  delayJiffies = 0;
  /** Retries started by the timer and by free memory coming back. */
  timerRetries = 0;
  memoryRetries = 0;
  private readonly retryTimer: number;
  private readonly watcher: FreePagesWatcher;

  constructor(env: VirtnetEnv, opts: VirtnetOptions) {
    super(env, opts);
    const sim = env.k.sim;
    this.retryMaxJiffies = Math.floor(env.k.jiffies.hz / 2);
    this.retryTimer = sim.createTimer(
      sim.register("virtnet.refill_retry", () => {
        this.timerRetries++;
        this.env.wq.scheduleDelayedWork(this.refill, 0);
      }),
    );
    this.watcher = new FreePagesWatcher("virtnet refill", () => this.memoryBack());
  }

  /** A retry is armed: the timer runs, and free memory coming back may fire it early. */
  get retryArmed(): boolean {
    return this.k.sim.timerArmed(this.retryTimer);
  }

  /** Free memory is back: an armed retry runs now (a stale watch after a timer retry does nothing). */
  private memoryBack(): void {
    if (!this.retryArmed) return;
    this.k.sim.disarmTimer(this.retryTimer);
    this.memoryRetries++;
    this.env.wq.scheduleDelayedWork(this.refill, 0);
  }

  protected override refillFromPoll(): void {
    if (!this.tryFillRecvAtomic() && !this.retryArmed) this.env.wq.scheduleDelayedWork(this.refill, 0);
  }

  override *refillWork(): KernelCode {
    const env = this.env;
    const k = this.k;
    yield* env.napi.disableNapi(this.napi);
    if (yield* this.tryFillRecvCounted(ADAPTIVE_GFP)) {
      this.delayJiffies = 0;
    } else {
      // Armed before NAPI is enabled: the poll that runs there must find the retry pending.
      this.delayJiffies =
        this.delayJiffies === 0 ? RETRY_MIN_JIFFIES : Math.min(2 * this.delayJiffies, this.retryMaxJiffies);
      k.sim.armTimer(this.retryTimer, k.jiffies.timerExpiry(k.now, this.delayJiffies));
      env.freePages?.watchFreePages(this.watcher, WMARK_LOW);
    }
    this.virtnetNapiEnable();
  }
}
