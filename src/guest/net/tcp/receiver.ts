/**
 * The guest's TCP receive side of one established connection, after Linux 3.2 net/ipv4/tcp_input.c
 * and tcp_output.c (window selection, ACK sending).
 *
 * - tcp_data_queue: in-order segments go to the receive queue (charged by skb truesize to
 *   sk_rmem_alloc, skb_set_owner_r), out-of-order ones to the out-of-order queue with SACK blocks
 *   kept most recent first (tcp_sack_new_ofo_skb, tcp_sack_maybe_coalesce, tcp_sack_remove; the
 *   wire carries up to 3 beside timestamps). Memory: tcp_try_rmem_schedule (sk_rcvbuf, and
 *   sk_rmem_schedule against the guest-wide tcp_mem of tcp-mem.ts) → tcp_prune_queue
 *   (tcp_clamp_window, which grows an unlocked sk_rcvbuf up to tcp_rmem[2] when TCP memory is not
 *   under pressure; tcp_collapse_ofo_queue and tcp_collapse, which copy the queues into tight skbs
 *   allocated with GFP_ATOMIC; only then tcp_prune_ofo_queue; then drop).
 * - ACK policy: tcp_event_data_recv (ATO estimation, quick-ack credit from tcp_incr_quickack,
 *   tcp_grow_window), __tcp_ack_snd_check (ACK now if more than one rcv_mss is unacknowledged and
 *   the window would not shrink, in quick-ack mode, or with out-of-order data; else
 *   tcp_send_delayed_ack), tcp_delack_timer (ATO inflation), tcp_cleanup_rbuf (window-update ACK
 *   when a read at least doubles the window), tcp_send_dupack (immediate ACK for old or
 *   out-of-window segments and zero-window probes).
 * - Window: __tcp_select_window / tcp_select_window: free space tcp_win_from_space(rcvbuf − rmem),
 *   limited by rcv_ssthresh and window_clamp, rounded up to the window-scale unit, zero below one
 *   rcv_mss, and never moving the right edge left (RFC 7323 §2.4).
 * - Timestamps: ts_recent is the TSval of the segment at rcv_wup (tcp_replace_ts_recent), echoed in
 *   every ACK, so the sender's RTT samples follow RFC 7323.
 * - Receive-buffer autotuning (sysctl_tcp_moderate_rcvbuf = 1): the receiver's RTT estimate
 *   rcv_rtt_est from tcp_rcv_rtt_measure (the time one advertised window takes to arrive; samples
 *   only lower the estimate), called from tcp_event_data_recv, and tcp_rcv_rtt_measure_ts (the
 *   segment's TSecr; an EWMA with gain 1/8), called for every accepted segment; tcp_rcv_space_adjust,
 *   called by tcp_recvmsg after each chunk copied: once per estimated RTT it sets sk_rcvbuf to
 *   (2 · bytes read in that RTT) / advmss · rcvmem, at most tcp_rmem[2], and window_clamp to
 *   2 · bytes read, so tcp_grow_window can open rcv_ssthresh further.
 *
 *   Under tcp_memory_pressure, tcp_grow_window and tcp_clamp_window stop growing the window and the
 *   buffer and __tcp_select_window clamps rcv_ssthresh to 4·advmss; 3.2's tcp_rcv_space_adjust has
 *   no such check, so autotuning still raises sk_rcvbuf.
 *
 * Not modelled: tcp_fixup_rcvbuf (it raises sk_rcvbuf to a few rcvmem, far below tcp_rmem[1], so it
 * only matters for tiny unlocked buffers), D-SACK, the socket backlog (TCPBackLogDrop belongs to
 * whoever models socket ownership), prequeue, PUSH-flag heuristics, and pingpong (interactive) mode,
 * since this end never sends data.
 *
 * Segments and ACKs are packet indices in a PacketPool; the receiver frees every packet it is given
 * and allocates the ACKs it sends. The guest's sk_buff for each segment is an opaque id that comes
 * back through SkbReleaser when it is read or dropped, so the memory model can free its pages.
 */
import {
  ackWireBytes,
  MAX_SACK_BLOCKS_NO_TS,
  MAX_SACK_BLOCKS_WITH_TS,
  MSS_ETH,
  PKT_ACK,
  PKT_DATA,
  type PacketPool,
  TCP_NUM_SACKS,
  TCPOLEN_TSTAMP_ALIGNED,
} from "../../../net/packet.ts";
import type { Simulator } from "../../../sim/simulator.ts";
import { TP_KFREE_SKB, TP_TIMER_EXPIRE_ENTRY, TP_TIMER_START } from "../../../sim/trace.ts";
import { Jiffies, type Ns } from "../../../sim/time.ts";
import { allocSkbTruesize, SKB_HEAD_ALIGNED, SKB_SHINFO_ALIGNED } from "../skb.ts";
import { SK_MEM_QUANTUM, TcpMem } from "./tcp-mem.ts";

/** The guest's transmit path for ACKs; the guest model charges its CPU cost. */
export interface AckSink {
  /**
   * tcp_send_ack's alloc_skb(MAX_TCP_HEADER, GFP_ATOMIC): an skb id, or -1 when it fails. Absent:
   * ACKs need no memory (standalone receivers in tests and the testbed).
   */
  allocAckSkb?(): number;
  /** tcp_transmit_skb of the ACK `pkt` built in `skb` (-1 without allocAckSkb). */
  sendAck(pkt: number, skb: number): void;
}

/**
 * Frees the guest's sk_buffs: every skb handed to TcpReceiver.receive comes back exactly once —
 * when the application has read all of it (sk_eat_skb), or when TCP drops it (duplicate, out of
 * window, no memory, out-of-order queue pruned).
 */
export interface SkbReleaser {
  freeSkb(skb: number): void;
}

/** Where tcp_collapse gets its skbs. */
export interface SkbAllocator {
  /**
   * alloc_skb(size, GFP_ATOMIC), into which tcp_collapse then copies `copy` bytes of queued data:
   * an skb id, or -1 when the allocation fails. Its truesize is allocSkbTruesize(size).
   */
  allocCollapseSkb(size: number, copy: number): number;
}

/** include/net/tcp.h TCP_MAX_QUICKACKS */
export const TCP_MAX_QUICKACKS = 16;
/** include/net/tcp.h TCP_MSS_DEFAULT: the initial rcv_mss guess (tcp_initialize_rcv_mss). */
export const TCP_MSS_DEFAULT = 536;
/** sysctl_tcp_rmem[1] in 3.2 (net/ipv4/tcp.c tcp_init). */
export const TCP_RMEM_DEFAULT = 87380;
/** sysctl_tcp_rmem[2] in 3.2.0 when memory is plentiful: max(87380, min(4 MB, tcp_mem[1] << …)). */
export const TCP_RMEM_MAX = 4 * 1024 * 1024;
/** sysctl_tcp_adv_win_scale = 2 in 3.2.0 (1 from 3.4 and in 3.2.71 by backport). */
export const TCP_ADV_WIN_SCALE = 2;
/** include/net/tcp.h TCP_DEFAULT_INIT_RCVWND: initial window in MSS (tcp_select_initial_window). */
const TCP_DEFAULT_INIT_RCVWND = 10;
/** include/net/tcp.h TCP_INIT_CWND (v6.1): caps 6.1's first rcvq_space.space in segments. */
const TCP_INIT_CWND = 10;
/** U16_MAX: tcp_select_initial_window's cap on the unscaled initial window (v6.1). */
const U16_MAX = 65535;
/**
 * include/net/tcp.h MAX_TCP_HEADER = 128 + MAX_HEADER; include/linux/netdevice.h MAX_HEADER =
 * LL_MAX_HEADER + 48 when IP tunnels are built, LL_MAX_HEADER = 128 with CONFIG_WLAN and
 * CONFIG_MAC80211_MESH: a distribution kernel's configuration (a minimal one gives 128 + 32).
 */
