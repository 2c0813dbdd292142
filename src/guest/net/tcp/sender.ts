/**
 * The guest's TCP send side of one established connection, after Linux 3.2 net/ipv4/tcp.c
 * (tcp_sendmsg), tcp_output.c (tcp_write_xmit, tcp_transmit_skb) and tcp_input.c (tcp_ack,
 * tcp_clean_rtx_queue, tcp_check_space / tcp_new_space), net/core/stream.c (sk_stream_wait_memory,
 * sk_stream_write_space) and net/core/skbuff.c (skb_clone).
 *
 * - tcp_sendmsg (process context): data is copied into skbs from sk_stream_alloc_skb(select_size(),
 *   sk->sk_allocation = GFP_KERNEL), which may reclaim. The guest's device has no NETIF_F_SG (no
 *   VIRTIO_NET_F_CSUM in the model), so select_size() is mss_cache and each skb carries one MSS:
 *   alloc_skb_fclone(1448 + MAX_TCP_HEADER) takes kmalloc-4096, truesize 4352. Each skb is charged
 *   to sk_wmem_queued; a new one is allocated only while sk_wmem_queued < sk_sndbuf
 *   (sk_stream_memory_free), else the writer sleeps in sk_stream_wait_memory until
 *   sk_stream_write_space wakes it. A failed allocation also waits (vm_wait: 2 + random() % (HZ/5)
 *   jiffies).
 * - tcp_write_xmit / tcp_retransmit_skb and the retransmission timer are those of the remote sender
 *   (src/net/tcp-sender.ts: CUBIC with HyStart, SACK/FACK recovery with PRR, RTO), run here in the
 *   guest: every frame is an skb_clone of its write-queue skb, GFP_ATOMIC (3.2's
 *   __tcp_push_pending_frames and tcp_retransmit_skb pass GFP_ATOMIC), handed to dev_queue_xmit and
 *   freed by the driver once the host used it. The first clone of an skb is its fclone companion and
 *   allocates nothing; a clone while the companion is still on the tx ring takes an skbuff_head_cache
 *   object and can fail: the segment stays queued and goes out at the next ACK or timer (an RTO that
 *   fails re-arms after min(RTO, TCP_RESOURCE_PROBE_INTERVAL) without backing off).
 * - tcp_ack → tcp_clean_rtx_queue: skbs fully acknowledged are unlinked and freed
 *   (sk_wmem_free_skb), sk_wmem_queued uncharged; then tcp_check_space → tcp_new_space grows
 *   sk_sndbuf (tcp_should_expand_sndbuf: not locked, no tcp_memory_pressure, tcp_memory_allocated
 *   below tcp_mem[0], packets_out < snd_cwnd) to 2 · max(snd_cwnd, reordering + 1) per-segment
 *   sndmem, and sk_stream_write_space wakes writers once a third of sk_sndbuf is free
 *   (sk_stream_wspace ≥ sk_stream_min_wspace).
 * - On 6.1's rules (guest.kernel 6.1) sk_sndbuf follows tcp_sndbuf_expand instead, at
 *   tcp_init_buffer_space and in tcp_new_space: 2 × max(TCP_INIT_CWND, snd_cwnd, reordering + 1)
 *   segments of a power-of-two head each (4352 bytes), with tcp_packets_in_flight in the test.
 *
 * Not modelled: Nagle's exception for an idle connection (a partly filled tail skb always waits for
 * the next send() to fill it: the uploader writes whole blocks continuously), forced_push and
 * tcp_push_one (frames leave at tcp_push, at the end of send() and before it sleeps), lock_sock's
 * backlog (ACKs are processed at once; the send path runs with bottom halves off, as dev_queue_xmit
 * does), tcp_memory_allocated charges of the write queue, TSO/GSO.
 */
