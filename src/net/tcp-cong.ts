/**
 * Congestion control modules of Linux 3.2: Reno (net/ipv4/tcp_cong.c, "NewReno" in the sense of the
 * reno module plus Linux's loss recovery) and CUBIC (net/ipv4/tcp_cubic.c, the default:
 * net/ipv4/Kconfig DEFAULT_TCP_CONG "cubic"). Window arithmetic is in segments and integer, as in
 * the kernel; time is jiffies (tcp_time_stamp = jiffies in 3.2).
 *
 * CUBIC includes HyStart (module parameter hystart = 1 in 3.2; selectable off), which ends slow start
 * at an ACK train as long as half the minimum RTT or at a round whose RTT rose by 1/16 of the
 * minimum (4–16 ms) — source: the 3.2.71 stable tree, whose tcp_cubic.c HyStart is 3.2.0's plus
 * stable fixes. The CA_EVENT_TX_START epoch shift after idle does not exist in 3.2.
 */

/** enum tcp_ca_state (include/net/tcp.h). */
export const TCP_CA_OPEN = 0;
export const TCP_CA_DISORDER = 1;
export const TCP_CA_CWR = 2;
export const TCP_CA_RECOVERY = 3;
export const TCP_CA_LOSS = 4;

/** include/net/tcp.h TCP_INFINITE_SSTHRESH. */
export const TCP_INFINITE_SSTHRESH = 0x7fffffff;

/** What a congestion module may see and change of the socket. */
export interface CongestionSock {
  readonly cwnd: number;
  /** tp->snd_cwnd_cnt */
  cwndCnt: number;
  /** tp->snd_cwnd_clamp */
  readonly cwndClamp: number;
  readonly ssthresh: number;
  readonly caState: number;
  /** tp->reordering, which tcp_max_burst returns. */
  readonly reordering: number;
  readonly hz: number;
  /** snd_una and snd_nxt, bytes (tcp_cong_avoid's `ack` is the new snd_una). */
  readonly sndUna: number;
  readonly sndNxt: number;
  /** tcp_time_stamp: the sender's jiffies. */
  tcpTimeStamp(): number;
  /** bictcp_clock: milliseconds (jiffies_to_msecs at HZ ≥ 1000, ktime_get_real below). */
  clockMs(): number;
  setCwnd(cwnd: number): void;
  setSsthresh(ssthresh: number): void;
}

/** The hooks of struct tcp_congestion_ops that 3.2's reno and cubic implement. */
export interface CongestionOps {
  readonly name: string;
  /** .init, when the connection is established. */
  init(sk: CongestionSock): void;
  /** .ssthresh: the new slow-start threshold after a loss; may update module state. */
  ssthresh(sk: CongestionSock): number;
  /** .cong_avoid, called on ACKs that acknowledge new data (tcp_cong_avoid). */
  congAvoid(sk: CongestionSock, inFlight: number): void;
  /** .set_state, called by tcp_set_ca_state. */
  setState(sk: CongestionSock, state: number): void;
  /** .pkts_acked with the RTT of the newest acked segment in jiffies, or −1. */
  pktsAcked(sk: CongestionSock, cnt: number, rttJiffies: number): void;
}

export type CongestionName = "cubic" | "reno";

/**
 * tcp_is_cwnd_limited (tcp_cong.c, 3.2) for a sender without GSO: cwnd may grow only while the
 * flight fills it to within tcp_max_burst (= tp->reordering) segments.
 */
export function tcpIsCwndLimited(sk: CongestionSock, inFlight: number): boolean {
  if (inFlight >= sk.cwnd) return true;
  return sk.cwnd - inFlight <= sk.reordering;
}

/**
 * tcp_slow_start (tcp_cong.c, 3.2, sysctl_tcp_abc = 0, tcp_max_ssthresh = 0): cnt = snd_cwnd is
 * added to snd_cwnd_cnt, i.e. one segment per call — per ACK, not per segment acked.
 */
export function tcpSlowStart(sk: CongestionSock): void {
  let cwnd = sk.cwnd;
  sk.cwndCnt += cwnd;
  while (sk.cwndCnt >= cwnd) {
    sk.cwndCnt -= cwnd;
    if (cwnd < sk.cwndClamp) cwnd++;
  }
  sk.setCwnd(cwnd);
}

