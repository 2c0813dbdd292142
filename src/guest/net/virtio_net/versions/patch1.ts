/**
 * `patch1`: seed patch 1/2, "virtio_net: Pass gfp flags when allocating rx buffers" (merged).
 *
 *   -	skb = netdev_alloc_skb_ip_align(vi->dev, MAX_PACKET_LEN);
 *   +	skb = __netdev_alloc_skb_ip_align(vi->dev, MAX_PACKET_LEN, gfp);
 *
 * refill_work's GFP_KERNEL now reaches the skb allocation, so the worker can reclaim.
 */
import { V3_2 } from "./v3_2.ts";

export class Patch1 extends V3_2 {
  override readonly version: string = "patch1";

  protected override smallSkbGfp(gfp: number): number {
    return gfp;
  }
}