export const MAX_TCP_HEADER = 128 + 128 + 48;
/**
 * skb_headroom of a received segment once TCP has it, which tcp_collapse keeps in every skb it
 * builds: NET_SKB_PAD = max(32, L1_CACHE_BYTES) = 64 reserved by netdev_alloc_skb_ip_align
 * (NET_IP_ALIGN is 0 on x86), then ETH_HLEN 14, struct iphdr 20 and struct tcphdr 20 pulled.
 */
const RX_HEADROOM_NO_OPTIONS = 64 + 14 + 20 + 20;
/** PAGE_SIZE: tcp_collapse fills order-0 allocations (SKB_MAX_ORDER(header, 0)). */
const PAGE_SIZE = 4096;

/** TCP_ATO_MIN = TCP_DELACK_MIN = HZ/25, at least 4 jiffies (include/net/tcp.h). */
export function tcpAtoMin(hz: number): number {
  return hz >= 100 ? Math.floor(hz / 25) : 4;
}

/**
 * tcp_win_from_space (include/net/tcp.h): the share of buffer space offered as window. The kernel
 * shifts an int; truncating and dividing by 2^scale with floor is the same for every int and stays
 * exact for the larger spaces tcpRcvmem may reach, where a 32-bit `>>` would wrap.
 */
export function tcpWinFromSpace(space: number, advWinScale = TCP_ADV_WIN_SCALE): number {
  const scale = advWinScale < 0 ? -advWinScale : advWinScale;
  // Within int32 (every space of a run but the largest tcpRcvmem), `>>` is that floor division
  // (ToInt32 truncates, an arithmetic shift floors): this is called several times per segment.
  const shifted =
    space >= -0x80000000 && space < 0x80000000 && scale < 32
      ? space >> scale
      : Math.floor(Math.trunc(space) / 2 ** scale);
  return advWinScale <= 0 ? shifted : space - shifted;
}

/** SKB_TRUESIZE (include/linux/skbuff.h, v3.2): the least truesize of an skb holding x bytes. */
export function skbTruesize(x: number): number {
  return x + SKB_HEAD_ALIGNED + SKB_SHINFO_ALIGNED;
}

/**
 * The memory tcp_rcv_space_adjust budgets per advmss of window: SKB_TRUESIZE(advmss +
 * MAX_TCP_HEADER), raised in steps of 128 until its window share covers one advmss.
 */
export function tcpRcvmem(advmss: number, advWinScale = TCP_ADV_WIN_SCALE): number {
  let rcvmem = skbTruesize(advmss + MAX_TCP_HEADER);
  if (advWinScale <= 0) {
    // The window is rcvmem >> -scale: jump to the first step of 128 at or above advmss << -scale
    // instead of taking up to advmss · 2^-scale / 128 steps.
    const need = advmss * 2 ** -advWinScale;
    if (rcvmem < need) rcvmem += Math.ceil((need - rcvmem) / 128) * 128;
    return rcvmem;
  }
  // A positive scale offers at least half of rcvmem, so this ends within advmss / 64 steps.
  while (tcpWinFromSpace(rcvmem, advWinScale) < advmss) rcvmem += 128;
  return rcvmem;
}

/** tcp_select_initial_window: the scale that lets the window cover tcp_rmem[2]. */
export function tcpWindowScale(rmemMax: number): number {
  let space = rmemMax;
  let wscale = 0;
  while (space > 65535 && wscale < 14) {
    space >>= 1;
    wscale++;
  }
  return wscale;
}

export interface TcpReceiverOptions {
  flow: number;
  /** The guest's HZ (delayed-ACK timer, ATO). */
  hz?: number;
  /** sk_rcvbuf (default tcp_rmem[1]). */
  rcvbuf?: number;
  /** tcp_rmem[2], the ceiling for sk_rcvbuf growth. */
  rmemMax?: number;
  /** The guest's TCP memory accounting, shared by its sockets (default: this socket's own, unlimited). */
  tcpMem?: TcpMem;
  /** Where tcp_collapse allocates (default none: collapsing then finds no memory). */
  alloc?: SkbAllocator;
  /**
   * The handshake negotiated timestamps (net.ipv4.tcp_timestamps, default 1): segments and ACKs
   * carry the option; it sets advmss, the collapsed skbs' headroom and how many SACK blocks an ACK
   * holds.
   */
  timestamps?: boolean;
  /** SOCK_RCVBUF_LOCK: the application set SO_RCVBUF, so the kernel never grows it. */
  userLocked?: boolean;
  /** sysctl net.ipv4.tcp_moderate_rcvbuf (default on, as in 3.2): receive-buffer autotuning. */
  moderateRcvbuf?: boolean;
  advWinScale?: number;
  /**
   * 6.1's receiver rules (kernel-era.ts tcpReceiver61): tcp_select_initial_window without 3.2's
   * TCP_DEFAULT_INIT_RCVWND clamp, rcvq_space.space starting at min3(rcv_ssthresh, rcv_wnd,
   * TCP_INIT_CWND × advmss), and tcp_rcv_space_adjust's v4.19+ sizing. Default false (3.2).
   */
  receiver61?: boolean;
  /**
   * tp->advmss: dst_metric_advmss (1460), less TCPOLEN_TSTAMP_ALIGNED once the handshake
   * negotiated timestamps (tcp_rcv_state_process); default 1448 with timestamps, 1460 without.
   */
  advmss?: number;
  /** ACK every second full segment / on the timer (true), or every segment (validation). */
  delayedAck?: boolean;
  sack?: boolean;
  /** An RTT sample from the handshake: sets srtt and icsk_rto as tcp_rtt_estimator would. */
  handshakeRttNs?: Ns;
  /** Where consumed and dropped skbs go (kfree_skb); without it skb ids are ignored. */
  release?: SkbReleaser;
  /**
   * Runs the delayed-ACK timer's expiry in the guest's timer context (run_timer_softirq, e.g.
   * Kernel.timerSoftirq), so the ACK it sends is charged to a CPU; without it the expiry runs bare.
   */
  timerContext?: (expire: () => void) => void;
}

export class TcpReceiverCounters {
  segsIn = 0;
  /** Bytes that became readable in order (rcv_nxt advance). */
  bytesDelivered = 0;
  /** Bytes the application read. */
  bytesRead = 0;
  acksSent = 0;
  /** TcpExt DelayedACKs: ACKs sent by the delayed-ACK timer. */
  delayedAcks = 0;
  /** TcpExt DelayedACKLost: segments that were already received (a retransmission). */
  delayedAckLost = 0;
  /** Segments put on the out-of-order queue. */
  ofoQueued = 0;
  /** TcpExt PruneCalled */
  pruneCalled = 0;
  /** TcpExt RcvPruned */
  rcvPruned = 0;
  /** TcpExt OfoPruned */
  ofoPruned = 0;
  /** TcpExt TCPRcvCollapsed: skbs freed by tcp_collapse after their data was copied. */
  rcvCollapsed = 0;
  /** tcp_collapse allocations that failed (alloc_skb returned NULL). */
  collapseAllocFailures = 0;
  /** Segments dropped because they did not fit in sk_rcvbuf. */
  rmemDrops = 0;
  /** Segments outside the window (including into a zero window). */
  outOfWindowDrops = 0;
  /** ACKs that advertised a zero window. */
  zeroWindowAcks = 0;
  /** tcp_send_ack calls whose alloc_skb failed: the ACK was deferred to the delayed-ACK timer. */
  ackAllocFailures = 0;
}