/** tcp_cong_avoid_ai (tcp_cong.c, 3.2): one segment after w + 1 ACKs. */
export function tcpCongAvoidAi(sk: CongestionSock, w: number): void {
  if (sk.cwndCnt >= w) {
    if (sk.cwnd < sk.cwndClamp) sk.setCwnd(sk.cwnd + 1);
    sk.cwndCnt = 0;
  } else {
    sk.cwndCnt++;
  }
}

/** tcp_reno: tcp_reno_cong_avoid and tcp_reno_ssthresh (tcp_cong.c). */
export class RenoOps implements CongestionOps {
  readonly name = "reno";
  init(): void {}
  ssthresh(sk: CongestionSock): number {
    return Math.max(sk.cwnd >> 1, 2);
  }
  congAvoid(sk: CongestionSock, inFlight: number): void {
    if (!tcpIsCwndLimited(sk, inFlight)) return;
    if (sk.cwnd <= sk.ssthresh) tcpSlowStart(sk);
    else tcpCongAvoidAi(sk, sk.cwnd);
  }
  setState(): void {}
  pktsAcked(): void {}
}

// tcp_cubic.c (3.2) module parameters and derived constants (cubictcp_register).
const BICTCP_BETA_SCALE = 1024;
/** 2^10 units per second for the cubic clock. */
const BICTCP_HZ = 10;
const ACK_RATIO_SHIFT = 4;
const ACK_RATIO_LIMIT = 32 << ACK_RATIO_SHIFT;
const FAST_CONVERGENCE = true;
/** beta = 717/1024 ≈ 0.7. */
const BETA = 717;
/**
 * bic_scale = 41 ≈ 0.04·1024; cube_rtt_scale = bic_scale·10 folds in the fixed 100 ms reference RTT
 * of the kernel's arithmetic, giving the paper's C = 0.4.
 */
const BIC_SCALE = 41;
const TCP_FRIENDLINESS = true;
/** beta_scale = 8·(1024 + beta)/3/(1024 − beta) = 15 (integer division). */
const BETA_SCALE = Math.floor(Math.floor((8 * (BICTCP_BETA_SCALE + BETA)) / 3) / (BICTCP_BETA_SCALE - BETA));
const CUBE_RTT_SCALE = BIC_SCALE * 10;
/** cube_factor = 2^(10+3·BICTCP_HZ) / (bic_scale · 10). */
const CUBE_FACTOR = Math.floor(2 ** (10 + 3 * BICTCP_HZ) / CUBE_RTT_SCALE);
/** hystart_detect bits and HyStart's constants (tcp_cubic.c). */
const HYSTART_ACK_TRAIN = 0x1;
const HYSTART_DELAY = 0x2;
/** hystart_detect = HYSTART_ACK_TRAIN | HYSTART_DELAY */
const HYSTART_DETECT = HYSTART_ACK_TRAIN | HYSTART_DELAY;
/** hystart_low_window: HyStart only acts from a cwnd of 16 segments. */
export const HYSTART_LOW_WINDOW = 16;
/** hystart_ack_delta: ACKs at most 2 ms apart belong to one train. */
const HYSTART_ACK_DELTA = 2;
/** HYSTART_MIN_SAMPLES: RTT samples per round before the delay test. */
const HYSTART_MIN_SAMPLES = 8;
/** HYSTART_DELAY_MIN / MAX: the delay increase threshold is clamped to 4..16 ms (ms << 3). */
const HYSTART_DELAY_MIN = 4 << 3;
const HYSTART_DELAY_MAX = 16 << 3;

/** msecs_to_jiffies (kernel/time.c): rounds up. */
function msecsToJiffies(m: number, hz: number): number {
  return Math.ceil((m * hz) / 1000);
}

/** Index of the most significant set bit, 1-based (fls64); 0 for 0. */
function fls64(x: number): number {
  return x === 0 ? 0 : Math.floor(Math.log2(x)) + 1;
}

const CBRT_TABLE = [
  0, 54, 54, 54, 118, 118, 118, 118, 123, 129, 134, 138, 143, 147, 151, 156, 157, 161, 164, 168, 170, 173,
  176, 179, 181, 185, 187, 190, 192, 194, 197, 199, 200, 202, 204, 206, 209, 211, 213, 215, 217, 219, 221,
  222, 224, 225, 227, 229, 231, 232, 234, 236, 237, 239, 240, 242, 244, 245, 246, 248, 250, 251, 252, 254,
];

