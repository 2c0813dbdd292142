/**
 * A bulk or finite TCP sender with the loss recovery of Linux 3.2 (net/ipv4/tcp_input.c,
 * tcp_output.c, tcp_timer.c; include/net/tcp.h), on a connection that is already established.
 *
 * What is modelled, by kernel function:
 * - tcp_write_xmit: new segments while tcp_packets_in_flight < snd_cwnd and the segment ends inside
 *   snd_una + snd_wnd; MSS-sized segments, the last one of a finite transfer may be shorter; Nagle
 *   never holds a segment back (only the final one can be short). With TSO (gsoMaxSize, for a
 *   sender whose device takes GSO frames) consecutive new segments leave as one frame of up to
 *   tcp_xmit_size_goal bytes (tcp_mss_split_point: as many as cwnd and snd_wnd allow), with
 *   gso_size = MSS; retransmissions and probes stay single segments, and tcp_tso_should_defer's
 *   waiting for a larger frame is not modelled.
 * - tcp_ack: window update rule (tcp_may_update_window: any ACK that advances snd_una, or a larger
 *   window on a duplicate), SACK tagging (tcp_sacktag_write_queue with the recv_sack_cache skip),
 *   tcp_clean_rtx_queue, RTT (tcp_ack_update_rtt) from the timestamp echo (tcp_ack_saw_tstamp) or,
 *   on a connection without timestamps, from the oldest segment acked when none of those acked was
 *   retransmitted (tcp_ack_no_tstamp, Karn), → tcp_rtt_estimator, tcp_set_rto: RTO = srtt +
 *   max(mdev·4, TCP_RTO_MIN), in jiffies), tcp_rearm_rto, then either tcp_cong_avoid or
 *   tcp_fastretrans_alert for "dubious" ACKs.
 * - tcp_fastretrans_alert: Open/Disorder/Recovery/Loss; tcp_time_to_recover with FACK
 *   (sysctl_tcp_fack = 1: fackets_out > reordering = 3) or, without SACK, NewReno dupack emulation
 *   (tcp_add_reno_sack); tcp_update_scoreboard/tcp_mark_head_lost; lost-retransmit detection
 *   (tcp_mark_lost_retrans); tcp_head_timedout; PRR (tcp_update_cwnd_in_recovery, merged in 3.2 as
 *   commit a262f0cdf1f2 "Proportional Rate Reduction for TCP", which replaced rate halving; 3.2's
 *   tcp_cwnd_down is only used in the ECN CWR state); tcp_complete_cwr (cwnd = ssthresh at the end
 *   of recovery); tcp_moderate_cwnd; tcp_xmit_retransmit_queue without forward retransmissions.
 * - tcp_retransmit_timer: tcp_enter_loss (all un-SACKed segments LOST, cwnd = 1, ssthresh reduced
 *   once per window), retransmit the head, icsk_backoff++, RTO doubled up to TCP_RTO_MAX; timers
 *   fire on jiffy ticks (inet_csk_reset_xmit_timer: jiffies + when).
 * - Persist timer: tcp_check_probe_timer, tcp_probe_timer/tcp_send_probe0 (zero-window probe with
 *   sequence snd_una − 1, backing off like the RTO), tcp_ack_probe.
 *
 * Not modelled (documented departures): undo of spurious reductions (D-SACK/Eifel undo, F-RTO,
 * sysctl_tcp_frto = 2 in 3.2), reordering detection (links here never reorder, so FACK stays on and
 * tp->reordering stays 3), ECN, RFC 2861 cwnd validation and slow start after idle, MTU probing,
 * connection abort after tcp_retries2, the handshake (an optional SYN RTT sample seeds the
 * estimator). TCPTimeouts keeps Linux's meaning (first expiry of a series from Open); every expiry
 * is counted in `rtoExpiries`.
 *
 * Segments are numbered from 0; segment s carries bytes [s·mss, min((s+1)·mss, total)). Per-segment
 * state lives in a ring of typed arrays indexed by s.
 */
import type { Simulator } from "../sim/simulator.ts";
import { Jiffies, type Ns } from "../sim/time.ts";
import { TP_TCP_PROBE, TP_TCP_RETRANSMIT_SKB } from "../sim/trace.ts";
import type { PacketSink } from "./link.ts";
import {
  headerBytes,
  IPV4_HLEN,
  MSS_ETH,
  PKT_ACK,
  PKT_DATA,
  type PacketPool,
  TCP_HLEN,
  TCP_NUM_SACKS,
  TCPOLEN_TSTAMP_ALIGNED,
} from "./packet.ts";
import {
  type CongestionName,
  type CongestionOps,
  type CongestionSock,
  makeCongestionOps,
  TCP_CA_CWR,
  TCP_CA_DISORDER,
  TCP_CA_LOSS,
  TCP_CA_OPEN,
  TCP_CA_RECOVERY,
  TCP_INFINITE_SSTHRESH,
} from "./tcp-cong.ts";

/** include/net/tcp.h TCP_INIT_CWND (10 since 2.6.39). */
export const TCP_INIT_CWND = 10;
/** include/net/tcp.h TCP_DEFAULT_INIT_RCVWND: the window a Linux peer offers in its SYN, in MSS. */
export const TCP_DEFAULT_INIT_RCVWND = 10;
/**
 * mss_cache (tcp_sync_mss): the peer's MSS option (1460), less the 12 bytes of timestamp option
 * each segment carries when the handshake negotiated it.
 */
export const DEFAULT_MSS = MSS_ETH - TCPOLEN_TSTAMP_ALIGNED;
export const DEFAULT_MSS_NO_TS = MSS_ETH;
/** sysctl_tcp_reordering = TCP_FASTRETRANS_THRESH. */
export const TCP_FASTRETRANS_THRESH = 3;
/** sysctl_tcp_retries2 = TCP_RETR2: the cap on icsk_backoff for probes. */
const TCP_RETR2 = 15;

/** include/net/tcp.h timer constants, in jiffies at a given HZ. */
export function tcpRtoMin(hz: number): number {
  return Math.floor(hz / 5);
}
export function tcpRtoMax(hz: number): number {
  return 120 * hz;
}
/** include/net/tcp.h TCP_RESOURCE_PROBE_INTERVAL = HZ/2: the RTO retry after a local failure. */
export function tcpResourceProbeInterval(hz: number): number {
  return Math.floor(hz / 2);
}
/** TCP_TIMEOUT_INIT = 1*HZ in 3.2 ("RFC2988bis initial RTO value"). */
export function tcpTimeoutInit(hz: number): number {
  return hz;
}

/** Initial entries of the per-segment ring (a power of two). */
const INITIAL_RING = 8;

// Flags in tcp_skb_cb->sacked (include/net/tcp.h).
const TCPCB_SACKED_ACKED = 0x01;
const TCPCB_SACKED_RETRANS = 0x02;
const TCPCB_LOST = 0x04;
const TCPCB_EVER_RETRANS = 0x80;
const TCPCB_RETRANS = TCPCB_SACKED_RETRANS | TCPCB_EVER_RETRANS;

// tcp_input.c FLAG_* bits.
const FLAG_DATA = 0x01;
const FLAG_WIN_UPDATE = 0x02;
const FLAG_DATA_ACKED = 0x04;
const FLAG_RETRANS_DATA_ACKED = 0x08;
const FLAG_DATA_SACKED = 0x20;
const FLAG_SND_UNA_ADVANCED = 0x400;
const FLAG_SACK_RENEGING = 0x2000;
const FLAG_ACKED = FLAG_DATA_ACKED;
const FLAG_NOT_DUP = FLAG_DATA | FLAG_WIN_UPDATE | FLAG_ACKED;
const FLAG_CA_ALERT = FLAG_DATA_SACKED;