export class TcpReceiver {
  readonly flow: number;
  readonly counters = new TcpReceiverCounters();
  readonly jiffies: Jiffies;
  private readonly atoMin: number;
  private readonly advWinScale: number;
  private readonly receiver61: boolean;
  private readonly advmss: number;
  /**
   * The window-scale unit 1 << rcv_wscale and its inverse: rounding up to the unit multiplies by
   * the inverse, which is exact for a power of two and spares a division per window selected.
   */
  private readonly wscaleUnit: number;
  private readonly wscaleInv: number;
  private readonly rmemMax: number;
  private readonly userLocked: boolean;
  private readonly moderateRcvbuf: boolean;
  /** tcpRcvmem(advmss): sk_rcvbuf bytes per advmss of window in tcp_rcv_space_adjust. */
  private readonly rcvmem: number;
  private readonly delayedAck: boolean;
  private readonly sack: boolean;
  private readonly release: SkbReleaser | null;
  readonly tcpMem: TcpMem;
  private readonly alloc: SkbAllocator | null;
  /** skb_headroom of queued segments (tcp_collapse copies it into each new skb). */
  private readonly headroom: number;
  private readonly timestamps: boolean;
  /** sk_data_ready: called after in-order data became readable. */
  onDataReady: ((flow: number) => void) | null = null;

  // struct tcp_sock receive state, bytes
  private rcvNxt = 0;
  private rcvWup = 0;
  private rcvWnd: number;
  private rcvSsthresh: number;
  private windowClamp: number;
  private tsRecent = 0;
  /** sk_rcvbuf */
  rcvbuf: number;
  /** sk_rmem_alloc */
  private rmem = 0;
  /**
   * Bytes this socket holds of tcp_memory_allocated (whole quanta); sk_forward_alloc is this minus
   * sk_rmem_alloc, since skb_set_owner_r and sock_rfree move both by the skb's truesize.
   */
  private reserved = 0;

  // Autotuning: tp->copied_seq, rcv_rtt_est and rcvq_space. A time of -1 stands for Linux's 0,
  // "never measured", since jiffies here start at 0.
  private copiedSeq = 0;
  /** rcv_rtt_est.rtt: jiffies << 3, 0 until the first sample. */
  private rcvRtt = 0;
  private rcvRttSeq = 0;
  private rcvRttTime = -1;
  private rcvqSpace: number;
  private rcvqSeq = 0;
  private rcvqTime = -1;

  // icsk_ack
  private rcvMss = TCP_MSS_DEFAULT;
  private ato = 0;
  private quick = 0;
  private lrcvtime = 0;
  private ackScheduled = false;
  private ackTimerPending = false;
  private ackTimeout = 0;
  private readonly timer: number;
  /** icsk_rto and srtt (jiffies, srtt << 3) as known from the handshake. */
  private readonly rto: number;
  private readonly srtt: number;

  /**
   * Receive queue: a ring (power-of-two capacity) of skbs by the sequence range each holds, in
   * slots [rqHead, rqHead + rqCount) modulo its capacity; the head is read up to copied_seq.
   * tcp_collapse reads it in place and its output becomes the ring (see collapseReceiveQueue).
   */
  private rq = new SkbList(64);
  private rqHead = 0;
  private rqCount = 0;
  private readable = 0;

  // Out-of-order queue sorted by sequence, in slots [ofoBase, ofo.n). Small: most flows never see
  // out-of-order data, and it doubles on demand.
  private ofo = new SkbList(4);
  private ofoBase = 0;

  /** skb_queue_empty(&tp->out_of_order_queue) */
  private get ofoEmpty(): boolean {
    return this.ofo.n === this.ofoBase;
  }

  // tcp_collapse's output: it becomes the collapsed queue (the receive queue's next ring, or the
  // out-of-order queue), and the old queue the next collapse's output. Small until a socket prunes.
  private collapseOut = new SkbList(4);

  // tp->selective_acks, most recent first
  private readonly sackS = new Float64Array(TCP_NUM_SACKS);
  private readonly sackE = new Float64Array(TCP_NUM_SACKS);
  private numSacks = 0;

  constructor(
    private readonly sim: Simulator,
    private readonly pool: PacketPool,
    private readonly out: AckSink,
    opts: TcpReceiverOptions,
  ) {
    this.flow = opts.flow;
    const hz = opts.hz ?? 250;
    this.jiffies = Jiffies.of(hz);
    this.atoMin = tcpAtoMin(hz);
    this.advWinScale = opts.advWinScale ?? TCP_ADV_WIN_SCALE;
    this.receiver61 = opts.receiver61 ?? false;
    this.timestamps = opts.timestamps ?? true;
    this.advmss = opts.advmss ?? MSS_ETH - (this.timestamps ? TCPOLEN_TSTAMP_ALIGNED : 0);
    this.rmemMax = opts.rmemMax ?? TCP_RMEM_MAX;
    this.rcvbuf = opts.rcvbuf ?? TCP_RMEM_DEFAULT;
    this.userLocked = opts.userLocked ?? false;
    this.moderateRcvbuf = opts.moderateRcvbuf ?? true;
    this.rcvmem = tcpRcvmem(this.advmss, this.advWinScale);
    this.delayedAck = opts.delayedAck ?? true;
    this.sack = opts.sack ?? true;
    this.release = opts.release ?? null;
    this.alloc = opts.alloc ?? null;
    this.tcpMem =
      opts.tcpMem ?? new TcpMem([Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]);
    this.tcpMem.sockets++;
    this.headroom = RX_HEADROOM_NO_OPTIONS + (this.timestamps ? TCPOLEN_TSTAMP_ALIGNED : 0);
    this.wscaleUnit = 1 << tcpWindowScale(Math.max(this.rmemMax, this.rcvbuf));
    this.wscaleInv = 1 / this.wscaleUnit;
    // tcp_select_initial_window + tcp_init_buffer_space (sysctl_tcp_app_win = 31)
    const maxwin = this.fullSpace();
    this.windowClamp = maxwin;
    if (this.windowClamp > 2 * this.advmss && this.windowClamp + this.advmss > maxwin) {
      this.windowClamp = Math.max(2 * this.advmss, maxwin - this.advmss);
    }
    // 6.1 offers all of the space up to U16_MAX (sysctl_tcp_workaround_signed_windows 0; the
    // route's initrwnd is unset); 3.2 at most TCP_DEFAULT_INIT_RCVWND segments.
    this.rcvWnd = Math.min(
      Math.floor(maxwin / this.advmss) * this.advmss,
      this.receiver61 ? U16_MAX : TCP_DEFAULT_INIT_RCVWND * this.advmss,
    );
    this.rcvSsthresh = Math.min(this.rcvWnd, this.windowClamp);
    // tcp_init_buffer_space: autotuning starts from the initial window (6.1: at most TCP_INIT_CWND
    // segments of it)
    this.rcvqSpace = this.receiver61
      ? Math.min(this.rcvSsthresh, this.rcvWnd, TCP_INIT_CWND * this.advmss)
      : this.rcvWnd;
    if (opts.handshakeRttNs !== undefined) {
      const m = Math.max(this.jiffies.at(opts.handshakeRttNs), 1);
      this.srtt = m << 3;
      this.rto = m + Math.max(m << 1, Math.floor(hz / 5));
    } else {
      this.srtt = 0;
      this.rto = hz; // TCP_TIMEOUT_INIT
    }
    const expire = () => this.delackTimer();
    const inContext = opts.timerContext;
    this.timer = sim.createTimer(
      sim.register(`tcp.rx.${this.flow}.delack`, inContext === undefined ? expire : () => inContext(expire)),
      0,
    );
  }

  // ---- state for sampling ----