/** cubic_root (tcp_cubic.c): table lookup plus one Newton–Raphson step, average error ≈ 0.195 %. */
export function cubicRoot(a: number): number {
  let b = fls64(a);
  if (b < 7) return (CBRT_TABLE[a]! + 35) >> 6;
  b = ((b * 84) >> 8) - 1;
  const shift = Math.floor(a / 2 ** (b * 3));
  let x = Math.floor(((CBRT_TABLE[shift]! + 10) * 2 ** b) / 64);
  x = 2 * x + Math.floor(a / (x * (x - 1)));
  return Math.floor((x * 341) / 1024);
}

/** tcp_cubic.c of 3.2 (struct bictcp and its hooks). */
export class CubicOps implements CongestionOps {
  readonly name = "cubic";
  /** The hystart module parameter. */
  readonly hystart: boolean;
  cnt = 0;
  lastMaxCwnd = 0;
  lossCwnd = 0;
  lastCwnd = 0;
  lastTime = 0;
  bicOriginPoint = 0;
  bicK = 0;
  /** Minimum RTT in ms << 3. */
  delayMin = 0;
  epochStart = 0;
  ackCnt = 0;
  tcpCwnd = 0;
  /** Segments per ACK << ACK_RATIO_SHIFT. */
  delayedAck = 2 << ACK_RATIO_SHIFT;
  // HyStart state: which detection fired, the round (start time in ms and its end sequence),
  // the last ACK of the current train (ms), the round's least RTT (ms << 3) and its sample count.
  found = 0;
  roundStart = 0;
  endSeq = 0;
  lastAck = 0;
  currRtt = 0;
  sampleCnt = 0;

  constructor(hystart = true) {
    this.hystart = hystart;
  }

  /** bictcp_init */
  init(sk: CongestionSock): void {
    this.reset();
    if (this.hystart) this.hystartReset(sk);
  }

  /** bictcp_hystart_reset: a new round starts now and ends when snd_nxt is acknowledged. */
  private hystartReset(sk: CongestionSock): void {
    this.roundStart = sk.clockMs();
    this.lastAck = this.roundStart;
    this.endSeq = sk.sndNxt;
    this.currRtt = 0;
    this.sampleCnt = 0;
  }

  /** bictcp_reset */
  reset(): void {
    this.cnt = 0;
    this.lastMaxCwnd = 0;
    this.lossCwnd = 0;
    this.lastCwnd = 0;
    this.lastTime = 0;
    this.bicOriginPoint = 0;
    this.bicK = 0;
    this.delayMin = 0;
    this.epochStart = 0;
    this.delayedAck = 2 << ACK_RATIO_SHIFT;
    this.ackCnt = 0;
    this.tcpCwnd = 0;
    this.found = 0;
  }

  /** bictcp_recalc_ssthresh: remember W_max (with fast convergence) and cut by beta. */
  ssthresh(sk: CongestionSock): number {
    const cwnd = sk.cwnd;
    this.epochStart = 0;
    if (cwnd < this.lastMaxCwnd && FAST_CONVERGENCE) {
      this.lastMaxCwnd = Math.floor((cwnd * (BICTCP_BETA_SCALE + BETA)) / (2 * BICTCP_BETA_SCALE));
    } else {
      this.lastMaxCwnd = cwnd;
    }
    this.lossCwnd = cwnd;
    return Math.max(Math.floor((cwnd * BETA) / BICTCP_BETA_SCALE), 2);
  }

  /** bictcp_cong_avoid */
  congAvoid(sk: CongestionSock, inFlight: number): void {
    if (!tcpIsCwndLimited(sk, inFlight)) return;
    if (sk.cwnd <= sk.ssthresh) {
      if (this.hystart && sk.sndUna > this.endSeq) this.hystartReset(sk);
      tcpSlowStart(sk);
    } else {
      this.update(sk);
      tcpCongAvoidAi(sk, this.cnt);
    }
  }

  /** bictcp_state: an RTO forgets everything (bictcp_reset) and starts a HyStart round. */
  setState(sk: CongestionSock, state: number): void {
    if (state === TCP_CA_LOSS) {
      this.reset();
      if (this.hystart) this.hystartReset(sk);
    }
  }

