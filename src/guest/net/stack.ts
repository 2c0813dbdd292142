/**
 * The guest network stack above the driver: netif_receive_skb → ip_rcv → tcp_v4_rcv → the flow's
 * socket (TcpReceiver), with the CPU cost of each step charged to the context that runs it; skbs freed
 * when the application has copied their data (or the socket dropped them); the GFP_ATOMIC skbs
 * tcp_collapse copies into; and the transmit entry: ACKs and data frames in skbs allocated through
 * the memory model, handed to dev_queue_xmit (virtio_net/tx.ts) and freed once the host used them;
 * for the guest's own senders (tcp/sender.ts) the write-queue skbs, their clones, and the peers'
 * ACKs dispatched to them by flow.
 */
import type { PacketPool } from "../../net/packet.ts";
import { GFP_ATOMIC } from "../mm/gfp.ts";
import type { Ns } from "../../sim/time.ts";
import { CAT_TCP } from "../sched/costs.ts";
import type { Kernel } from "../sched/kernel.ts";
import type { KernelCode } from "../sched/kernel.ts";
import { ALLOC_SITE_TCP_COLLAPSE, ALLOC_SITE_TCP_SEND_ACK, ALLOC_SITE_TCP_SENDMSG } from "./mm-port.ts";
import type { SkbPool } from "./skb.ts";
import {
  type AckSink,
  MAX_TCP_HEADER,
  type SkbAllocator,
  type SkbReleaser,
  type TcpReceiver,
} from "./tcp/receiver.ts";
import type { GuestTcpSender, TxSkbPort } from "./tcp/sender.ts";
import type { VirtnetTx } from "./virtio_net/tx.ts";
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

export class GuestStack implements SkbReleaser, SkbAllocator, AckSink, TxSkbPort {
  /** TCP sockets by flow id: receiving ones, and sending ones (uploads) whose peers send pure ACKs. */
  readonly receivers: TcpReceiver[] = [];
  readonly senders: GuestTcpSender[] = [];
  /** Packets the stack dropped because no socket matched. */
  noSocket = 0;
  segmentsIn = 0;
  acksOut = 0;

  constructor(
    private readonly k: Kernel,
    private readonly packets: PacketPool,
    private readonly skbs: SkbPool,
    private readonly costs: StackCosts,
    private readonly tx: VirtnetTx,
    private readonly stalls: StallTracker,
    /** The network beyond the host, for ACKs without skbs (guest.tcp.ackSkbs false). */
    private readonly bypass: (pkt: number) => void,
  ) {}

  /** ACKs without skbs: CPU cost only, straight to the host's network (guest.tcp.ackSkbs false). */
  readonly acksWithoutSkbs: AckSink = {
    sendAck: (pkt) => {
      this.k.charge(this.costs.ackTx, CAT_TCP);
      this.acksOut++;
      this.bypass(pkt);
    },
  };

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
    const flow = this.packets.flow[pkt]!;
    const rx = this.receivers[flow];
    if (rx === undefined) {
      const snd = this.senders[flow];
      if (snd !== undefined) {
        // tcp_rcv_established: a pure ACK is processed and its skb freed (__kfree_skb).
        snd.ackReceived(pkt);
        this.freeSkb(skb);
        return;
      }
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

  /**
   * tcp_send_ack's alloc_skb(MAX_TCP_HEADER, GFP_ATOMIC) (net/ipv4/tcp_output.c, v3.2): a head from
   * skbuff_head_cache and SKB_DATA_ALIGN(304) + 384 = 704 bytes from kmalloc-1024.
   */
  allocAckSkb(): number {
    return this.skbs.allocAtomic(MAX_TCP_HEADER, GFP_ATOMIC, ALLOC_SITE_TCP_SEND_ACK);
  }

  /** The socket sends an ACK built in `skb`. */
  sendAck(pkt: number, skb: number): void {
    this.k.charge(this.costs.ackTx, CAT_TCP);
    this.acksOut++;
    this.xmit(pkt, skb);
  }

  /**
   * sk_stream_alloc_skb's alloc_skb_fclone(size, gfp) for a data segment the guest will send: an skb
   * id, or -1. Sleeps only when gfp allows; `site` is an ALLOC_SITE_*.
   */
  allocTxSkb(size: number, gfp: number, site: number): KernelCode<number> {
    // The pool's generator itself: a delegating generator here would be one more object per skb.
    return this.skbs.allocFclone(size, gfp, site);
  }

  truesize(skb: number): number {
    return this.skbs.truesize[skb]!;
  }

  /** tcp_transmit_skb's skb_clone(skb, GFP_ATOMIC) (3.2 passes GFP_ATOMIC from tcp_write_xmit's callers). */
  cloneTxSkb(skb: number): number {
    return this.skbs.clone(skb, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG);
  }

  /** tcp_transmit_skb + dev_queue_xmit of a data frame in a clone. */
  xmitData(pkt: number, skb: number): void {
    this.k.charge(this.costs.ackTx, CAT_TCP);
    this.xmit(pkt, skb);
  }

  /** sk_wmem_free_skb: an acknowledged write-queue skb. */
  freeTxSkb(skb: number): void {
    this.freeSkb(skb);
  }

  /**
   * The guest transmits the frame `pkt` built in `skb` (from allocTxSkb or allocAckSkb):
   * dev_queue_xmit, which owns the skb from here (freed after the host used it, or dropped).
   */
  xmit(pkt: number, skb: number): void {
    this.skbs.pkt[skb] = pkt;
    this.skbs.len[skb] = this.packets.wireLen[pkt]!;
    this.tx.devQueueXmit(skb);
  }
}