import {
  TCP_FASTRETRANS_THRESH,
  TCP_INIT_CWND,
  TcpSender,
  type SegmentXmit,
  type TcpSenderCounters,
} from "../../../net/tcp-sender.ts";
import type { CongestionName } from "../../../net/tcp-cong.ts";
import type { Rng } from "../../../sim/rng.ts";
import type { PacketSink } from "../../../net/link.ts";
import { MSS_ETH, type PacketPool } from "../../../net/packet.ts";
import { ModelError, type Simulator } from "../../../sim/simulator.ts";
import type { Ns } from "../../../sim/time.ts";
import { GFP_KERNEL } from "../../mm/gfp.ts";
import { CAT_TCP } from "../../sched/costs.ts";
import { type Kernel, type KernelCode, WaitQueue } from "../../sched/kernel.ts";
import { ALLOC_SITE_TCP_SENDMSG } from "../mm-port.ts";
import { SKB_HEAD_ALIGNED, SKB_SHINFO_6_1, SKB_SHINFO_ALIGNED } from "../skb.ts";
import { MAX_TCP_HEADER } from "./receiver.ts";
import type { TcpMem } from "./tcp-mem.ts";

/** The peer's MSS option (rx_opt.mss_clamp). */
const MSS_CLAMP = MSS_ETH;

/** SKB_TRUESIZE(X) (include/linux/skbuff.h, v3.2): X + the aligned sk_buff and skb_shared_info. */
function skbTruesize(x: number): number {
  return x + SKB_HEAD_ALIGNED + SKB_SHINFO_ALIGNED;
}
/** The per-segment memory tcp_fixup_sndbuf and tcp_new_space budget: SKB_TRUESIZE(mss_clamp + MAX_TCP_HEADER). */
export const TCP_SNDMEM = skbTruesize(MSS_CLAMP + MAX_TCP_HEADER);

/** MAX_TCP_HEADER in v6.1: L1_CACHE_ALIGN(128 + MAX_HEADER) (include/net/tcp.h), 304 rounded to 64. */
const MAX_TCP_HEADER_6_1 = 320;

/**
 * tcp_sndbuf_expand's per-segment budget (net/ipv4/tcp_input.c, v6.1), "worst case is non GSO/TSO:
 * each frame consumes one skb and skb->head is kmalloced using power of two area of memory":
 * roundup_pow_of_two(mss_clamp + MAX_TCP_HEADER + SKB_DATA_ALIGN(sizeof(struct skb_shared_info)))
 * + SKB_DATA_ALIGN(sizeof(struct sk_buff)) = 4096 + 256.
 */
export const TCP_SNDMEM_6_1 =
  2 ** Math.ceil(Math.log2(MSS_CLAMP + MAX_TCP_HEADER_6_1 + SKB_SHINFO_6_1)) + SKB_HEAD_ALIGNED;

/** Frames leave through TxSkbPort.xmit; TcpSender's own sink is never used. */
const NO_SINK: PacketSink = {
  receive(pkt) {
    throw new ModelError(`guest TCP sender: packet ${pkt} bypassed the transmit path`);
  },
};

/** What the sender needs from the guest stack. */
export interface TxSkbPort {
  /** sk_stream_alloc_skb: alloc_skb_fclone(size, gfp); may sleep when gfp allows. An skb id, or -1. */
  allocTxSkb(size: number, gfp: number, site: number): KernelCode<number>;
  /** skb->truesize */
  truesize(skb: number): number;
  /** tcp_transmit_skb's skb_clone(skb, GFP_ATOMIC): the clone, or -1. */
  cloneTxSkb(skb: number): number;
  /** dev_queue_xmit of frame `pkt` built in `skb` (a clone); charges the transmit's CPU. */
  xmitData(pkt: number, skb: number): void;
  /** sk_wmem_free_skb → __kfree_skb of a write-queue skb. */
  freeTxSkb(skb: number): void;
}

