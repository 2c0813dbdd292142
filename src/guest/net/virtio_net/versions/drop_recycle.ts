/**
 * `drop-recycle` (ours, never in Linux): every used buffer is replaced before its packet goes up
 * the stack; when the replacement cannot be allocated, the packet is dropped and its own buffer is
 * posted again. The ring never loses a buffer to a failed allocation, so it never runs dry: the
 * loss is one packet per failure instead of everything the host sends until refill_work succeeds.
 *
 * Precedent: the receive loops of NIC drivers since the 1990s, e.g. tg3_rx (drivers/net/ethernet/
 * broadcom/tg3.c): `skb_size = tg3_alloc_rx_data(...); if (skb_size < 0) goto drop_it;` …
 * `drop_it: tg3_recycle_rx(...)`, and b44_rx / bnx2_rx_int the same way.
 *
 * Built on `mainline`: the newest refill rules, with gfp passed everywhere. Its threshold refill
 * and refill_work stay for what recycling cannot cover (a probe that could not fill the ring, a
 * buffer lost to -ENOSPC); while the ring is full they never run, so nothing here reclaims.
 *
 * Cost: each packet allocates its replacement in softirq, one at a time instead of in a batch, and
 * the host is kicked once per poll that posted any. Under pressure the guest drops packets
 * (rx_dropped) that the others would have left queued at the host: `droppedHostCouldQueue` counts
 * the drops made while the host's tap queue had room, each a packet mainline would have delivered
 * (this buffer) or kept waiting at the host (a later one) instead of losing. Every allocation is
 * GFP_ATOMIC | __GFP_NOWARN (a failure is an expected, counted drop, as page_pool_dev_alloc_pages
 * allocates, include/net/page_pool.h), so it never reclaims and never wakes anything that would:
 * with reclaimable memory and kswapd behind, it drops where refill_work would have reclaimed and
 * delivered.
 *
 * Mechanisms: all a kernel has (the tg3 pattern); what a maintainer would object to is the drop.
 */
import { __GFP_NOWARN, GFP_ATOMIC } from "../../../mm/gfp.ts";
import { Mainline } from "./mainline.ts";

export class DropRecycle extends Mainline {
  override readonly version: string = "drop-recycle";
  /** Buffers posted by receiveBuf that the host has not been kicked for yet. */
  private unkicked = 0;
  /** Packets dropped for want of a replacement while the host's tap queue had room. */
  droppedHostCouldQueue = 0;

  override policyCounters(): Record<string, number> {
    return { droppedHostCouldQueue: this.droppedHostCouldQueue };
  }

  protected override receive(budget: number, received: number): number {
    const n = super.receive(budget, received);
    if (this.unkicked > 0) {
      this.unkicked = 0;
      const who = this.enterRing();
      this.kick();
      this.leaveRing(who);
    }
    return n;
  }

  /** Runs inside receive's ring section: allocate the replacement first, as tg3_rx does. */
  protected override receiveBuf(token: number, len: number, pkt: number, numBuf: number): void {
    const fresh = this.allocRecvbufNoWait(GFP_ATOMIC | __GFP_NOWARN);
    if (fresh < 0) {
      // drop_it: dev->stats.rx_dropped++, and the old buffer goes back to the device (the rest
      // of a multi-buffer frame to vi->pages, for the refill to repost).
      this.stats.rxDroppedNoMem++;
      if (this.env.hostQueueHasRoom()) this.droppedHostCouldQueue++;
      this.dropRestOfFrame(numBuf);
      this.env.dropPacket(pkt);
      this.repost(token);
      return;
    }
    super.receiveBuf(token, len, pkt, numBuf);
    this.repost(fresh);
  }

  private repost(token: number): void {
    if (this.postRecvbufNoWait(token, GFP_ATOMIC) < 0) return;
    ++this.num;
    this.unkicked++;
  }
}