  /** rcv_nxt */
  get nextExpected(): number {
    return this.rcvNxt;
  }
  /** The window most recently advertised (rcv_wnd), bytes. */
  get window(): number {
    return this.rcvWnd;
  }
  /** sk_rmem_alloc: truesize charged for queued data, both queues. */
  get rmemAlloc(): number {
    return this.rmem;
  }
  /** sk_forward_alloc: reserved memory not used by queued skbs. */
  get forwardAlloc(): number {
    return this.reserved - this.rmem;
  }
  /** Bytes waiting to be read. */
  get readableBytes(): number {
    return this.readable;
  }
  get ofoSegments(): number {
    return this.ofo.n - this.ofoBase;
  }
  /** icsk_ack.quick: ACKs still to be sent in quick-ack mode. */
  get quickAcks(): number {
    return this.quick;
  }
  /** tp->window_clamp, bytes. */
  get windowClampBytes(): number {
    return this.windowClamp;
  }
  /** tp->rcv_ssthresh, bytes. */
  get rcvSsthreshBytes(): number {
    return this.rcvSsthresh;
  }
  /** rcv_rtt_est: the receiver's RTT estimate in jiffies (0 before the first sample). */
  get rcvRttJiffies(): number {
    return this.rcvRtt / 8;
  }

  // ---- input ----

  /**
   * A segment from the network, in the skb `skb` (an id for the SkbReleaser) of the given truesize.
   * The packet goes back to the pool at once; the skb when TCP is done with it.
   */
  receive(pkt: number, truesize: number, skb = -1): void {
    const pool = this.pool;
    if (pool.kind[pkt] !== PKT_DATA) throw new Error(`flow ${this.flow}: receiver got a non-data packet`);
    const seq = pool.seq[pkt]!;
    const len = pool.len[pkt]!;
    const tsVal = pool.tsVal[pkt]!;
    const tsEcr = pool.tsEcr[pkt]!;
    // skb_shinfo(skb)->gso_size, which virtio_net's receive_buf copies from the virtio_net_hdr
    const gsoSize = pool.gsoSize[pkt]!;
    pool.free(pkt);
    this.counters.segsIn++;
    const end = seq + len;
    // tcp_validate_incoming: tcp_sequence fails for zero-window probes and old segments
    if (len === 0 || end < this.rcvWup || seq > this.rcvNxt + this.receiveWindow()) {
      this.dropSkb(skb, "tcp_validate_incoming");
      this.sendDupack(seq, end);
      return;
    }
    // tcp_replace_ts_recent (with the PAWS check)
    if (seq <= this.rcvWup && tsVal >= this.tsRecent) this.tsRecent = tsVal;
    this.rcvRttMeasureTs(tsEcr, len);
    this.dataQueue(seq, end, truesize, skb, gsoSize);
    this.ackSndCheck();
  }

  /** The application reads up to maxBytes (tcp_recvmsg); returns the bytes read. */
  read(maxBytes: number): number {
    let copied = 0;
    const rq = this.rq;
    while (copied < maxBytes && this.rqCount > 0) {
      const h = this.rqHead;
      const avail = rq.end[h]! - this.copiedSeq;
      const take = Math.min(avail, maxBytes - copied);
      copied += take;
      this.copiedSeq += take;
      this.rcvSpaceAdjust();
      if (take === avail) {
        // sk_eat_skb: the truesize is uncharged when the whole skb is consumed
        this.rmem -= rq.truesize[h]!;
        this.freeSkb(rq.skb[h]!);
        this.rqHead = (h + 1) & (rq.seq.length - 1);
        this.rqCount--;
      }
    }
    this.readable -= copied;
    this.counters.bytesRead += copied;
    this.cleanupRbuf(copied);
    return copied;
  }

  // ---- tcp_data_queue and helpers ----

  private receiveWindow(): number {
    const w = this.rcvWup + this.rcvWnd - this.rcvNxt;
    return w < 0 ? 0 : w;
  }

  private dataQueue(seq: number, end: number, truesize: number, skb: number, gsoSize: number): void {
    if (seq <= this.rcvNxt && end > this.rcvNxt) {
      if (this.receiveWindow() === 0) {
        this.counters.outOfWindowDrops++;
        this.outOfWindow(skb);
        return;
      }
      if (!this.tryRmemSchedule(truesize)) {
        this.counters.rmemDrops++;
        this.dropSkb(skb, "tcp_data_queue");
        return;
      }
      this.queueTail(this.rcvNxt, end, truesize, skb);
      this.rcvNxt = end;
      this.eventDataRecv(end - seq, truesize, gsoSize);
      if (!this.ofoEmpty) this.ofoQueue();
      if (this.numSacks > 0) this.sackRemove();
      this.onDataReady?.(this.flow);
      return;
    }
    if (end <= this.rcvNxt) {
      // "A retransmit, 2nd most common case. Force an immediate ack."
      this.counters.delayedAckLost++;
      this.outOfWindow(skb);
      return;
    }
    if (seq >= this.rcvNxt + this.receiveWindow()) {
      this.counters.outOfWindowDrops++;
      this.outOfWindow(skb);
      return;
    }
    this.enterQuickackMode();
    if (!this.tryRmemSchedule(truesize)) {
      this.counters.rmemDrops++;
      this.dropSkb(skb, "tcp_data_queue");
      return;
    }
    this.ackScheduled = true;
    this.ofoInsert(seq, end, truesize, skb);
  }

  /** out_of_window: quick-ack mode and an ACK, the segment is dropped. */
  private outOfWindow(skb: number): void {
    this.dropSkb(skb, "tcp_data_queue");
    this.enterQuickackMode();
    this.ackScheduled = true;
  }

  /** kfree_skb through the guest's releaser. */
  private freeSkb(skb: number): void {
    if (skb >= 0 && this.release !== null) this.release.freeSkb(skb);
  }

  /**
   * A drop: skb:kfree_skb with the function that dropped it as `location` (the kernel prints the
   * caller's address, trace-cmd its symbol), then the free. Skbs read or collapsed are not drops.
   */
  private dropSkb(skb: number, location: string): void {
    const tr = this.sim.trace;
    // include/trace/events/skb.h (v3.2): "skbaddr=%p protocol=%u location=%p"; ETH_P_IP = 2048.
    if (skb >= 0 && tr.on[TP_KFREE_SKB] !== 0)
      tr.emit(TP_KFREE_SKB, `skbaddr=skb${skb} protocol=2048 location=${location}`);
    this.freeSkb(skb);
  }

  /** __skb_queue_tail of an skb whose new data is seq..end (rcv_nxt then moves to end). */
  private queueTail(seq: number, end: number, truesize: number, skb: number): void {
    const rq = this.rq;
    if (this.rqCount === rq.seq.length) {
      rq.growRing(this.rqHead);
      this.rqHead = 0;
    }
    const i = (this.rqHead + this.rqCount) & (rq.seq.length - 1);
    rq.seq[i] = seq;
    rq.end[i] = end;
    rq.truesize[i] = truesize;
    rq.skb[i] = skb;
    this.rqCount++;
    this.rmem += truesize;
    const len = end - seq;
    this.readable += len;
    this.counters.bytesDelivered += len;
  }

  /** tcp_ofo_queue: move what became in-order to the receive queue. */
  private ofoQueue(): void {
    const ofo = this.ofo;
    while (this.ofoBase < ofo.n && ofo.seq[this.ofoBase]! <= this.rcvNxt) {
      const b = this.ofoBase++;
      const end = ofo.end[b]!;
      this.rmem -= ofo.truesize[b]!;
      if (end > this.rcvNxt) {
        this.queueTail(this.rcvNxt, end, ofo.truesize[b]!, ofo.skb[b]!);
        this.rcvNxt = end;
      } else {
        // "ofo packet was already received"
        this.dropSkb(ofo.skb[b]!, "tcp_ofo_queue");
      }
    }
    if (this.ofoBase === ofo.n) this.ofoClear();
  }

  private ofoClear(): void {
    this.ofo.clear();
    this.ofoBase = 0;
  }

