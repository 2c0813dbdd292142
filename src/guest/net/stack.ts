/**
 * The guest network stack above the driver, reduced to the receive path of TCP flows:
 * netif_receive_skb → ip_rcv → tcp_v4_rcv → the flow's socket (TcpReceiver), with the CPU cost of
 * each step charged to the context that runs it, ACKs sent back through a transmit path whose cost
 * is charged too (the tx virtqueue itself is not modelled), skbs freed when the application has
 * copied their data (or the socket dropped them), and the GFP_ATOMIC skbs tcp_collapse copies into.
 */
import type { PacketPool } from "../../net/packet.ts";
import { GFP_ATOMIC } from "../mm/gfp.ts";
import type { Ns } from "../../sim/time.ts";
import { CAT_TCP } from "../sched/costs.ts";
import type { Kernel } from "../sched/kernel.ts";
import { ALLOC_SITE_TCP_COLLAPSE } from "./mm-port.ts";
import type { SkbPool } from "./skb.ts";
import type { SkbAllocator, SkbReleaser, TcpReceiver } from "./tcp/receiver.ts";
import { TP_KFREE_SKB, TP_NETIF_RECEIVE_SKB } from "../../sim/trace.ts";

export interface StackCosts {
  /** tcp_v4_rcv → tcp_rcv_established per segment. */
  tcpRx: Ns;
  /** tcp_send_ack + start_xmit per ACK. */
  ackTx: Ns;
  /** __kfree_skb per consumed skb. */
  skbFree: Ns;
  /** skb_copy_bits per byte tcp_collapse copies. */
  copyPerByte: Ns;
}

/** Periods without any packet delivered by the driver (model.md §8: ≥ 100 ms by default). */
export class StallTracker {
  count = 0;
  totalNs = 0;
  longestNs = 0;
  /** The first stall's start and end (-1 until one has closed), for the report's close-up. */
  firstStart: Ns = -1;
  firstEnd: Ns = -1;
  private last: Ns;
  constructor(
    private readonly threshold: Ns,
    private readonly from: Ns,
  ) {
    this.last = from;
  }

  delivered(now: Ns): void {
    this.close(now);
    this.last = now;
  }

  /** Closes the gap ending at `now` (call once more at the end of the run). */
  close(now: Ns): void {
    const start = Math.max(this.last, this.from);
    const gap = now - start;
    if (gap >= this.threshold) {
      if (this.count === 0) {
        this.firstStart = start;
        this.firstEnd = now;
      }
      this.count++;
      this.totalNs += gap;
      if (gap > this.longestNs) this.longestNs = gap;
    }
  }
}

export class GuestStack implements SkbReleaser, SkbAllocator {
  /** TCP sockets by flow id. */
  readonly receivers: TcpReceiver[] = [];
  /** Packets the stack dropped because no socket matched. */
  noSocket = 0;
  segmentsIn = 0;
  acksOut = 0;

  constructor(
    private readonly k: Kernel,
    private readonly packets: PacketPool,
    private readonly skbs: SkbPool,
    private readonly costs: StackCosts,
    private readonly transmit: (pkt: number) => void,
    private readonly stalls: StallTracker,
  ) {}

  /** netif_receive_skb: deliver to the flow's socket; the socket now owns the skb. */
  netifReceiveSkb(skb: number): void {
    const k = this.k;
    this.stalls.delivered(k.now);
    k.charge(this.costs.tcpRx, CAT_TCP);
    this.segmentsIn++;
    const pkt = this.skbs.pkt[skb]!;
    const tr = k.sim.trace;
    if (tr.on[TP_NETIF_RECEIVE_SKB] !== 0)
      tr.emit(
        TP_NETIF_RECEIVE_SKB,
        `dev=eth0 skbaddr=skb${skb} len=${this.skbs.len[skb]} flow=${this.packets.flow[pkt]}`,
      );
    const rx = this.receivers[this.packets.flow[pkt]!];
    if (rx === undefined) {
      this.noSocket++;
      // kfree_skb (a drop; skbs the socket has read are consume_skb, which this tracepoint skips).
      if (tr.on[TP_KFREE_SKB] !== 0)
        tr.emit(TP_KFREE_SKB, `skbaddr=skb${skb} protocol=2048 location=netif_receive_skb`);
      this.packets.free(pkt);
      this.freeSkb(skb);
      return;
    }
    rx.receive(pkt, this.skbs.truesize[skb]!, skb);
  }

  /** The socket is done with an skb (read, pruned or dropped): kfree_skb. */
  freeSkb(skb: number): void {
    this.k.charge(this.costs.skbFree, CAT_TCP);
    this.skbs.kfree(skb);
  }

  /** tcp_collapse: alloc_skb(size, GFP_ATOMIC) and the copy of `copy` bytes into it. */
  allocCollapseSkb(size: number, copy: number): number {
    const skb = this.skbs.allocAtomic(size, GFP_ATOMIC, ALLOC_SITE_TCP_COLLAPSE);
    if (skb >= 0) this.k.charge(copy * this.costs.copyPerByte, CAT_TCP);
    return skb;
  }

  /** The socket sends an ACK. */
  sendAck(pkt: number): void {
    this.k.charge(this.costs.ackTx, CAT_TCP);
    this.acksOut++;
    this.transmit(pkt);
  }
}