  /** bictcp_acked: the delayed-ACK ratio and the minimum delay. */
  pktsAcked(sk: CongestionSock, cnt: number, rttJiffies: number): void {
    if (sk.caState === TCP_CA_OPEN) {
      let ratio = this.delayedAck;
      ratio -= this.delayedAck >> ACK_RATIO_SHIFT;
      ratio += cnt;
      this.delayedAck = Math.min(Math.max(ratio, 1), ACK_RATIO_LIMIT);
    }
    if (rttJiffies < 0) return;
    // "Discard delay samples right after fast recovery"
    if (this.epochStart !== 0 && sk.tcpTimeStamp() - this.epochStart < sk.hz) return;
    // delay = (rtt_us << 3) / USEC_PER_MSEC
    let delay = Math.floor((rttJiffies * 8000) / sk.hz);
    if (delay === 0) delay = 1;
    if (this.delayMin === 0 || this.delayMin > delay) this.delayMin = delay;
    // "hystart triggers when cwnd is larger than some threshold"
    if (this.hystart && sk.cwnd <= sk.ssthresh && sk.cwnd >= HYSTART_LOW_WINDOW)
      this.hystartUpdate(sk, delay);
  }

  /** hystart_update: leave slow start (ssthresh = cwnd) at a long ACK train or a delay increase. */
  private hystartUpdate(sk: CongestionSock, delay: number): void {
    if (this.found & HYSTART_DETECT) return;
    const now = sk.clockMs();
    // "first detection parameter - ack-train detection"
    if (now - this.lastAck <= HYSTART_ACK_DELTA) {
      this.lastAck = now;
      if (now - this.roundStart > this.delayMin >> 4) this.found |= HYSTART_ACK_TRAIN;
    }
    // "obtain the minimum delay of more than sampling packets"
    if (this.sampleCnt < HYSTART_MIN_SAMPLES) {
      if (this.currRtt === 0 || this.currRtt > delay) this.currRtt = delay;
      this.sampleCnt++;
    } else {
      const thresh = Math.min(Math.max(this.delayMin >> 4, HYSTART_DELAY_MIN), HYSTART_DELAY_MAX);
      if (this.currRtt > this.delayMin + thresh) this.found |= HYSTART_DELAY;
    }
    if (this.found & HYSTART_DETECT) sk.setSsthresh(sk.cwnd);
  }

  /** bictcp_update: the cubic target and the ACK count per increment (ca->cnt). */
  private update(sk: CongestionSock): void {
    const cwnd = sk.cwnd;
    const now = sk.tcpTimeStamp();
    this.ackCnt++;
    if (this.lastCwnd === cwnd && now - this.lastTime <= Math.floor(sk.hz / 32)) return;
    this.lastCwnd = cwnd;
    this.lastTime = now;
    if (this.epochStart === 0) {
      this.epochStart = now;
      this.ackCnt = 1;
      this.tcpCwnd = cwnd;
      if (this.lastMaxCwnd <= cwnd) {
        this.bicK = 0;
        this.bicOriginPoint = cwnd;
      } else {
        this.bicK = cubicRoot(CUBE_FACTOR * (this.lastMaxCwnd - cwnd));
        this.bicOriginPoint = this.lastMaxCwnd;
      }
    }
    // t = time since the epoch plus one minimum RTT, in 1/1024 s
    const t = Math.floor(
      ((now + msecsToJiffies(this.delayMin >> 3, sk.hz) - this.epochStart) * 2 ** BICTCP_HZ) / sk.hz,
    );
    const offs = t < this.bicK ? this.bicK - t : t - this.bicK;
    let delta = Math.floor((CUBE_RTT_SCALE * offs * offs * offs) / 2 ** (10 + 3 * BICTCP_HZ));
    const bicTarget = t < this.bicK ? this.bicOriginPoint - delta : this.bicOriginPoint + delta;
    this.cnt = bicTarget > cwnd ? Math.floor(cwnd / (bicTarget - cwnd)) : 100 * cwnd;
    // "The initial growth of cubic function may be too conservative"
    if (this.lossCwnd === 0 && this.cnt > 20) this.cnt = 20;
    if (TCP_FRIENDLINESS) {
      delta = (cwnd * BETA_SCALE) >> 3;
      while (this.ackCnt > delta) {
        this.ackCnt -= delta;
        this.tcpCwnd++;
      }
      if (this.tcpCwnd > cwnd) {
        const maxCnt = Math.floor(cwnd / (this.tcpCwnd - cwnd));
        if (this.cnt > maxCnt) this.cnt = maxCnt;
      }
    }
    this.cnt = Math.floor((this.cnt * (1 << ACK_RATIO_SHIFT)) / this.delayedAck);
    if (this.cnt === 0) this.cnt = 1;
  }
}

/** The module for `name`; `hystart` is CUBIC's module parameter (Reno ignores it). */
export function makeCongestionOps(name: CongestionName, hystart = true): CongestionOps {
  return name === "cubic" ? new CubicOps(hystart) : new RenoOps();
}