  /** The out-of-order branch of tcp_data_queue. */
  private ofoInsert(seq: number, end: number, truesize: number, skb: number): void {
    this.counters.ofoQueued++;
    const ofo = this.ofo;
    if (this.ofoEmpty) {
      if (this.sack) {
        this.numSacks = 1;
        this.sackS[0] = seq;
        this.sackE[0] = end;
      }
      this.ofoPut(ofo.n, seq, end, truesize, skb);
      return;
    }
    if (seq === ofo.end[ofo.n - 1]) {
      this.ofoPut(ofo.n, seq, end, truesize, skb);
      // "Common case: data arrive in order after hole."
      if (this.numSacks > 0 && this.sackE[0] === seq) this.sackE[0] = end;
      else this.sackNewOfoSkb(seq, end);
      return;
    }
    // the last segment starting at or before seq
    let k = ofo.n - 1;
    while (k >= this.ofoBase && ofo.seq[k]! > seq) k--;
    if (k >= this.ofoBase && seq < ofo.end[k]!) {
      if (end <= ofo.end[k]!) {
        // "All the bits are present. Drop."
        this.dropSkb(skb, "tcp_data_queue");
        this.sackNewOfoSkb(seq, end);
        return;
      }
      // Not "Partial overlap" (a later start): the same start, so it goes before the segment it
      // covers, which the clean-up below frees (skb1 = skb1->prev).
      if (seq === ofo.seq[k]) k--;
    }
    const at = this.ofoPut(k + 1, seq, end, truesize, skb) + 1;
    // "And clean segments covered by new one as whole."
    let covered = 0;
    while (at + covered < ofo.n && ofo.end[at + covered]! <= end) {
      this.rmem -= ofo.truesize[at + covered]!;
      this.dropSkb(ofo.skb[at + covered]!, "tcp_data_queue");
      covered++;
    }
    if (covered > 0) ofo.remove(at, covered);
    this.sackNewOfoSkb(seq, end);
  }

  /**
   * Inserts at slot `at` of the out-of-order queue, charging the truesize; returns the slot it took
   * (lower by ofoBase when a full queue moves to slot 0 rather than grow).
   */
  private ofoPut(at: number, seq: number, end: number, truesize: number, skb: number): number {
    const ofo = this.ofo;
    if (ofo.n === ofo.seq.length && this.ofoBase > 0) {
      ofo.remove(0, this.ofoBase);
      at -= this.ofoBase;
      this.ofoBase = 0;
    }
    ofo.insert(at, seq, end, truesize, skb);
    this.rmem += truesize;
    return at;
  }

  /** tcp_sack_extend */
  private sackExtend(i: number, seq: number, end: number): boolean {
    if (seq <= this.sackE[i]! && this.sackS[i]! <= end) {
      if (seq < this.sackS[i]!) this.sackS[i] = seq;
      if (end > this.sackE[i]!) this.sackE[i] = end;
      return true;
    }
    return false;
  }

  /** tcp_sack_new_ofo_skb: extend a block and move it to the front, or add a new first block. */
  private sackNewOfoSkb(seq: number, end: number): void {
    if (!this.sack) return;
    const cur = this.numSacks;
    for (let i = 0; i < cur; i++) {
      if (this.sackExtend(i, seq, end)) {
        for (; i > 0; i--) this.swapSacks(i, i - 1);
        if (cur > 1) this.sackMaybeCoalesce();
        return;
      }
    }
    let n = cur;
    if (n >= TCP_NUM_SACKS) {
      // "If the sack array is full, forget about the last one."
      n--;
      this.numSacks--;
    }
    for (let i = n; i > 0; i--) {
      this.sackS[i] = this.sackS[i - 1]!;
      this.sackE[i] = this.sackE[i - 1]!;
    }
    this.sackS[0] = seq;
    this.sackE[0] = end;
    this.numSacks++;
  }

  private swapSacks(a: number, b: number): void {
    const s = this.sackS[a]!;
    const e = this.sackE[a]!;
    this.sackS[a] = this.sackS[b]!;
    this.sackE[a] = this.sackE[b]!;
    this.sackS[b] = s;
    this.sackE[b] = e;
  }

  /** Removes SACK block i, keeping the others in order. */
  private sackDelete(i: number): void {
    this.numSacks--;
    for (let j = i; j < this.numSacks; j++) {
      this.sackS[j] = this.sackS[j + 1]!;
      this.sackE[j] = this.sackE[j + 1]!;
    }
  }

  /** tcp_sack_maybe_coalesce: merge blocks the first one now touches. */
  private sackMaybeCoalesce(): void {
    for (let i = 1; i < this.numSacks; ) {
      if (this.sackExtend(0, this.sackS[i]!, this.sackE[i]!)) {
        this.sackDelete(i);
        continue;
      }
      i++;
    }
  }

  /** tcp_sack_remove: drop blocks rcv_nxt has passed. */
  private sackRemove(): void {
    if (this.ofoEmpty) {
      this.numSacks = 0;
      return;
    }
    for (let i = 0; i < this.numSacks; ) {
      if (this.rcvNxt >= this.sackS[i]!) {
        this.sackDelete(i);
        continue;
      }
      i++;
    }
  }

  // ---- memory ----

  /** tcp_try_rmem_schedule: over sk_rcvbuf (checked before charging) or tcp_mem, try pruning. */
  private tryRmemSchedule(size: number): boolean {
    if (this.rmem > this.rcvbuf || !this.rmemSchedule(size)) {
      if (!this.pruneQueue()) return false;
      if (!this.rmemSchedule(size)) {
        if (!this.pruneOfoQueue()) return false;
        if (!this.rmemSchedule(size)) return false;
      }
    }
    return true;
  }

  /** sk_rmem_schedule: room in sk_forward_alloc, or more quanta from tcp_memory_allocated. */
  private rmemSchedule(size: number): boolean {
    if (size <= this.reserved - this.rmem) return true;
    const pages = this.tcpMem.schedule(size, this.rmem, this.reserved - this.rmem);
    this.reserved += pages * SK_MEM_QUANTUM;
    return pages > 0;
  }

  /**
   * __sk_mem_reclaim when at least `above` bytes are spare (sk_mem_reclaim: one quantum;
   * sk_mem_reclaim_partial: more than one): whole spare quanta go back to tcp_memory_allocated.
   */
  private memReclaim(above: number): void {
    const spare = this.reserved - this.rmem;
    if (spare < above) return;
    const pages = Math.floor(spare / SK_MEM_QUANTUM);
    this.reserved -= pages * SK_MEM_QUANTUM;
    this.tcpMem.reclaim(pages);
  }

  /** tcp_prune_queue; true if the segment may be queued. */
  private pruneQueue(): boolean {
    this.counters.pruneCalled++;
    if (this.rmem >= this.rcvbuf) this.clampWindow();
    else if (this.tcpMem.pressure) this.rcvSsthresh = Math.min(this.rcvSsthresh, 4 * this.advmss);
    this.collapseOfoQueue();
    if (this.rqCount > 0) this.collapseReceiveQueue();
    this.memReclaim(SK_MEM_QUANTUM);
    if (this.rmem <= this.rcvbuf) return true;
    // "Collapsing did not help, destructive actions follow. This must not ever occur."
    this.pruneOfoQueue();
    if (this.rmem <= this.rcvbuf) return true;
    this.counters.rcvPruned++;
    return false;
  }

  /** tcp_clamp_window: grow an unlocked rcvbuf to what is allocated, else clamp rcv_ssthresh. */
  private clampWindow(): void {
    this.quick = 0;
    if (
      this.rcvbuf < this.rmemMax &&
      !this.userLocked &&
      !this.tcpMem.pressure &&
      this.tcpMem.allocated < this.tcpMem.mem[0]
    ) {
      this.rcvbuf = Math.min(this.rmem, this.rmemMax);
    }
    if (this.rmem > this.rcvbuf) this.rcvSsthresh = Math.min(this.windowClamp, 2 * this.advmss);
  }