// icsk_pending
const ICSK_TIME_NONE = 0;
const ICSK_TIME_RETRANS = 1;
const ICSK_TIME_PROBE0 = 3;

export interface TcpSenderOptions {
  flow: number;
  mss?: number;
  cc?: CongestionName;
  /** CUBIC's HyStart (module parameter hystart, 1 in 3.2). */
  hystart?: boolean;
  /** SACK (and with it FACK, both on by default in 3.2); false gives NewReno dupack counting. */
  sack?: boolean;
  /** The sender host's HZ (jiffies clock for timers, timestamps and CUBIC). */
  hz?: number;
  initCwnd?: number;
  /** Bytes to send; Infinity for a bulk sender. */
  bytes?: number;
  /** snd_wnd before the first ACK: the window of the peer's SYN (10·MSS for a Linux peer). */
  initialPeerWindow?: number;
  /** An RTT sample taken on the handshake (tcp_ack of the SYN-ACK), seeding srtt and the RTO. */
  handshakeRttNs?: Ns;
  /**
   * sk_gso_max_size when the route's device takes TSO frames (GSO_MAX_SIZE = 65536,
   * include/linux/netdevice.h); 0 (the default) sends MSS-sized frames only.
   */
  gsoMaxSize?: number;
  /** Called once when a finite transfer is fully acknowledged. */
  onComplete?: (flow: number, at: Ns) => void;
  /** Called at every retransmission-timer expiry, before it is handled. */
  onRtoExpiry?: (flow: number, at: Ns) => void;
  /**
   * A guest socket's transmit path (src/guest/net/tcp/sender.ts): tcp_transmit_skb's skb_clone,
   * which can fail; absent, every frame goes to `out`. With it, only segments the application has
   * queued (queueSegments) are sent.
   */
  xmit?: SegmentXmit;
  /** Runs the retransmission timer's expiry in a context (the guest's timer softirq). */
  timerContext?: (expire: () => void) => void;
  /** A total this sender's cwnd is counted in (one per system, shared by its senders). */
  cwndTotal?: CwndTotal;
  /**
   * The handshake negotiated timestamps (both ends' net.ipv4.tcp_timestamps, default 1): segments
   * carry the option, RTT comes from its echo; without, segments are 12 bytes longer (the default
   * MSS is 1460) and RTT samples follow Karn's rule.
   */
  timestamps?: boolean;
}

/**
 * The sum of cwnd over a group of senders, kept as each cwnd changes, so that an observer reads it
 * in O(1) per sample instead of visiting every flow.
 */
export class CwndTotal {
  segments = 0;
}

/** tcp_transmit_skb for a sender whose frames are clones of write-queue skbs. */
export interface SegmentXmit {
  /** skb_clone of segment `seg`'s write-queue skb: the clone's id, or -1 when it failed. */
  clone(seg: number): number;
  /** dev_queue_xmit of frame `pkt` in `clone`. */
  send(pkt: number, clone: number): void;
}

/** Counters; names follow /proc/net/snmp and netstat TcpExt where one matches. */
export class TcpSenderCounters {
  /** Tcp OutSegs: every data segment and probe sent. */
  outSegs = 0;
  /** Tcp RetransSegs */
  retransSegs = 0;
  /** TcpExt TCPFastRetrans: retransmissions outside the Loss state. */
  tcpFastRetrans = 0;
  /** TcpExt TCPSlowStartRetrans: retransmissions in the Loss state after an RTO. */
  tcpSlowStartRetrans = 0;
  /** TcpExt TCPTimeouts: first RTO of a series, from Open (tcp_retransmit_timer). */
  tcpTimeouts = 0;
  /** TcpExt TCPSackFailures/TCPRenoFailures: first RTO of a series from Disorder. */
  tcpDisorderFailures = 0;
  /** TcpExt TCPSackRecoveryFail/TCPRenoRecoveryFail: first RTO of a series from Recovery. */
  tcpRecoveryFail = 0;
  /** TcpExt TCPLossFailures: first RTO of a series from Loss. */
  tcpLossFailures = 0;
  /** Every retransmission-timer expiry with data outstanding. */
  rtoExpiries = 0;
  /**
   * Transmissions refused by the local transmit path (tcp_transmit_skb returned an error: the
   * skb_clone failed); the segment stays on the write queue.
   */
  xmitFailures = 0;
  /** TcpExt TCPSackRecovery / TCPRenoRecovery: entries into fast recovery. */
  tcpSackRecovery = 0;
  tcpRenoRecovery = 0;
  /** Entries into the Loss state (RTO or SACK reneging). */
  lossEntries = 0;
  /** TcpExt TCPLostRetransmit */
  tcpLostRetransmit = 0;
  /** TcpExt TCPSACKReneging */
  tcpSackReneging = 0;
  /** Zero-window probes sent (tcp_xmit_probe_skb). */
  zeroWindowProbes = 0;
  /** TSO frames carrying more than one segment (gso_size set), and the segments they carried. */
  tsoFrames = 0;
  tsoSegs = 0;
  acksIn = 0;
  /** ACKs beyond snd_nxt (tcp_ack invalid_ack). */
  invalidAcks = 0;
  bytesAcked = 0;
}

export class TcpSender implements PacketSink, CongestionSock {
  /** ts_recent: the peer's latest TSval, echoed in TSecr. */
  private tsRecent = 0;
  readonly flow: number;
  readonly mss: number;
  readonly hz: number;
  readonly sack: boolean;
  readonly timestamps: boolean;
  /** tp->tcp_header_len: 20, plus 12 with timestamps. */
  private readonly tcpHeaderLen: number;
  /** Frame header bytes of each segment. */
  private readonly headerBytes: number;
  readonly totalBytes: number;
  readonly totalSegs: number;
  /** tp->write_seq in segments: what may be sent (totalSegs, or what the application queued). */
  private limitSegs: number;
  private readonly xmit: SegmentXmit | null;
  readonly cc: CongestionOps;
  readonly counters = new TcpSenderCounters();
  readonly jiffies: Jiffies;
  private readonly rtoMin: number;
  private readonly rtoMaxJ: number;

  // Sequence space, in segments.
  /** snd_una */
  private una = 0;
  /** snd_nxt */
  private nxt = 0;
  /** snd_wnd, bytes */
  private sndWnd: number;
  /** tp->max_window: the largest window the peer has offered (tcp_bound_to_half_wnd). */
  private maxWindow: number;
  private readonly gsoMaxSize: number;
  /** tp->xmit_size_goal_segs */
  private xmitSizeGoalSegs = 0;

  // Congestion state (struct tcp_sock).
  private cwndValue: number;
  /** tp->snd_cwnd_cnt, advanced by the congestion module. */
  cwndCnt = 0;
  readonly cwndClamp = Number.POSITIVE_INFINITY;
  private ssthreshValue = TCP_INFINITE_SSTHRESH;
  private state = TCP_CA_OPEN;
  readonly reordering = TCP_FASTRETRANS_THRESH;
  private highSeq = 0;
  private priorCwnd = 0;
  private prrDelivered = 0;
  private prrOut = 0;
  private sackedOut = 0;
  private lostOut = 0;
  private retransOut = 0;
  private facketsOut = 0;
  /** End (exclusive) of the highest SACKed segment. */
  private highestSack = 0;
  /** tp->lost_retrans_low, bytes. */
  private lostRetransLow = 0;
  /** tp->retransmit_high, as a segment end (exclusive). */
  private retransmitHigh = 0;
  /** tp->retransmit_skb_hint (−1: none). */
  private rtxHint = -1;
  /** Segments before this were visited by tcp_mark_head_lost (lost_skb_hint). */
  private lostMarkEnd = 0;