export interface GuestTcpSenderOptions {
  flow: number;
  /** The guest's HZ. */
  hz: number;
  cc?: CongestionName;
  hystart?: boolean;
  sack?: boolean;
  /** The handshake negotiated timestamps (net.ipv4.tcp_timestamps); default true. */
  timestamps?: boolean;
  /** An RTT sample from the handshake, seeding the RTO. */
  handshakeRttNs?: Ns;
  /** sysctl_tcp_wmem[1] (initial sk_sndbuf) and [2] (what tcp_fixup_sndbuf and tcp_new_space may reach). */
  wmemDefault: number;
  wmemMax: number;
  /** SOCK_SNDBUF_LOCK: sk_sndbuf set by SO_SNDBUF, never grown. */
  sndbufLocked?: boolean;
  /** 6.1's send-buffer rules (KernelEraParams.tcpSender61): tcp_sndbuf_expand; else 3.2's. */
  sender61?: boolean;
  /** The guest-wide TCP memory state, read by tcp_should_expand_sndbuf. */
  tcpMem?: TcpMem;
  /** CPU per byte tcp_sendmsg copies from the user. */
  copyPerByte: number;
  /** sk_sleep: where writers wait for memory (may be shared by a client's sockets). */
  writeWait?: WaitQueue;
  /** vm_wait's random part (sk_stream_wait_memory). */
  rng: Rng;
  /** Runs the retransmission timer in the guest's timer softirq. */
  timerContext?: (expire: () => void) => void;
}

export class GuestTcpSenderCounters {
  /** Bytes the application handed to send() and tcp_sendmsg copied. */
  bytesWritten = 0;
  /** The most sk_wmem_queued reached, bytes. */
  wmemQueuedHighWater = 0;
  /** sk_stream_wait_memory sleeps because sk_wmem_queued reached sk_sndbuf (SOCK_NOSPACE). */
  sndbufWaits = 0;
  /** sk_stream_alloc_skb failures (wait_for_memory). */
  allocFailures = 0;
  /** Write-queue skbs freed by tcp_clean_rtx_queue. */
  skbsAcked = 0;
}

export class GuestTcpSender implements SegmentXmit {
  readonly tcp: TcpSender;
  readonly counters = new GuestTcpSenderCounters();
  readonly flow: number;
  readonly mss: number;
  /** sk_sndbuf and sk_wmem_queued, bytes. */
  sndbuf: number;
  wmemQueued = 0;
  readonly writeWait: WaitQueue;
  /** The write queue: skb ids by segment number (ring), from the first unacknowledged one. */
  private ring = new Int32Array(64);
  private ringMask = 63;
  /** Segments freed by tcp_clean_rtx_queue; segments queued whole to tcp_write_xmit. */
  private cleaned = 0;
  private written = 0;
  /** The partly filled tail skb (tcp_write_queue_tail while it is short of size_goal), or -1. */
  private tailSkb = -1;
  private tailLen = 0;
  private readonly wmemMax: number;
  private readonly locked: boolean;
  private readonly sender61: boolean;
  private readonly sim: Simulator;
  private readonly establishEvent: number;
  private readonly vmWaitSpan: number;

  constructor(
    private readonly k: Kernel,
    private readonly port: TxSkbPort,
    sim: Simulator,
    packets: PacketPool,
    private readonly opts: GuestTcpSenderOptions,
  ) {
    this.flow = opts.flow;
    this.writeWait = opts.writeWait ?? new WaitQueue(`tcp.${opts.flow}.sk_sleep`);
    this.tcp = new TcpSender(sim, packets, NO_SINK, {
      flow: opts.flow,
      hz: opts.hz,
      ...(opts.cc !== undefined && { cc: opts.cc }),
      ...(opts.hystart !== undefined && { hystart: opts.hystart }),
      ...(opts.sack !== undefined && { sack: opts.sack }),
      ...(opts.timestamps !== undefined && { timestamps: opts.timestamps }),
      ...(opts.handshakeRttNs !== undefined && { handshakeRttNs: opts.handshakeRttNs }),
      xmit: this,
      ...(opts.timerContext !== undefined && { timerContext: opts.timerContext }),
    });
    this.mss = this.tcp.mss;
    this.wmemMax = opts.wmemMax;
    this.locked = opts.sndbufLocked === true;
    this.sender61 = opts.sender61 === true;
    // tcp_init_buffer_space, unless locked: 3.2's tcp_fixup_sndbuf makes room for TCP_INIT_CWND (10)
    // segments; 6.1's tcp_sndbuf_expand for twice that many power-of-two heads.
    this.sndbuf = opts.wmemDefault;
    if (!this.locked) {
      if (this.sender61) this.sndbufExpand();
      else if (this.sndbuf < TCP_SNDMEM * TCP_INIT_CWND)
        this.sndbuf = Math.min(TCP_SNDMEM * TCP_INIT_CWND, opts.wmemMax);
    }
    this.vmWaitSpan = Math.floor(opts.hz / 5);
    this.sim = sim;
    const tcp = this.tcp;
    const establish = () => tcp.establish();
    const softirq = opts.timerContext;
    this.establishEvent = sim.register(`tcp.${opts.flow}.established`, () =>
      softirq === undefined ? establish() : softirq(establish),
    );
  }