  /**
   * tcp_collapse of the receive queue from copied_seq to rcv_nxt, read in place from the ring; the
   * list it produces (a power-of-two capacity, from slot 0) becomes the ring, and the old ring the
   * next collapse's output.
   */
  private collapseReceiveQueue(): void {
    const rq = this.rq;
    const out = this.collapseOut;
    out.clear();
    this.collapse(rq, this.rqHead, this.rqHead + this.rqCount, this.copiedSeq, this.rcvNxt, out);
    // Its skbs are contiguous from copied_seq: collapse starts there and trims what it leaves.
    this.rq = out;
    this.collapseOut = rq;
    this.rqHead = 0;
    this.rqCount = out.n;
  }

  /** tcp_collapse_ofo_queue: collapse each run of contiguous or overlapping skbs. */
  private collapseOfoQueue(): void {
    if (this.ofoEmpty) return;
    const src = this.ofo;
    let head = this.ofoBase;
    const out = this.collapseOut;
    out.clear();
    let start = src.seq[head]!;
    let end = src.end[head]!;
    for (let k = head + 1; ; k++) {
      // "Segment is terminated when we see gap or when we are at the end of all the queue."
      if (k === src.n || src.seq[k]! > end || src.end[k]! < start) {
        this.collapse(src, head, k, start, end, out);
        if (k === src.n) break;
        head = k;
        start = src.seq[k]!;
        end = src.end[k]!;
      } else {
        if (src.seq[k]! < start) start = src.seq[k]!;
        if (src.end[k]! > end) end = src.end[k]!;
      }
    }
    this.ofo = out;
    this.collapseOut = src;
    this.ofoBase = 0;
  }

  /**
   * tcp_collapse of src[head, tail) holding start..end: skips leading skbs that are tight and
   * contiguous, then copies the rest into skbs of up to SKB_MAX_ORDER(header, 0) bytes allocated
   * with GFP_ATOMIC, freeing each skb once its data is copied (tcp_collapse_one). Appends the result
   * to `out`; when an allocation fails, the skbs not yet copied stay, trimmed to the bytes not copied.
   */
  private collapse(src: SkbList, head: number, tail: number, start: number, end: number, out: SkbList): void {
    // Positions head..tail wrap at the capacity (a power of two): the receive queue is a ring.
    const mask = src.seq.length - 1;
    const seqs = src.seq;
    const ends = src.end;
    let k = head;
    for (; k < tail; k++) {
      const i = k & mask;
      // "No new bits? It is possible on ofo queue."
      if (start >= ends[i]!) {
        this.collapseOne(src, i);
        continue;
      }
      // "The first skb to collapse is: bloated or contains data before start or overlaps to the next one."
      const len = ends[i]! - seqs[i]!;
      if (tcpWinFromSpace(src.truesize[i]!, this.advWinScale) > len || seqs[i]! < start) break;
      if (k + 1 < tail && ends[i] !== seqs[(k + 1) & mask]) break;
      // "Decided to skip this, advance start seq."
      out.push(seqs[i]!, ends[i]!, src.truesize[i]!, src.skb[i]!);
      start = ends[i]!;
    }
    const maxCopy = PAGE_SIZE - this.headroom - SKB_SHINFO_ALIGNED;
    while (k < tail && start < end) {
      let copy = Math.min(maxCopy, end - start);
      const size = copy + this.headroom;
      const nskb = this.alloc === null ? -1 : this.alloc.allocCollapseSkb(size, copy);
      if (nskb < 0) {
        this.counters.collapseAllocFailures++;
        break;
      }
      const truesize = allocSkbTruesize(size);
      // skb_set_owner_r: charged without sk_rmem_schedule; sk_mem_reclaim settles it afterwards
      this.rmem += truesize;
      const o = out.push(start, start, truesize, nskb);
      while (copy > 0 && k < tail) {
        const i = k & mask;
        const n = Math.min(copy, ends[i]! - start);
        if (n > 0) {
          out.end[o] = start + n;
          copy -= n;
          start += n;
        }
        if (start >= ends[i]!) {
          this.collapseOne(src, i);
          k++;
        }
      }
    }
    for (; k < tail; k++) {
      const i = k & mask;
      const seq = Math.min(Math.max(seqs[i]!, start), ends[i]!);
      out.push(seq, ends[i]!, src.truesize[i]!, src.skb[i]!);
    }
  }

  /** tcp_collapse_one: the skb in slot i now lives in a collapsed skb; free it. */
  private collapseOne(src: SkbList, i: number): void {
    this.rmem -= src.truesize[i]!;
    this.freeSkb(src.skb[i]!);
    this.counters.rcvCollapsed++;
  }

  /** tcp_prune_ofo_queue: drop the whole out-of-order queue and its SACK state; true if it did. */
  private pruneOfoQueue(): boolean {
    const ofo = this.ofo;
    if (this.ofoEmpty) return false;
    this.counters.ofoPruned++;
    for (let i = this.ofoBase; i < ofo.n; i++) {
      this.rmem -= ofo.truesize[i]!;
      this.dropSkb(ofo.skb[i]!, "tcp_prune_ofo_queue");
    }
    this.ofoClear();
    this.numSacks = 0;
    this.memReclaim(SK_MEM_QUANTUM);
    return true;
  }

  /** tcp_time_stamp (include/net/tcp.h, v3.2: the jiffies counter) at the current time. */
  private tcpTimeStamp(): number {
    return this.jiffies.at(this.sim.now);
  }

  // ---- autotuning ----

  /** tcp_rcv_rtt_update: timestamp samples feed an EWMA, window samples only lower the estimate. */
  private rcvRttUpdate(sample: number, winDep: boolean): void {
    const m = sample === 0 ? 1 : sample;
    const rtt = this.rcvRtt;
    if (rtt === 0) this.rcvRtt = m << 3;
    else if (!winDep) this.rcvRtt = rtt + m - (rtt >> 3);
    else if (m << 3 < rtt) this.rcvRtt = m << 3;
  }

  /** tcp_rcv_rtt_measure: how long the window advertised a sample ago took to arrive. */
  private rcvRttMeasure(now: number): void {
    if (this.rcvRttTime >= 0) {
      if (this.rcvNxt < this.rcvRttSeq) return;
      this.rcvRttUpdate(now - this.rcvRttTime, true);
    }
    this.rcvRttSeq = this.rcvNxt + this.rcvWnd;
    this.rcvRttTime = now;
  }

  /**
   * tcp_rcv_rtt_measure_ts: a full-sized segment echoing one of our TSvals gives an RTT sample.
   * TSecr 0 means no echo (Linux's rcv_tsecr test); src/net/tcp-sender.ts sends 0 in its data
   * segments, so behind it only tcp_rcv_rtt_measure's window samples move the estimate.
   */
  private rcvRttMeasureTs(tsEcr: number, len: number): void {
    if (tsEcr !== 0 && len >= this.rcvMss) this.rcvRttUpdate(this.tcpTimeStamp() - tsEcr, false);
  }

  /**
   * tcp_rcv_space_adjust: at most once per receiver RTT, size sk_rcvbuf for twice what the
   * application read in it ("space"), in skbs of rcvmem per advmss, and let window_clamp follow.
   */
  private rcvSpaceAdjust(): void {
    const now = this.tcpTimeStamp();
    if (this.rcvqTime >= 0) {
      if (now - this.rcvqTime < this.rcvRtt >> 3 || this.rcvRtt === 0) return;
      if (this.receiver61) this.rcvSpaceAdjust61();
      else {
        const space = Math.max(this.rcvqSpace, 2 * (this.copiedSeq - this.rcvqSeq));
        if (space !== this.rcvqSpace) {
          this.rcvqSpace = space;
          if (this.moderateRcvbuf && !this.userLocked) {
            const segs = Math.max(Math.floor(space / this.advmss), 1);
            const rcvbuf = Math.min(segs * this.rcvmem, this.rmemMax);
            if (rcvbuf > this.rcvbuf) {
              this.rcvbuf = rcvbuf;
              // "Make the window clamp follow along."
              this.windowClamp = space;
            }
          }
        }
      }
    }
    this.rcvqSeq = this.copiedSeq;
    this.rcvqTime = now;
  }

