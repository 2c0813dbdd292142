/**
 * `mainline-3.2buf`: the refill policy of Linux v6.1 (drivers/net/virtio_net.c; kernel-facts.md
 * §1.12) on the v3.2 buffer layouts and ring. `mainline` (mainline_6_1.ts) adds 6.1's buffers and
 * ring to it; this class stays as the base our policies build on, so that a policy differs from its
 * base only in the policy, and to measure what the buffers alone change (docs/results.md).
 *
 * - NAPI_POLL_WEIGHT 64; gfp passed everywhere (patch 1 merged);
 * - virtnet_receive refills once more than min(budget, ring size)/2 descriptors are free;
 * - virtqueue_napi_complete: no `goto again`, a late buffer re-schedules NAPI instead;
 * - refill_work still napi_disable → try_fill_recv(GFP_KERNEL) → virtnet_napi_enable and re-arms
 *   itself HZ/2 later when an allocation failed; but virtnet_napi_enable brackets the schedule
 *   with local_bh_disable/enable, so the poll runs right there instead of at the next tick;
 * - __GFP_NOWARN where 6.1 passes it on these allocations: page_to_skb's napi_alloc_skb kmallocs
 *   its data through kmalloc_reserve, whose first try adds __GFP_NOMEMALLOC | __GFP_NOWARN and
 *   whose warning retry needs pfmemalloc rights a softirq without PF_MEMALLOC lacks
 *   (net/core/skbuff.c). On 3.2's buffers the page allocations keep 3.2's gfp, as the order-0
 *   fallback of 6.1's skb_page_frag_refill does (alloc_page(gfp), net/core/sock.c); get_a_page and
 *   the indirect table's kmalloc pass gfp as 3.2 does.
 * - transmit with napi_tx (6.1's default): virtnet_poll reaps the tx ring first (virtnet_poll_cleantx)
 *   and tx interrupts schedule the tx NAPI (tx.ts).
 */
import { __GFP_NOWARN, GFP_ATOMIC } from "../../../mm/gfp.ts";
import { NAPI_POLL_WEIGHT } from "../../../sched/napi.ts";
import { Patch1 } from "./patch1.ts";

export class Mainline extends Patch1 {
  override readonly version: string = "mainline-3.2buf";

  protected override napiWeight(): number {
    return NAPI_POLL_WEIGHT;
  }

  protected override copySkbDataGfp(): number {
    return GFP_ATOMIC | __GFP_NOWARN;
  }

  protected override needsRefill(budget: number): boolean {
    return this.vq.numFree > Math.min(budget, this.vq.size) / 2;
  }

  override readonly napiTx: boolean = true;

  override virtnetPoll(budget: number): number {
    const napi = this.env.napi;
    this.tx?.pollCleantx();
    this.chargePoll();
    const received = this.receive(budget, 0);
    if (this.needsRefill(budget)) this.refillFromPoll();
    if (received < budget) {
      // virtqueue_napi_complete: enable_cb_prepare, napi_complete_done, then virtqueue_poll.
      const empty = this.vq.enableCb();
      napi.complete(this.napi);
      if (!empty) this.virtqueueNapiSchedule();
    }
    return received;
  }

  protected override virtnetNapiEnable(): void {
    const k = this.k;
    this.env.napi.enable(this.napi);
    k.localBhDisable();
    this.virtqueueNapiSchedule();
    k.localBhEnable();
  }
}