  /**
   * The connection is established at `at`: the SYN-ACK's softirq (tcp_rcv_synsent_state_process →
   * tcp_finish_connect) initialises congestion control and pushes what tcp_sendmsg queued, so the
   * clones' transmit costs land on the guest's CPU.
   */
  start(at: Ns): void {
    this.sim.at(at, this.establishEvent);
  }

  get tcpCounters(): TcpSenderCounters {
    return this.tcp.counters;
  }

  /** Skbs on the write queue (unacknowledged, unsent and the partial tail). */
  get queuedSkbs(): number {
    return this.written - this.cleaned + (this.tailSkb >= 0 ? 1 : 0);
  }

  /** sk_stream_memory_free */
  private memoryFree(): boolean {
    return this.wmemQueued < this.sndbuf;
  }

  /** tcp_push, with bottom halves off as dev_queue_xmit's rcu_read_lock_bh has them. */
  private push(): void {
    this.k.localBhDisable();
    this.tcp.push();
    this.k.localBhEnable();
  }

  /**
   * send(fd, buf, bytes, 0) → tcp_sendmsg: copies all `bytes` into the write queue, sleeping in
   * sk_stream_wait_memory whenever the socket's send buffer or the allocator refuses. Returns bytes.
   */
  *sendmsg(bytes: number): KernelCode<number> {
    const k = this.k;
    const mss = this.mss;
    let copied = 0;
    while (copied < bytes) {
      if (this.tailSkb < 0) {
        // new_segment
        if (!this.memoryFree()) {
          this.counters.sndbufWaits++;
          if (copied > 0) {
            this.push();
            // sk_stream_wait_memory checks again after prepare_to_wait: the softirqs that ran when
            // the push re-enabled bottom halves may have freed the queue already.
            if (this.memoryFree()) continue;
          }
          yield k.waitOn(this.writeWait);
          continue;
        }
        // sk_stream_alloc_skb: size = ALIGN(select_size(), 4), plus max_header
        const skb = yield* this.port.allocTxSkb(
          ((mss + 3) & ~3) + MAX_TCP_HEADER,
          GFP_KERNEL,
          ALLOC_SITE_TCP_SENDMSG,
        );
        if (skb < 0) {
          this.counters.allocFailures++;
          if (copied > 0) this.push();
          yield k.waitOn(this.writeWait, 2 + this.opts.rng.int(this.vmWaitSpan));
          continue;
        }
        // skb_entail: sk_wmem_queued += truesize
        this.wmemQueued += this.port.truesize(skb);
        if (this.wmemQueued > this.counters.wmemQueuedHighWater)
          this.counters.wmemQueuedHighWater = this.wmemQueued;
        if (this.written - this.cleaned > this.ringMask) this.growRing();
        this.ring[this.written & this.ringMask] = skb;
        this.tailSkb = skb;
        this.tailLen = 0;
      }
      const copy = Math.min(mss - this.tailLen, bytes - copied);
      this.tailLen += copy;
      copied += copy;
      k.charge(copy * this.opts.copyPerByte, CAT_TCP);
      if (this.tailLen === mss) {
        this.tailSkb = -1;
        this.written++;
        this.tcp.queueSegments(1);
      }
    }
    this.counters.bytesWritten += copied;
    this.push();
    yield k.cpu();
    return copied;
  }