  /**
   * tcp_rcv_space_adjust's sizing (net/ipv4/tcp_input.c, v6.1), once the RTT has passed: nothing
   * unless more than rcvq_space.space was copied; rcvwin = 2 × copied + 16 × advmss, plus twice
   * its growth in proportion to (copied - space) / space "for sender rate increase"; sk_rcvbuf =
   * rcvwin / advmss × rcvmem (at most tcp_rmem[2]) with window_clamp = tcp_win_from_space of it;
   * space = copied. The clock is the model's jiffies, not 6.1's microsecond tcp_mstamp.
   */
  private rcvSpaceAdjust61(): void {
    const copied = this.copiedSeq - this.rcvqSeq;
    if (copied <= this.rcvqSpace) return;
    if (this.moderateRcvbuf && !this.userLocked) {
      let rcvwin = 2 * copied + 16 * this.advmss;
      rcvwin += 2 * Math.floor((rcvwin * (copied - this.rcvqSpace)) / this.rcvqSpace);
      const rcvbuf = Math.min(Math.floor(rcvwin / this.advmss) * this.rcvmem, this.rmemMax);
      if (rcvbuf > this.rcvbuf) {
        this.rcvbuf = rcvbuf;
        this.windowClamp = tcpWinFromSpace(rcvbuf, this.advWinScale);
      }
    }
    this.rcvqSpace = copied;
  }

  private fullSpace(): number {
    return tcpWinFromSpace(this.rcvbuf, this.advWinScale);
  }

  private space(): number {
    return tcpWinFromSpace(this.rcvbuf - this.rmem, this.advWinScale);
  }

  // ---- ACK policy ----

  /** tcp_event_data_recv */
  private eventDataRecv(len: number, truesize: number, gsoSize: number): void {
    this.ackScheduled = true;
    // tcp_measure_rcv_mss, full-sized case: `len = skb_shinfo(skb)->gso_size ? : skb->len`, so a
    // GSO frame counts as one segment of its gso_size, not as one 64 KiB segment.
    const segLen = gsoSize > 0 ? gsoSize : len;
    if (segLen >= this.rcvMss) this.rcvMss = segLen;
    const now = this.tcpTimeStamp();
    this.rcvRttMeasure(now);
    if (this.ato === 0) {
      this.incrQuickack();
      this.ato = this.atoMin;
    } else {
      const m = now - this.lrcvtime;
      if (m <= this.atoMin >> 1) {
        // "The fastest case is the first."
        this.ato = (this.ato >> 1) + (this.atoMin >> 1);
      } else if (m < this.ato) {
        this.ato = Math.min((this.ato >> 1) + m, this.rto);
      } else if (m > this.rto) {
        // "Too long gap. Apparently sender failed to restart window, so that we send ACKs quickly."
        this.incrQuickack();
        this.memReclaim(SK_MEM_QUANTUM);
      }
    }
    this.lrcvtime = now;
    if (len >= 128) this.growWindow(len, truesize);
  }

  /** tcp_incr_quickack */
  private incrQuickack(): void {
    let quickacks = Math.floor(this.rcvWnd / (2 * this.rcvMss));
    if (quickacks === 0) quickacks = 2;
    if (quickacks > this.quick) this.quick = Math.min(quickacks, TCP_MAX_QUICKACKS);
  }

  /** tcp_enter_quickack_mode */
  private enterQuickackMode(): void {
    this.incrQuickack();
    this.ato = this.atoMin;
  }

  /** tcp_grow_window: raise rcv_ssthresh while skbs are not too bloated for the buffer. */
  private growWindow(len: number, truesize: number): void {
    if (this.rcvSsthresh < this.windowClamp && this.rcvSsthresh < this.space() && !this.tcpMem.pressure) {
      let incr: number;
      if (tcpWinFromSpace(truesize, this.advWinScale) <= len) {
        incr = 2 * this.advmss;
      } else {
        // __tcp_grow_window
        let ts = tcpWinFromSpace(truesize, this.advWinScale) >> 1;
        let window = tcpWinFromSpace(this.rmemMax, this.advWinScale) >> 1;
        incr = 0;
        while (this.rcvSsthresh <= window) {
          if (ts <= len) {
            incr = 2 * this.rcvMss;
            break;
          }
          ts >>= 1;
          window >>= 1;
        }
      }
      if (incr > 0) {
        this.rcvSsthresh = Math.min(this.rcvSsthresh + incr, this.windowClamp);
        this.quick |= 1;
      }
    }
  }

  /** tcp_ack_snd_check → __tcp_ack_snd_check */
  private ackSndCheck(): void {
    if (!this.ackScheduled) return;
    if (
      !this.delayedAck ||
      (this.rcvNxt - this.rcvWup > this.rcvMss && this.selectWindowRaw() >= this.rcvWnd) ||
      this.quick > 0 ||
      !this.ofoEmpty
    ) {
      this.sendAck();
    } else {
      this.sendDelayedAck();
    }
  }

  /** tcp_send_delayed_ack */
  private sendDelayedAck(): void {
    let ato = this.ato;
    if (ato > this.atoMin) {
      let maxAto = this.jiffies.hz >> 1;
      if (this.srtt) {
        const rtt = Math.max(this.srtt >> 3, this.atoMin);
        if (rtt < maxAto) maxAto = rtt;
      }
      ato = Math.min(ato, maxAto);
    }
    const now = this.tcpTimeStamp();
    let timeout = now + ato;
    if (this.ackTimerPending) {
      // "If delack timer was blocked or is about to expire, send ACK now."
      if (this.ackTimeout <= now + (ato >> 2)) {
        this.sendAck();
        return;
      }
      if (timeout >= this.ackTimeout) timeout = this.ackTimeout;
    }
    this.ackScheduled = true;
    this.ackTimerPending = true;
    this.ackTimeout = timeout;
    this.sim.armTimer(this.timer, this.jiffies.toNs(timeout));
    this.traceDelackStart(timeout, now);
  }

  /** sk_reset_timer → mod_timer; include/trace/events/timer.h (v3.2). */
  private traceDelackStart(timeout: number, now: number): void {
    const tr = this.sim.trace;
    // "timer=%p function=%pf expires=%lu [timeout=%ld]"
    if (tr.on[TP_TIMER_START] !== 0)
      tr.emit(
        TP_TIMER_START,
        `timer=flow${this.flow}.delack function=tcp_delack_timer expires=${timeout} [timeout=${timeout - now}]`,
      );
  }

  /** tcp_delack_timer */
  private delackTimer(): void {
    const tr = this.sim.trace;
    // "timer=%p function=%pf now=%lu"
    if (tr.on[TP_TIMER_EXPIRE_ENTRY] !== 0)
      tr.emit(
        TP_TIMER_EXPIRE_ENTRY,
        `timer=flow${this.flow}.delack function=tcp_delack_timer now=${this.jiffies.at(this.sim.now)}`,
      );
    // sk_mem_reclaim_partial
    this.memReclaim(SK_MEM_QUANTUM + 1);
    if (!this.ackTimerPending) return;
    this.ackTimerPending = false;
    if (this.ackScheduled) {
      // "Delayed ACK missed: inflate ATO."
      this.ato = Math.min(this.ato << 1, this.rto);
      this.counters.delayedAcks++;
      this.sendAck();
    }
  }