  // RTT estimator, jiffies (srtt << 3, mdev << 2 as in the kernel).
  private srtt = 0;
  private mdev = 0;
  private mdevMax = 0;
  private rttvar = 0;
  private rttSeq = 0;
  private rto: number;
  private backoff = 0;
  private retransmits = 0;

  // The retransmit/probe timer (icsk_retransmit_timer), lazily re-armed.
  private readonly timer: number;
  private timerMode = ICSK_TIME_NONE;

  // Per-segment ring.
  private ringMask: number;
  private flags: Uint8Array;
  /** TCP_SKB_CB(skb)->when: jiffies of the last (re)transmission. */
  private when: Float64Array;
  /** TCP_SKB_CB(skb)->ack_seq at retransmission: snd_nxt in bytes. */
  private rtxSndNxt: Float64Array;

  // SACK blocks of the ACK being processed and of the previous one (recv_sack_cache), in segments:
  // block i is [2i, 2i + 1]. Two arrays of 64 bytes, which V8 keeps on its heap, rather than four:
  // thousands of senders are built per run.
  private readonly sackBlocks = new Float64Array(2 * TCP_NUM_SACKS);
  private readonly sackCache = new Float64Array(2 * TCP_NUM_SACKS);
  private cacheN = 0;

  // Time-weighted cwnd integral (segments · ns).
  private cwndArea = 0;
  private cwndSince = 0;
  private readonly cwndTotal: CwndTotal;

  /** When the last byte was acknowledged (finite transfers), or −1. */
  completedAt: Ns = -1;
  startedAt: Ns = -1;
  private readonly startEvent: number;
  private readonly onComplete: ((flow: number, at: Ns) => void) | null;
  private readonly onRtoExpiry: ((flow: number, at: Ns) => void) | null;

  constructor(
    private readonly sim: Simulator,
    private readonly pool: PacketPool,
    private readonly out: PacketSink,
    opts: TcpSenderOptions,
  ) {
    this.flow = opts.flow;
    this.timestamps = opts.timestamps ?? true;
    this.mss = opts.mss ?? (this.timestamps ? DEFAULT_MSS : DEFAULT_MSS_NO_TS);
    this.tcpHeaderLen = TCP_HLEN + (this.timestamps ? TCPOLEN_TSTAMP_ALIGNED : 0);
    this.headerBytes = headerBytes(this.timestamps);
    this.hz = opts.hz ?? 250;
    this.jiffies = Jiffies.of(this.hz);
    this.sack = opts.sack ?? true;
    this.totalBytes = opts.bytes ?? Number.POSITIVE_INFINITY;
    if (!(this.totalBytes > 0)) throw new RangeError(`bytes must be > 0, got ${this.totalBytes}`);
    this.totalSegs = Math.ceil(this.totalBytes / this.mss);
    this.xmit = opts.xmit ?? null;
    this.limitSegs = this.xmit === null ? this.totalSegs : 0;
    this.cc = makeCongestionOps(opts.cc ?? "cubic", opts.hystart ?? true);
    this.cwndValue = opts.initCwnd ?? TCP_INIT_CWND;
    this.cwndTotal = opts.cwndTotal ?? new CwndTotal();
    this.cwndTotal.segments += this.cwndValue;
    this.sndWnd = opts.initialPeerWindow ?? TCP_DEFAULT_INIT_RCVWND * this.mss;
    this.maxWindow = this.sndWnd;
    this.gsoMaxSize = opts.gsoMaxSize ?? 0;
    this.rtoMin = tcpRtoMin(this.hz);
    this.rtoMaxJ = tcpRtoMax(this.hz);
    this.rto = tcpTimeoutInit(this.hz);
    if (opts.handshakeRttNs !== undefined) {
      this.rttEstimator(this.jiffies.at(opts.handshakeRttNs));
      this.setRto();
    }
    // growRing doubles it as the flight grows; 8 doubles fit in V8's heap beside the array object
    // (typed arrays up to 64 bytes), so the senders of thousands of small flows allocate no
    // off-heap buffers for the garbage collector to sweep.
    this.ringMask = INITIAL_RING - 1;
    this.flags = new Uint8Array(INITIAL_RING);
    this.when = new Float64Array(INITIAL_RING);
    this.rtxSndNxt = new Float64Array(INITIAL_RING);
    this.onComplete = opts.onComplete ?? null;
    this.onRtoExpiry = opts.onRtoExpiry ?? null;
    const expire = () => this.onTimer();
    const inContext = opts.timerContext;
    this.timer = sim.createTimer(
      sim.register(`tcp.${this.flow}.timer`, inContext === undefined ? expire : () => inContext(expire)),
      0,
    );
    this.startEvent = sim.register(`tcp.${this.flow}.start`, () => this.establish());
  }

  // ---- accessors for sampling ----

  get cwnd(): number {
    return this.cwndValue;
  }
  get ssthresh(): number {
    return this.ssthreshValue;
  }
  /** icsk_ca_state: TCP_CA_OPEN … TCP_CA_LOSS. */
  get caState(): number {
    return this.state;
  }
  /** snd_wnd: the peer's window, bytes. */
  get peerWindow(): number {
    return this.sndWnd;
  }
  /** Segments sent and not yet cumulatively acknowledged (packets_out). */
  get packetsOut(): number {
    return this.nxt - this.una;
  }
  /** snd_una in bytes. */
  get sndUna(): number {
    return Math.min(this.una * this.mss, this.totalBytes);
  }
  /** snd_una in segments: the write queue's head. */
  get unaSegs(): number {
    return this.una;
  }
  /** snd_nxt in bytes. */
  get sndNxt(): number {
    return Math.min(this.nxt * this.mss, this.totalBytes);
  }
  /** Smoothed RTT in ns (0 before the first sample). */
  get srttNs(): Ns {
    return Math.round((this.srtt / 8) * this.jiffies.tickNs);
  }
  get rtoNs(): Ns {
    return this.rto * this.jiffies.tickNs;
  }
  /** icsk_rto in jiffies (already backed off after timeouts). */
  get rtoJiffies(): number {
    return this.rto;
  }
  /** tcp_packets_in_flight = packets_out − (sacked_out + lost_out) + retrans_out. */
  inFlight(): number {
    return this.nxt - this.una - (this.sackedOut + this.lostOut) + this.retransOut;
  }
  /** ∫ cwnd dt in segment·ns since the start; the mean over [t1, t2] is the difference over t2 − t1. */
  cwndIntegral(): number {
    if (this.startedAt < 0) return 0;
    return this.cwndArea + this.cwndValue * (this.sim.now - this.cwndSince);
  }
  tcpTimeStamp(): number {
    return this.jiffies.at(this.sim.now);
  }

  clockMs(): number {
    return Math.floor(this.sim.now / 1_000_000);
  }

  setSsthresh(ssthresh: number): void {
    this.ssthreshValue = ssthresh;
  }