  /** SegmentXmit: skb_clone of segment `seg`'s skb. */
  clone(seg: number): number {
    return this.port.cloneTxSkb(this.ring[seg & this.ringMask]!);
  }

  /** SegmentXmit: the clone leaves through dev_queue_xmit. */
  send(pkt: number, clone: number): void {
    this.port.xmitData(pkt, clone);
  }

  /**
   * A pure ACK from the peer (tcp_rcv_established → tcp_ack, which frees the packet; then
   * tcp_data_snd_check sends what the ACK allows), tcp_clean_rtx_queue's frees and tcp_check_space.
   */
  ackReceived(pkt: number): void {
    this.tcp.receive(pkt);
    const una = this.tcp.unaSegs;
    if (una === this.cleaned) return;
    for (; this.cleaned < una; this.cleaned++) {
      const skb = this.ring[this.cleaned & this.ringMask]!;
      this.wmemQueued -= this.port.truesize(skb);
      this.port.freeTxSkb(skb);
      this.counters.skbsAcked++;
    }
    this.checkSpace();
  }

  /** tcp_check_space (SOCK_QUEUE_SHRUNK was set) → tcp_new_space → sk_stream_write_space. */
  private checkSpace(): void {
    if (this.shouldExpandSndbuf()) this.sndbufExpand();
    // sk_stream_write_space: sk_stream_wspace >= sk_stream_min_wspace (sk_wmem_queued / 2)
    if (this.sndbuf - this.wmemQueued >= this.wmemQueued >> 1) this.k.wakeAll(this.writeWait);
  }

  /**
   * Grows sk_sndbuf, never shrinks it, up to tcp_wmem[2]: 2 × the segments cwnd may demand, each
   * of its per-segment memory. 3.2's tcp_new_space: max(snd_cwnd, reordering + 1) segments of
   * TCP_SNDMEM. 6.1's tcp_sndbuf_expand (net/ipv4/tcp_input.c; 2 because CUBIC has no sndbuf_expand
   * op): at least TCP_INIT_CWND segments, of TCP_SNDMEM_6_1. tp->reordering stays
   * sysctl_tcp_reordering = TCP_FASTRETRANS_THRESH (tcp-sender.ts).
   */
  private sndbufExpand(): void {
    const demanded = Math.max(this.tcp.cwnd, TCP_FASTRETRANS_THRESH + 1);
    const sndmem = this.sender61
      ? 2 * Math.max(TCP_INIT_CWND, demanded) * TCP_SNDMEM_6_1
      : 2 * demanded * TCP_SNDMEM;
    if (this.sndbuf < sndmem) this.sndbuf = Math.min(sndmem, this.wmemMax);
  }

  /**
   * tcp_should_expand_sndbuf (net/ipv4/tcp_input.c): not locked, no tcp_memory_pressure,
   * tcp_memory_allocated below tcp_mem[0], and the window not full — 3.2 counts packets_out, 6.1
   * tcp_packets_in_flight.
   */
  private shouldExpandSndbuf(): boolean {
    if (this.locked) return false;
    const mem = this.opts.tcpMem;
    if (mem !== undefined && (mem.pressure || mem.allocated >= mem.mem[0])) return false;
    return (this.sender61 ? this.tcp.inFlight() : this.tcp.packetsOut) < this.tcp.cwnd;
  }

  private growRing(): void {
    const cap = (this.ringMask + 1) * 2;
    const ring = new Int32Array(cap);
    for (let s = this.cleaned; s <= this.written; s++) ring[s & (cap - 1)] = this.ring[s & this.ringMask]!;
    this.ring = ring;
    this.ringMask = cap - 1;
  }
}