  /** tcp_send_dupack: old or out-of-window segment, or a window probe. */
  private sendDupack(seq: number, end: number): void {
    if (end !== seq && seq < this.rcvNxt) {
      this.counters.delayedAckLost++;
      this.enterQuickackMode();
    } else if (end !== seq) {
      this.counters.outOfWindowDrops++;
    }
    this.sendAck();
  }

  /** tcp_cleanup_rbuf: ACK after a read if one is due or the window at least doubled. */
  private cleanupRbuf(copied: number): void {
    let timeToAck = this.ackScheduled && this.rcvNxt - this.rcvWup > this.rcvMss;
    if (copied > 0 && !timeToAck) {
      const now = this.receiveWindow();
      if (2 * now <= this.windowClamp) {
        const w = this.selectWindowRaw();
        if (w > 0 && w >= 2 * now) timeToAck = true;
      }
    }
    if (timeToAck) this.sendAck();
  }

  /** __tcp_select_window (window scaling on) */
  private selectWindowRaw(): number {
    let mss = this.rcvMss;
    let freeSpace = this.space();
    const fullSpace = Math.min(this.windowClamp, this.fullSpace());
    if (mss > fullSpace) mss = fullSpace;
    if (freeSpace < fullSpace >> 1) {
      this.quick = 0;
      if (this.tcpMem.pressure) this.rcvSsthresh = Math.min(this.rcvSsthresh, 4 * this.advmss);
      if (freeSpace < mss) return 0;
    }
    if (freeSpace > this.rcvSsthresh) freeSpace = this.rcvSsthresh;
    // "Advertise enough space so that it won't get scaled away."
    return Math.ceil(freeSpace * this.wscaleInv) * this.wscaleUnit;
  }

  /** tcp_select_window: never shrink the offered window; sets rcv_wnd and rcv_wup. */
  private selectWindow(): number {
    const cur = this.receiveWindow();
    let w = this.selectWindowRaw();
    const unit = this.wscaleUnit;
    if (w < cur) w = Math.ceil(cur * this.wscaleInv) * unit;
    this.rcvWnd = w;
    this.rcvWup = this.rcvNxt;
    return Math.min(w, 65535 * unit);
  }

  /** tcp_send_ack + tcp_event_ack_sent */
  private sendAck(): void {
    let skb = -1;
    if (this.out.allocAckSkb !== undefined) {
      skb = this.out.allocAckSkb();
      if (skb < 0) {
        this.ackAllocFailed();
        return;
      }
    }
    const pool = this.pool;
    const p = pool.alloc();
    const wnd = this.selectWindow();
    const n = Math.min(this.numSacks, this.timestamps ? MAX_SACK_BLOCKS_WITH_TS : MAX_SACK_BLOCKS_NO_TS);
    pool.kind[p] = PKT_ACK;
    pool.flow[p] = this.flow;
    pool.ack[p] = this.rcvNxt;
    pool.wnd[p] = wnd;
    pool.sackCount[p] = n;
    for (let i = 0; i < n; i++) pool.setSack(p, i, this.sackS[i]!, this.sackE[i]!);
    pool.wireLen[p] = ackWireBytes(n, this.timestamps);
    pool.tsVal[p] = this.timestamps ? this.tcpTimeStamp() : 0;
    pool.tsEcr[p] = this.timestamps ? this.tsRecent : 0;
    // tcp_dec_quickack_mode: leaving quick-ack mode deflates the ATO
    if (this.quick > 0) {
      if (this.quick <= 1) {
        this.quick = 0;
        this.ato = this.atoMin;
      } else {
        this.quick--;
      }
    }
    // inet_csk_clear_xmit_timer(ICSK_TIME_DACK)
    this.ackScheduled = false;
    this.ackTimerPending = false;
    this.sim.disarmTimer(this.timer);
    this.counters.acksSent++;
    if (wnd === 0) this.counters.zeroWindowAcks++;
    this.out.sendAck(p, skb);
  }

  /**
   * tcp_send_ack when alloc_skb fails (net/ipv4/tcp_output.c, v3.2): inet_csk_schedule_ack,
   * icsk_ack.ato = TCP_ATO_MIN, inet_csk_reset_xmit_timer(ICSK_TIME_DACK, TCP_DELACK_MAX,
   * TCP_RTO_MAX): the ACK stays due and the delayed-ACK timer retries it.
   */
  private ackAllocFailed(): void {
    this.counters.ackAllocFailures++;
    this.ackScheduled = true;
    this.ato = this.atoMin;
    const now = this.tcpTimeStamp();
    // TCP_DELACK_MAX = HZ/5 (include/net/tcp.h), far below TCP_RTO_MAX = 120*HZ.
    const timeout = now + Math.floor(this.jiffies.hz / 5);
    this.ackTimerPending = true;
    this.ackTimeout = timeout;
    this.sim.armTimer(this.timer, this.jiffies.toNs(timeout));
    this.traceDelackStart(timeout, now);
  }
}

/**
 * A list of skbs by sequence range (struct of arrays), growing as needed; its capacity stays a
 * power of two, so the receive queue uses one as a ring, and the out-of-order queue one as a sorted
 * array. The four arrays are views of one buffer: every receiver builds three lists (its two queues
 * and collapse's output), and one buffer with four views costs a third of what four arrays of their
 * own do (10 000 flows build 30 000 lists).
 */
class SkbList {
  seq!: Float64Array;
  end!: Float64Array;
  truesize!: Int32Array;
  skb!: Int32Array;
  n = 0;

  /** `capacity`: a power of two. */
  constructor(capacity: number) {
    this.allocate(capacity);
  }

  private allocate(cap: number): void {
    const buf = new ArrayBuffer(24 * cap);
    this.seq = new Float64Array(buf, 0, cap);
    this.end = new Float64Array(buf, 8 * cap, cap);
    this.truesize = new Int32Array(buf, 16 * cap, cap);
    this.skb = new Int32Array(buf, 20 * cap, cap);
  }

  clear(): void {
    this.n = 0;
  }

  /** Appends an skb; returns its index. */
  push(seq: number, end: number, truesize: number, skb: number): number {
    if (this.n === this.seq.length) this.growRing(0);
    const i = this.n++;
    this.seq[i] = seq;
    this.end[i] = end;
    this.truesize[i] = truesize;
    this.skb[i] = skb;
    return i;
  }

  /** Inserts an skb at index `at` (at most n), moving the later ones up. */
  insert(at: number, seq: number, end: number, truesize: number, skb: number): void {
    if (this.n === this.seq.length) this.growRing(0);
    const n = this.n++;
    if (at < n) {
      this.seq.copyWithin(at + 1, at, n);
      this.end.copyWithin(at + 1, at, n);
      this.truesize.copyWithin(at + 1, at, n);
      this.skb.copyWithin(at + 1, at, n);
    }
    this.seq[at] = seq;
    this.end[at] = end;
    this.truesize[at] = truesize;
    this.skb[at] = skb;
  }

  /** Removes `count` skbs from index `at` on, moving the later ones down. */
  remove(at: number, count: number): void {
    const n = this.n;
    this.seq.copyWithin(at, at + count, n);
    this.end.copyWithin(at, at + count, n);
    this.truesize.copyWithin(at, at + count, n);
    this.skb.copyWithin(at, at + count, n);
    this.n = n - count;
  }

  /** Doubles a full ring whose entries start at slot `head`, unwrapping them into slots 0.. */
  growRing(head: number): void {
    const { seq, end, truesize, skb } = this;
    const cap = seq.length;
    this.allocate(2 * cap);
    const wrap = <T extends Float64Array | Int32Array>(a: T, b: T): void => {
      b.set(a.subarray(head));
      b.set(a.subarray(0, head), cap - head);
    };
    wrap(seq, this.seq);
    wrap(end, this.end);
    wrap(truesize, this.truesize);
    wrap(skb, this.skb);
  }
}