  setCwnd(cwnd: number): void {
    const now = this.sim.now;
    this.cwndArea += this.cwndValue * (now - this.cwndSince);
    this.cwndSince = now;
    this.cwndTotal.segments += cwnd - this.cwndValue;
    this.cwndValue = cwnd;
  }

  /**
   * tcp_sendmsg appended `n` full segments to the write queue (a sender with `xmit` only); they
   * leave at the next push.
   */
  queueSegments(n: number): void {
    this.limitSegs += n;
  }

  /** tcp_push from the application: tcp_write_xmit of what cwnd and the peer's window allow. */
  push(): void {
    this.pushPendingFrames();
  }

  /** Starts sending at `at` (default: now). */
  start(at: Ns = this.sim.now): void {
    this.sim.at(at, this.startEvent);
  }

  /**
   * The connection becomes established now (tcp_finish_connect): tcp_init_congestion_control, then
   * what is queued goes out. start() calls it from an event; a guest socket calls it from the softirq
   * that processes the SYN-ACK.
   */
  establish(): void {
    if (this.startedAt >= 0) return;
    this.startedAt = this.sim.now;
    this.cwndSince = this.sim.now;
    // tcp_init_congestion_control, as the connection becomes established
    this.cc.init(this);
    this.pushPendingFrames();
  }

  /** A host-side record of this sender: task `peer-<flow>`, pid 10000 + flow (call only when `on[tp]` is set). */
  private emitTrace(tp: number, fields: string): void {
    this.sim.trace.emitHost(tp, `peer-${this.flow}`, 10_000 + this.flow, fields);
  }

  // ---- input: ACKs ----

  /** An ACK from the network. */
  receive(pkt: number): void {
    const pool = this.pool;
    if (pool.kind[pkt] !== PKT_ACK) throw new Error(`flow ${this.flow}: sender got a non-ACK packet`);
    const ack = pool.ack[pkt]!;
    const wnd = pool.wnd[pkt]!;
    const tsEcr = pool.tsEcr[pkt]!;
    // tcp_store_ts_recent: the peer's TSval, echoed as TSecr in what we send next (RFC 7323).
    if (pool.tsVal[pkt]! > 0) this.tsRecent = pool.tsVal[pkt]!;
    const n = pool.sackCount[pkt]!;
    for (let i = 0; i < n; i++) {
      this.sackBlocks[2 * i] = Math.floor(pool.sackStart[pkt * TCP_NUM_SACKS + i]! / this.mss);
      this.sackBlocks[2 * i + 1] = this.segCeil(pool.sackEnd[pkt * TCP_NUM_SACKS + i]!);
    }
    pool.free(pkt);
    this.counters.acksIn++;
    if (this.startedAt < 0) return;
    this.tcpAck(ack, wnd, tsEcr, this.sack ? n : 0);
    this.pushPendingFrames();
    const tr = this.sim.trace;
    // tcp:tcp_probe (include/trace/events/tcp.h, 4.16+; 3.2 had the tcp_probe module with these fields).
    if (tr.on[TP_TCP_PROBE] !== 0)
      this.emitTrace(
        TP_TCP_PROBE,
        `flow=${this.flow} snd_nxt=${this.sndNxt} snd_una=${this.sndUna} snd_cwnd=${this.cwnd} ssthresh=${this.ssthresh} snd_wnd=${this.sndWnd} srtt=${Math.round(this.srttNs / 1000)}`,
      );
    if (this.una >= this.totalSegs && this.completedAt < 0) {
      this.completedAt = this.sim.now;
      this.clearXmitTimer();
      this.onComplete?.(this.flow, this.completedAt);
    }
  }

  /** tcp_ack */
  private tcpAck(ackBytes: number, wnd: number, tsEcr: number, nSacks: number): void {
    if (ackBytes > this.sndNxt) {
      this.counters.invalidAcks++;
      return;
    }
    const ackSeg = this.segCeil(ackBytes);
    // old_ack: FIFO links never reorder ACKs, so an older one carries nothing new.
    if (ackSeg < this.una) return;
    let flag = 0;
    if (ackSeg > this.una) flag |= FLAG_SND_UNA_ADVANCED;
    const priorInFlight = this.inFlight();
    // tcp_ack_update_window / tcp_may_update_window (the peer's sequence never moves)
    if (ackSeg > this.una || wnd > this.sndWnd) {
      flag |= FLAG_WIN_UPDATE;
      this.sndWnd = wnd;
      if (wnd > this.maxWindow) this.maxWindow = wnd;
    }
    if (nSacks > 0) flag |= this.sacktagWriteQueue(nSacks, ackSeg);
    const priorPackets = this.nxt - this.una;
    if (priorPackets === 0) {
      // no_queue: maybe an answer to a zero-window probe
      if (this.nxt < this.limitSegs) this.ackProbe();
      return;
    }
    const priorSacked = this.sackedOut;
    flag |= this.cleanRtxQueue(ackSeg, tsEcr);
    const packetsOut = this.nxt - this.una;
    const newlyAckedSacked = priorPackets - priorSacked - (packetsOut - this.sackedOut);
    this.counters.bytesAcked = this.sndUna;
    if (!(flag & FLAG_NOT_DUP) || flag & FLAG_CA_ALERT || this.state !== TCP_CA_OPEN) {
      if (flag & FLAG_DATA_ACKED && this.mayRaiseCwnd()) this.cc.congAvoid(this, priorInFlight);
      const isDupack = !(flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP));
      this.fastretransAlert(newlyAckedSacked, isDupack, flag);
    } else if (flag & FLAG_DATA_ACKED) {
      this.cc.congAvoid(this, priorInFlight);
    }
  }

  /** tcp_may_raise_cwnd (no ECN). */
  private mayRaiseCwnd(): boolean {
    return this.state !== TCP_CA_RECOVERY && this.state !== TCP_CA_CWR;
  }

  /** tcp_clean_rtx_queue */
  private cleanRtxQueue(ackSeg: number, tsEcr: number): number {
    const flags = this.flags;
    const mask = this.ringMask;
    let flag = 0;
    let newestWhen = -1;
    const oldUna = this.una;
    for (let s = oldUna; s < ackSeg; s++) {
      const f = flags[s & mask]!;
      if (f & TCPCB_RETRANS) {
        if (f & TCPCB_SACKED_RETRANS) this.retransOut--;
        flag |= FLAG_RETRANS_DATA_ACKED;
      } else {
        newestWhen = this.when[s & mask]!;
      }
      if (f & TCPCB_SACKED_ACKED) this.sackedOut--;
      if (f & TCPCB_LOST) this.lostOut--;
    }
    const acked = ackSeg - oldUna;
    if (acked > 0) flag |= FLAG_DATA_ACKED;
    this.una = ackSeg;
    if (this.una < this.nxt && flags[this.una & mask]! & TCPCB_SACKED_ACKED) flag |= FLAG_SACK_RENEGING;
    if (flag & FLAG_ACKED) {
      const now = this.tcpTimeStamp();
      // tcp_ack_update_rtt: tcp_ack_saw_tstamp, where the echo gives a sample even for
      // retransmissions; else tcp_ack_no_tstamp, whose seq_rtt is the oldest acked segment's age and
      // which takes no sample when any acked segment was retransmitted.
      if (this.timestamps && tsEcr !== 0) this.validRttMeas(now - tsEcr);
      else if (!(flag & FLAG_RETRANS_DATA_ACKED)) this.validRttMeas(now - this.when[oldUna & mask]!);
      this.rearmRto();
      if (!this.sack) this.removeRenoSacks(acked);
      this.facketsOut -= Math.min(acked, this.facketsOut);
      const rtt = flag & FLAG_RETRANS_DATA_ACKED || newestWhen < 0 ? -1 : now - newestWhen;
      this.cc.pktsAcked(this, acked, rtt);
    }
    return flag;
  }

  /** tcp_sacktag_write_queue, walking only ranges the previous ACK did not already cover. */
  private sacktagWriteQueue(n: number, ackSeg: number): number {
    let flag = 0;
    for (let b = 0; b < n; b++) {
      const s = Math.max(this.sackBlocks[2 * b]!, ackSeg);
      const e = Math.min(this.sackBlocks[2 * b + 1]!, this.nxt);
      if (s >= e) continue;
      flag |= this.sacktagUncached(s, e);
    }
    for (let b = 0; b < n; b++) {
      this.sackCache[2 * b] = this.sackBlocks[2 * b]!;
      this.sackCache[2 * b + 1] = this.sackBlocks[2 * b + 1]!;
    }
    this.cacheN = n;
    this.markLostRetrans();
    return flag;
  }

  /** Tags [s, e) except the parts inside a cached block. */
  private sacktagUncached(s: number, e: number): number {
    let flag = 0;
    let pos = s;
    while (pos < e) {
      // the cached block containing pos, or the nearest one starting after it
      let skipTo = pos;
      let nextStart = e;
      for (let c = 0; c < this.cacheN; c++) {
        const cs = this.sackCache[2 * c]!;
        const ce = this.sackCache[2 * c + 1]!;
        if (cs <= pos && ce > pos && ce > skipTo) skipTo = ce;
        else if (cs > pos && cs < nextStart) nextStart = cs;
      }
      if (skipTo > pos) {
        pos = skipTo;
        continue;
      }
      for (; pos < nextStart; pos++) flag |= this.sacktagOne(pos);
    }
    return flag;
  }

  /** tcp_sacktag_one */
  private sacktagOne(s: number): number {
    const i = s & this.ringMask;
    let f = this.flags[i]!;
    if (f & TCPCB_SACKED_ACKED) return 0;
    if (f & TCPCB_SACKED_RETRANS) {
      // "If the segment is not tagged as lost, we do not clear RETRANS"
      if (f & TCPCB_LOST) {
        f &= ~(TCPCB_LOST | TCPCB_SACKED_RETRANS);
        this.lostOut--;
        this.retransOut--;
      }
    } else if (f & TCPCB_LOST) {
      f &= ~TCPCB_LOST;
      this.lostOut--;
    }
    this.flags[i] = f | TCPCB_SACKED_ACKED;
    this.sackedOut++;
    const fackCount = s - this.una + 1;
    if (fackCount > this.facketsOut) this.facketsOut = fackCount;
    if (s + 1 > this.highestSack) this.highestSack = s + 1;
    return FLAG_DATA_SACKED;
  }

  /** tcp_highest_sack_seq, bytes. */
  private highestSackSeq(): number {
    if (this.sackedOut === 0) return this.sndUna;
    return Math.min(this.highestSack * this.mss, this.totalBytes);
  }

  /** tcp_mark_lost_retrans: a SACK above a retransmission's snd_nxt proves it was lost (FACK). */
  private markLostRetrans(): void {
    if (!this.sack || this.retransOut === 0 || this.state !== TCP_CA_RECOVERY) return;
    const receivedUpto = this.highestSackSeq();
    if (!(receivedUpto > this.lostRetransLow)) return;
    let newLow = this.sndNxt;
    let cnt = 0;
    for (let s = this.una; s < this.nxt && cnt < this.retransOut; s++) {
      const i = s & this.ringMask;
      const f = this.flags[i]!;
      if (!(f & TCPCB_SACKED_RETRANS)) continue;
      const ackSeq = this.rtxSndNxt[i]!;
      if (receivedUpto > ackSeq) {
        this.flags[i] = f & ~TCPCB_SACKED_RETRANS;
        this.retransOut--;
        this.markLostUncondVerify(s);
        this.counters.tcpLostRetransmit++;
      } else {
        if (ackSeq < newLow) newLow = ackSeq;
        cnt++;
      }
    }
    if (this.retransOut) this.lostRetransLow = newLow;
  }

  /** tcp_fastretrans_alert (pkts_acked only feeds the undo and reordering logic left out here) */
  private fastretransAlert(newlyAckedSacked: number, isDupack: boolean, flag: number): void {
    let doLost = isDupack || (flag & FLAG_DATA_SACKED && this.facketsOutH() > this.reordering);
    let fastRexmit = false;
    // B. SACK reneging: the receiver dropped data it had SACKed (tcp_check_sack_reneging)
    if (flag & FLAG_SACK_RENEGING) {
      this.counters.tcpSackReneging++;
      this.enterLoss(true);
      this.retransmits++;
      this.retransmitSkb(this.una);
      this.resetXmitTimer(ICSK_TIME_RETRANS, this.rto);
      return;
    }
    // E. state exit when high_seq is acknowledged
    if (this.state !== TCP_CA_OPEN && this.una >= this.highSeq) {
      if (this.state === TCP_CA_LOSS) {
        this.retransmits = 0;
        if (this.tryUndoRecovery()) return;
      } else if (this.state === TCP_CA_RECOVERY) {
        if (!this.sack) this.sackedOut = 0;
        if (this.tryUndoRecovery()) return;
        this.setCwnd(this.ssthreshValue); // tcp_complete_cwr, PRR flavour
      }
    }
    // F. process state
    switch (this.state) {
      case TCP_CA_RECOVERY:
        if (!(flag & FLAG_SND_UNA_ADVANCED)) {
          if (!this.sack && isDupack) this.addRenoSack();
        } else {
          // tcp_try_undo_partial without undo: "Partial ACK arrived. Force Hoe's retransmit."
          doLost = !this.sack || this.facketsOutH() > this.reordering;
        }
        break;
      case TCP_CA_LOSS:
        if (flag & FLAG_DATA_ACKED) this.retransmits = 0;
        if (!this.sack && flag & FLAG_SND_UNA_ADVANCED) this.sackedOut = 0;
        this.moderateCwnd();
        this.xmitRetransmitQueue();
        return;
      default: {
        if (!this.sack) {
          if (flag & FLAG_SND_UNA_ADVANCED) this.sackedOut = 0;
          if (isDupack) this.addRenoSack();
        }
        if (!this.timeToRecover()) {
          this.tryToOpen();
          return;
        }
        if (this.sack) this.counters.tcpSackRecovery++;
        else this.counters.tcpRenoRecovery++;
        this.highSeq = this.nxt;
        if (this.state < TCP_CA_CWR) this.ssthreshValue = this.cc.ssthresh(this);
        this.cwndCnt = 0;
        this.priorCwnd = this.cwndValue;
        this.prrDelivered = 0;
        this.prrOut = 0;
        this.setCaState(TCP_CA_RECOVERY);
        fastRexmit = true;
      }
    }
    if (doLost || (this.sack && this.headTimedOut())) this.updateScoreboard();
    this.prrDelivered += newlyAckedSacked;
    this.updateCwndInRecovery(newlyAckedSacked, fastRexmit);
    this.xmitRetransmitQueue();
  }

  /** tcp_try_undo_recovery when nothing can be undone. */
  private tryUndoRecovery(): boolean {
    if (this.una === this.highSeq && !this.sack) {
      // "Hold old state until something *above* high_seq is ACKed" (RFC 2582)
      this.moderateCwnd();
      return true;
    }
    this.setCaState(TCP_CA_OPEN);
    return false;
  }

  /** tcp_try_to_open → tcp_try_keep_open */
  private tryToOpen(): void {
    const state = this.sackedOut + this.lostOut > 0 || this.retransOut > 0 ? TCP_CA_DISORDER : TCP_CA_OPEN;
    if (this.state !== state) {
      this.setCaState(state);
      this.highSeq = this.nxt;
    }
    if (this.state !== TCP_CA_OPEN) this.moderateCwnd();
  }

  /** tcp_moderate_cwnd: no bursts larger than tcp_max_burst (= reordering) after dubious ACKs. */
  private moderateCwnd(): void {
    const limit = this.inFlight() + this.reordering;
    if (this.cwndValue > limit) this.setCwnd(limit);
  }

  /** tcp_time_to_recover (no F-RTO, no thin streams) */
  private timeToRecover(): boolean {
    if (this.lostOut) return true;
    // tcp_dupack_heuristics: fackets_out with FACK, sacked_out + 1 otherwise
    if ((this.sack ? this.facketsOut : this.sackedOut + 1) > this.reordering) return true;
    if (this.sack && this.headTimedOut()) return true;
    const packetsOut = this.nxt - this.una;
    return (
      packetsOut <= this.reordering &&
      this.sackedOut >= Math.max(packetsOut >> 1, TCP_FASTRETRANS_THRESH) &&
      !this.maySendNow()
    );
  }

  /** tcp_fackets_out */
  private facketsOutH(): number {
    return this.sack ? this.facketsOut : this.sackedOut + 1;
  }

  /** tcp_head_timedout / tcp_skb_timedout */
  private headTimedOut(): boolean {
    return this.nxt > this.una && this.tcpTimeStamp() - this.when[this.una & this.ringMask]! > this.rto;
  }

  /** tcp_may_send_now: a new segment would pass the cwnd and window tests. */
  private maySendNow(): boolean {
    return this.nxt < this.limitSegs && this.inFlight() < this.cwndValue && this.fitsWindow(this.nxt);
  }

  /**
   * tcp_update_scoreboard: NewReno marks the head, FACK everything but the last `reordering`
   * segments below the highest SACK (the SACK-without-FACK branch is unused: FACK is on with SACK).
   */
  private updateScoreboard(): void {
    if (!this.sack) {
      this.markHeadLost(1);
    } else {
      const lost = this.facketsOut - this.reordering;
      this.markHeadLost(lost <= 0 ? 1 : lost);
    }
    this.timeoutSkbs();
  }

  /** tcp_mark_head_lost: the first `packets` segments from snd_una, up to high_seq. */
  private markHeadLost(packets: number): void {
    const limit = Math.min(this.una + packets, this.highSeq, this.nxt);
    for (let s = Math.max(this.una, this.lostMarkEnd); s < limit; s++) this.markLost(s);
    if (limit > this.lostMarkEnd) this.lostMarkEnd = limit;
  }

  /** tcp_timeout_skbs (FACK): everything sent more than an RTO ago is lost. */
  private timeoutSkbs(): void {
    if (!this.sack || !this.headTimedOut()) return;
    const now = this.tcpTimeStamp();
    for (let s = this.una; s < this.nxt && now - this.when[s & this.ringMask]! > this.rto; s++)
      this.markLost(s);
  }

  /** tcp_skb_mark_lost */
  private markLost(s: number): void {
    const i = s & this.ringMask;
    if (this.flags[i]! & (TCPCB_LOST | TCPCB_SACKED_ACKED)) return;
    this.verifyRetransmitHint(s);
    this.lostOut++;
    this.flags[i]! |= TCPCB_LOST;
  }

  /** tcp_skb_mark_lost_uncond_verify */
  private markLostUncondVerify(s: number): void {
    this.verifyRetransmitHint(s);
    const i = s & this.ringMask;
    if (!(this.flags[i]! & (TCPCB_LOST | TCPCB_SACKED_ACKED))) {
      this.lostOut++;
      this.flags[i]! |= TCPCB_LOST;
    }
  }

  /** tcp_verify_retransmit_hint */
  private verifyRetransmitHint(s: number): void {
    if (this.rtxHint < 0 || s < this.rtxHint) this.rtxHint = s;
    if (!this.lostOut || s + 1 > this.retransmitHigh) this.retransmitHigh = s + 1;
  }

  /**
   * tcp_update_cwnd_in_recovery (PRR-SSRB, 3.2): spread the reduction to ssthresh over one RTT in
   * proportion to delivered segments, or slow-start back up to ssthresh if the flight fell below it.
   */
  private updateCwndInRecovery(newlyAckedSacked: number, fastRexmit: boolean): void {
    const inFlight = this.inFlight();
    let sndcnt: number;
    if (inFlight > this.ssthreshValue) {
      sndcnt =
        Math.floor((this.ssthreshValue * this.prrDelivered + this.priorCwnd - 1) / this.priorCwnd) -
        this.prrOut;
    } else {
      sndcnt = Math.min(
        this.ssthreshValue - inFlight,
        Math.max(this.prrDelivered - this.prrOut, newlyAckedSacked) + 1,
      );
    }
    if (fastRexmit && sndcnt < 1) sndcnt = 1;
    this.setCwnd(inFlight + sndcnt);
  }

  /** tcp_add_reno_sack: a duplicate ACK stands for one segment that left the network. */
  private addRenoSack(): void {
    this.sackedOut++;
    this.limitRenoSacked();
  }

  /** tcp_remove_reno_sacks: "One ACK acked hole. The rest eat duplicate ACKs." */
  private removeRenoSacks(acked: number): void {
    if (acked > 0) {
      if (acked - 1 >= this.sackedOut) this.sackedOut = 0;
      else this.sackedOut -= acked - 1;
    }
    this.limitRenoSacked();
  }

  /** tcp_limit_reno_sacked */
  private limitRenoSacked(): void {
    const packetsOut = this.nxt - this.una;
    const holes = Math.min(Math.max(this.lostOut, 1), packetsOut);
    if (this.sackedOut + holes > packetsOut) this.sackedOut = packetsOut - holes;
  }

  /** tcp_set_ca_state: the module hears of the change first. */
  private setCaState(state: number): void {
    this.cc.setState(this, state);
    this.state = state;
  }

  /**
   * tcp_enter_loss: reduce ssthresh once per window, cwnd = 1, every un-SACKed segment LOST
   * (`forgetSacks`: also the SACKed ones, after reneging).
   */
  private enterLoss(forgetSacks: boolean): void {
    this.counters.lossEntries++;
    if (
      this.state <= TCP_CA_DISORDER ||
      this.una === this.highSeq ||
      (this.state === TCP_CA_LOSS && !this.retransmits)
    ) {
      this.ssthreshValue = this.cc.ssthresh(this);
    }
    this.setCwnd(1);
    this.cwndCnt = 0;
    this.retransOut = 0;
    this.lostOut = 0;
    if (!this.sack) this.sackedOut = 0;
    if (forgetSacks) {
      this.sackedOut = 0;
      this.facketsOut = 0;
      this.cacheN = 0;
    }
    // tcp_clear_all_retrans_hints
    this.rtxHint = -1;
    this.lostMarkEnd = this.una;
    const mask = this.ringMask;
    for (let s = this.una; s < this.nxt; s++) {
      const i = s & mask;
      let f = this.flags[i]! & ~(TCPCB_LOST | TCPCB_SACKED_RETRANS);
      if (!(f & TCPCB_SACKED_ACKED) || forgetSacks) {
        f = (f & ~TCPCB_SACKED_ACKED) | TCPCB_LOST;
        this.lostOut++;
        this.retransmitHigh = s + 1;
      }
      this.flags[i] = f;
    }
    this.setCaState(TCP_CA_LOSS);
    this.highSeq = this.nxt;
  }

  /** tcp_xmit_retransmit_queue without forward retransmissions (tcp_can_forward_retransmit). */
  private xmitRetransmitQueue(): void {
    if (this.nxt === this.una) return;
    if (!this.lostOut) this.retransmitHigh = this.una;
    let s: number;
    let lastLost: number;
    if (this.rtxHint >= this.una) {
      s = this.rtxHint;
      lastLost = Math.min(s + 1, this.retransmitHigh);
    } else {
      s = this.una;
      lastLost = this.una;
    }
    let hole = false;
    const mask = this.ringMask;
    for (; s < this.nxt; s++) {
      if (!hole) this.rtxHint = s;
      if (this.inFlight() >= this.cwndValue) return;
      if (s >= this.retransmitHigh) {
        this.retransmitHigh = lastLost;
        break;
      }
      const f = this.flags[s & mask]!;
      if (!(f & TCPCB_LOST)) {
        if (!hole && !(f & (TCPCB_SACKED_RETRANS | TCPCB_SACKED_ACKED))) hole = true;
        continue;
      }
      lastLost = s + 1;
      if (f & (TCPCB_SACKED_ACKED | TCPCB_SACKED_RETRANS)) continue;
      if (!this.retransmitSkb(s)) return;
      if (this.state === TCP_CA_LOSS) this.counters.tcpSlowStartRetrans++;
      else this.counters.tcpFastRetrans++;
      if (this.state === TCP_CA_RECOVERY) this.prrOut++;
      if (s === this.una) this.resetXmitTimer(ICSK_TIME_RETRANS, this.rto);
    }
  }

  /**
   * tcp_retransmit_skb; false if the segment lies beyond the peer's window (-EAGAIN) or the
   * transmit path refused it (the clone failed: nothing is marked).
   */
  private retransmitSkb(s: number): boolean {
    if (s !== this.una && s * this.mss >= this.sndUna + this.sndWnd) return false;
    const clone = this.cloneFor(s);
    if (clone < 0) return false;
    if (!this.retransOut) this.lostRetransLow = this.sndNxt;
    const i = s & this.ringMask;
    this.flags[i]! |= TCPCB_RETRANS;
    this.retransOut++;
    this.rtxSndNxt[i] = this.sndNxt;
    this.counters.retransSegs++;
    const tr = this.sim.trace;
    if (tr.on[TP_TCP_RETRANSMIT_SKB] !== 0)
      this.emitTrace(
        TP_TCP_RETRANSMIT_SKB,
        `flow=${this.flow} seq=${s * this.mss} state=${this.state} cwnd=${this.cwnd}`,
      );
    this.transmit(s, 1, clone);
    return true;
  }

  // ---- output ----

  private segCeil(bytes: number): number {
    return Math.ceil(bytes / this.mss);
  }

  private segEnd(s: number): number {
    return Math.min((s + 1) * this.mss, this.totalBytes);
  }

  /** tcp_snd_wnd_test: the segment ends inside snd_una + snd_wnd. */
  private fitsWindow(s: number): boolean {
    return this.segEnd(s) <= this.sndUna + this.sndWnd;
  }

  /** tcp_push_pending_frames → tcp_write_xmit, then tcp_check_probe_timer. */
  private pushPendingFrames(): void {
    if (this.startedAt < 0) return;
    let sent = 0;
    const goal = this.gsoMaxSize > 0 ? this.xmitSizeGoal() / this.mss : 1;
    while (this.nxt < this.limitSegs) {
      if (this.inFlight() >= this.cwndValue || !this.fitsWindow(this.nxt)) break;
      // tcp_mss_split_point: as many segments as cwnd and the peer's window take, up to the goal
      let n = 1;
      while (
        n < goal &&
        this.nxt + n < this.limitSegs &&
        this.inFlight() + n < this.cwndValue &&
        this.fitsWindow(this.nxt + n)
      )
        n++;
      // "if (unlikely(tcp_transmit_skb(sk, skb, 1, gfp))) break;" (tcp_write_xmit)
      if (!this.sendNewSegments(n)) break;
      sent += n;
    }
    if (this.state === TCP_CA_RECOVERY) this.prrOut += sent;
    if (this.nxt === this.una && this.nxt < this.limitSegs && this.timerMode === ICSK_TIME_NONE) {
      this.resetXmitTimer(ICSK_TIME_PROBE0, this.rto);
    }
  }

  /**
   * tcp_xmit_size_goal (net/ipv4/tcp.c) in bytes, a multiple of the MSS: sk_gso_max_size − 1 less
   * the IPv4 header and tcp_header_len (20 + 12 timestamp bytes), at most half the largest window
   * the peer offered (tcp_bound_to_half_wnd), and never less than one MSS.
   */
  private xmitSizeGoal(): number {
    const mss = this.mss;
    let goal = this.gsoMaxSize - 1 - IPV4_HLEN - this.tcpHeaderLen;
    // tcp_bound_to_half_wnd; 68 − tcp_header_len is the floor it keeps for tiny windows
    const cutoff = this.maxWindow >= 512 ? Math.floor(this.maxWindow / 2) : this.maxWindow;
    if (cutoff > 0 && goal > cutoff) goal = Math.max(cutoff, 68 - this.tcpHeaderLen);
    const old = this.xmitSizeGoalSegs * mss;
    if (!(old <= goal && old + mss > goal)) this.xmitSizeGoalSegs = Math.floor(goal / mss);
    return Math.max(this.xmitSizeGoalSegs * mss, mss);
  }

  /**
   * tcp_transmit_skb of the n segments from snd_nxt as one frame + tcp_event_new_data_sent; false
   * (nothing sent, snd_nxt unchanged) when the transmit path refused the frame.
   */
  private sendNewSegments(n: number): boolean {
    const s = this.nxt;
    const clone = this.cloneFor(s);
    if (clone < 0) return false;
    const priorPackets = this.nxt - this.una;
    const now = this.tcpTimeStamp();
    for (let i = 0; i < n; i++) {
      if (s + i - this.una > this.ringMask) this.growRing();
      this.flags[(s + i) & this.ringMask] = 0;
      this.when[(s + i) & this.ringMask] = now;
    }
    this.nxt += n;
    this.transmit(s, n, clone);
    if (priorPackets === 0) this.resetXmitTimer(ICSK_TIME_RETRANS, this.rto);
    return true;
  }

  /**
   * Segments [s, s + n) as one frame; more than one is a TSO frame with gso_size = MSS
   * (tcp_set_skb_tso_segs leaves gso_size 0 for a frame of one segment).
   */
  private transmit(s: number, n: number, clone: number): void {
    const pool = this.pool;
    const p = pool.alloc();
    const seq = s * this.mss;
    const len = this.segEnd(s + n - 1) - seq;
    pool.kind[p] = PKT_DATA;
    pool.flow[p] = this.flow;
    pool.seq[p] = seq;
    pool.len[p] = len;
    pool.wireLen[p] = len + this.headerBytes;
    if (n > 1) {
      pool.gsoSize[p] = this.mss;
      this.counters.tsoFrames++;
      this.counters.tsoSegs += n;
    }
    const now = this.tcpTimeStamp();
    this.writeTimestamps(p, now);
    this.when[s & this.ringMask] = now;
    this.counters.outSegs += n;
    if (this.xmit === null) this.out.receive(p);
    else this.xmit.send(p, clone);
  }

  /** The timestamp option of frame p (tcp_options_write): TSval now, TSecr ts_recent; 0 without it. */
  private writeTimestamps(p: number, now: number): void {
    const pool = this.pool;
    pool.tsVal[p] = this.timestamps ? now : 0;
    pool.tsEcr[p] = this.timestamps ? this.tsRecent : 0;
  }

  /** tcp_transmit_skb's skb_clone: 0 without a guest transmit path, else the clone or -1 (counted). */
  private cloneFor(s: number): number {
    if (this.xmit === null) return 0;
    const c = this.xmit.clone(s);
    if (c < 0) this.counters.xmitFailures++;
    return c;
  }

  private growRing(): void {
    const cap = (this.ringMask + 1) * 2;
    const flags = new Uint8Array(cap);
    const when = new Float64Array(cap);
    const rtx = new Float64Array(cap);
    for (let s = this.una; s < this.nxt; s++) {
      flags[s & (cap - 1)] = this.flags[s & this.ringMask]!;
      when[s & (cap - 1)] = this.when[s & this.ringMask]!;
      rtx[s & (cap - 1)] = this.rtxSndNxt[s & this.ringMask]!;
    }
    this.flags = flags;
    this.when = when;
    this.rtxSndNxt = rtx;
    this.ringMask = cap - 1;
  }

  // ---- RTT and timers ----

  /** tcp_rtt_estimator (Van Jacobson, with Linux's mdev_max/rttvar per-RTT smoothing). */
  private rttEstimator(mrtt: number): void {
    let m = mrtt === 0 ? 1 : mrtt;
    if (this.srtt !== 0) {
      m -= this.srtt >> 3;
      this.srtt += m;
      if (m < 0) {
        m = -m;
        m -= this.mdev >> 2;
        if (m > 0) m >>= 3;
      } else {
        m -= this.mdev >> 2;
      }
      this.mdev += m;
      if (this.mdev > this.mdevMax) {
        this.mdevMax = this.mdev;
        if (this.mdevMax > this.rttvar) this.rttvar = this.mdevMax;
      }
      if (this.una > this.rttSeq) {
        if (this.mdevMax < this.rttvar) this.rttvar -= (this.rttvar - this.mdevMax) >> 2;
        this.rttSeq = this.nxt;
        this.mdevMax = this.rtoMin;
      }
    } else {
      this.srtt = m << 3;
      this.mdev = m << 1;
      this.mdevMax = this.rttvar = Math.max(this.mdev, this.rtoMin);
      this.rttSeq = this.nxt;
    }
  }

  /** tcp_set_rto + tcp_bound_rto: srtt + rttvar, at most TCP_RTO_MAX. */
  private setRto(): void {
    this.rto = Math.min((this.srtt >> 3) + this.rttvar, this.rtoMaxJ);
  }

  /** tcp_valid_rtt_meas */
  private validRttMeas(rtt: number): void {
    this.rttEstimator(rtt);
    this.setRto();
    this.backoff = 0;
  }

  /** tcp_rearm_rto */
  private rearmRto(): void {
    if (this.nxt === this.una) this.clearXmitTimer();
    else this.resetXmitTimer(ICSK_TIME_RETRANS, this.rto);
  }

  /** inet_csk_reset_xmit_timer: fires at the tick where jiffies reaches jiffies + when. */
  private resetXmitTimer(mode: number, whenJ: number): void {
    this.timerMode = mode;
    this.sim.armTimer(this.timer, this.jiffies.timerExpiry(this.sim.now, Math.min(whenJ, this.rtoMaxJ)));
  }

  private clearXmitTimer(): void {
    this.timerMode = ICSK_TIME_NONE;
    this.sim.disarmTimer(this.timer);
  }

  /** tcp_write_timer */
  private onTimer(): void {
    const mode = this.timerMode;
    this.timerMode = ICSK_TIME_NONE;
    if (mode === ICSK_TIME_RETRANS) this.retransmitTimer();
    else if (mode === ICSK_TIME_PROBE0) this.probeTimer();
  }

  /** tcp_retransmit_timer */
  private retransmitTimer(): void {
    if (this.nxt === this.una) return;
    this.onRtoExpiry?.(this.flow, this.sim.now);
    this.counters.rtoExpiries++;
    if (this.sndWnd === 0) {
      // "Receiver dastardly shrinks window. Our retransmits become zero probes"
      this.enterLoss(false);
      this.retransmitSkb(this.una);
    } else {
      if (this.retransmits === 0) {
        if (this.state === TCP_CA_DISORDER) this.counters.tcpDisorderFailures++;
        else if (this.state === TCP_CA_RECOVERY) this.counters.tcpRecoveryFail++;
        else if (this.state === TCP_CA_LOSS) this.counters.tcpLossFailures++;
        else this.counters.tcpTimeouts++;
      }
      this.enterLoss(false);
      if (!this.retransmitSkb(this.una)) {
        // "Retransmission failed because of local congestion, do not backoff."
        if (this.retransmits === 0) this.retransmits = 1;
        this.resetXmitTimer(ICSK_TIME_RETRANS, Math.min(this.rto, tcpResourceProbeInterval(this.hz)));
        return;
      }
      this.backoff++;
      this.retransmits++;
    }
    // out_reset_timer
    this.rto = Math.min(this.rto * 2, this.rtoMaxJ);
    this.resetXmitTimer(ICSK_TIME_RETRANS, this.rto);
  }

  /** tcp_probe_timer → tcp_send_probe0 */
  private probeTimer(): void {
    if (this.nxt !== this.una || this.nxt >= this.limitSegs) {
      return;
    }
    // tcp_write_wakeup: send the head segment if the window takes it, else a zero-window probe
    if (this.fitsWindow(this.nxt)) {
      this.sendNewSegments(1);
    } else {
      this.sendWindowProbe();
    }
    if (this.nxt !== this.una) {
      this.backoff = 0;
      return;
    }
    if (this.backoff < TCP_RETR2) this.backoff++;
    this.resetXmitTimer(ICSK_TIME_PROBE0, Math.min(this.rto * 2 ** this.backoff, this.rtoMaxJ));
  }

  /** tcp_xmit_probe_skb: "Use a previous sequence. This should cause the other end to send an ack." */
  private sendWindowProbe(): void {
    const pool = this.pool;
    const p = pool.alloc();
    pool.kind[p] = PKT_DATA;
    pool.flow[p] = this.flow;
    pool.seq[p] = this.sndUna - 1;
    pool.len[p] = 0;
    pool.wireLen[p] = this.headerBytes;
    this.writeTimestamps(p, this.tcpTimeStamp());
    this.counters.outSegs++;
    this.counters.zeroWindowProbes++;
    this.out.receive(p);
  }

  /** tcp_ack_probe: an ACK while nothing is outstanding and data waits for the window. */
  private ackProbe(): void {
    if (this.fitsWindow(this.nxt)) {
      this.backoff = 0;
      this.clearXmitTimer();
    } else {
      this.resetXmitTimer(ICSK_TIME_PROBE0, Math.min(this.rto * 2 ** this.backoff, this.rtoMaxJ));
    }
  }
}
