import { describe, expect, it } from "vitest";
import { ms, sec } from "../sim/time.ts";
import { Simulator } from "../sim/simulator.ts";
import { HEADER_BYTES, HEADER_BYTES_NO_TS, PKT_ACK, PacketPool } from "./packet.ts";
import {
  type CongestionSock,
  CubicOps,
  cubicRoot,
  HYSTART_LOW_WINDOW,
  RenoOps,
  TCP_CA_OPEN,
  TCP_INFINITE_SSTHRESH,
} from "./tcp-cong.ts";
import { CwndTotal, TCP_INIT_CWND, TcpSender, tcpRtoMax, tcpRtoMin } from "./tcp-sender.ts";
import { buildTestbed, type TestbedConfig } from "./testbed.ts";

describe("slow start", () => {
  it("sends TCP_INIT_CWND segments first and grows by one segment per ACK", () => {
    const tb = buildTestbed({
      rateBps: 1e9,
      delayNs: ms(10),
      flows: 1,
      sender: { cc: "reno", initialPeerWindow: 1 << 20 },
      receiver: { delayedAck: false, rcvbuf: 4 << 20 },
    });
    const s = tb.senders[0]!;
    tb.sim.run(ms(19)); // before the first ACK returns
    expect(tb.forward.packetsSent).toBe(TCP_INIT_CWND);
    tb.sim.run(ms(25)); // all ten ACKs are back
    expect(s.cwnd).toBe(2 * TCP_INIT_CWND);
    expect(tb.forward.packetsSent).toBe(3 * TCP_INIT_CWND);
  });
});

describe("a connection without timestamps", () => {
  /** A sender whose frames are kept, and ACKs written by hand (HZ 1000: a jiffy is a ms). */
  function bare(timestamps: boolean) {
    const sim = new Simulator({ seed: 1 });
    const pool = new PacketPool(64);
    const sent: { t: number; seq: number; wire: number; tsVal: number }[] = [];
    const tcp = new TcpSender(
      sim,
      pool,
      {
        receive(p) {
          sent.push({ t: sim.now, seq: pool.seq[p]!, wire: pool.wireLen[p]!, tsVal: pool.tsVal[p]! });
          pool.free(p);
        },
      },
      { flow: 0, hz: 1000, cc: "reno", initCwnd: 2, initialPeerWindow: 1 << 20, timestamps },
    );
    const ackEvent = sim.register("ack", (bytes, tsEcr) => {
      const p = pool.alloc();
      pool.kind[p] = PKT_ACK;
      pool.ack[p] = bytes;
      pool.wnd[p] = 1 << 20;
      pool.tsVal[p] = timestamps ? sim.now / 1e6 : 0;
      pool.tsEcr[p] = tsEcr;
      pool.sackCount[p] = 0;
      tcp.receive(p);
    });
    tcp.start(ms(5));
    return {
      sim,
      tcp,
      sent,
      ack: (t: number, bytes: number, tsEcr: number) => sim.at(t, ackEvent, bytes, tsEcr),
    };
  }

  it("sends 1460-byte segments in 1514-byte frames without TSval", () => {
    const { sim, sent } = bare(false);
    sim.run(ms(6));
    expect(sent.map((f) => [f.seq, f.wire, f.tsVal])).toEqual([
      [0, 1460 + HEADER_BYTES_NO_TS, 0],
      [1460, 1460 + HEADER_BYTES_NO_TS, 0],
    ]);
    expect(1448 + HEADER_BYTES).toBe(1460 + HEADER_BYTES_NO_TS);
  });

  it("samples RTT from the oldest segment acked, and none from an ACK of a retransmission (Karn)", () => {
    for (const timestamps of [false, true]) {
      const { sim, tcp, sent, ack } = bare(timestamps);
      const mss = tcp.mss;
      // Segment 0 (sent at 5 ms) acked 50 ms later: the first sample either way.
      sim.run(ms(6));
      ack(ms(55), mss, sent[0]!.tsVal);
      sim.run(ms(60));
      expect(tcp.srttNs).toBe(ms(50));
      // Segment 1 is lost; its first RTO retransmission is acked 10 ms after it left.
      let t = ms(60);
      const rtx = () => sent.filter((f) => f.seq === mss);
      while (rtx().length < 2) sim.run((t += ms(1)));
      const r = rtx()[1]!;
      expect(tcp.counters.retransSegs).toBe(1);
      ack(r.t + ms(10), 2 * mss, r.tsVal);
      sim.run(r.t + ms(11));
      // With timestamps (tcp_ack_saw_tstamp) the echo of the retransmission's TSval samples 10 ms:
      // srtt moves by (10 − 50) / 8. Without (tcp_ack_no_tstamp) FLAG_RETRANS_DATA_ACKED means no sample.
      expect(tcp.srttNs).toBe(timestamps ? ms(45) : ms(50));
    }
  });
});

describe("CwndTotal", () => {
  it("stays the sum of its senders' cwnd through growth, recovery and timeouts", () => {
    const total = new CwndTotal();
    const tb = buildTestbed({
      rateBps: 100e6,
      delayNs: ms(5),
      flows: 4,
      queueLimitPackets: 20,
      lossProb: 0.002,
      outages: [[ms(600), ms(1200)]],
      sender: { cwndTotal: total },
    });
    const sum = () => tb.senders.reduce((acc, s) => acc + s.cwnd, 0);
    expect(total.segments).toBe(4 * TCP_INIT_CWND);
    let reductions = 0;
    let last = sum();
    for (let t = ms(10); t <= sec(3); t += ms(10)) {
      tb.sim.run(t);
      const now = sum();
      if (now < last) reductions++;
      last = now;
      expect(total.segments).toBe(now);
    }
    // The check saw cwnd fall as well as grow (fast recovery and the outage's timeouts).
    expect(reductions).toBeGreaterThan(3);
    expect(tb.senders.reduce((acc, s) => acc + s.counters.tcpTimeouts, 0)).toBeGreaterThan(0);
  });
});

describe("TSO (gsoMaxSize)", () => {
  it("sends the initial window as one frame and later frames of up to tcp_xmit_size_goal (45 MSS)", () => {
    const tb = buildTestbed({
      rateBps: 10e9,
      delayNs: ms(1),
      flows: 1,
      sender: { cc: "reno", initialPeerWindow: 4 << 20, gsoMaxSize: 65536, initCwnd: 100 },
      receiver: { delayedAck: false, rcvbuf: 16 << 20, rmemMax: 16 << 20 },
    });
    const s = tb.senders[0]!;
    tb.sim.run(ms(1));
    // 100 segments in flight allowed: frames of 45, 45 and 10 (65 535 − 20 − 32 rounded down to MSS).
    expect(tb.forward.packetsSent).toBe(3);
    expect(tb.forward.bytesSent).toBe(100 * 1448 + 3 * HEADER_BYTES);
    expect(s.counters.outSegs).toBe(100);
    expect(s.counters.tsoFrames).toBe(3);
    expect(s.counters.tsoSegs).toBe(100);
  });

  it("bounds a frame by half the largest window the peer offered (tcp_bound_to_half_wnd)", () => {
    const tb = buildTestbed({
      rateBps: 10e9,
      delayNs: ms(1),
      flows: 1,
      sender: { cc: "reno", initialPeerWindow: 20 * 1448, gsoMaxSize: 65536, initCwnd: 40 },
      receiver: { delayedAck: false, rcvbuf: 16 << 20, rmemMax: 16 << 20 },
    });
    tb.sim.run(ms(1));
    // snd_wnd 20 MSS, max_window / 2 = 10 MSS per frame
    expect(tb.forward.packetsSent).toBe(2);
    expect(tb.senders[0]!.counters.tsoSegs).toBe(20);
  });

  it("sends MSS-sized frames without it", () => {
    const tb = buildTestbed({
      rateBps: 10e9,
      delayNs: ms(1),
      flows: 1,
      sender: { cc: "reno", initialPeerWindow: 4 << 20, initCwnd: 100 },
      receiver: { delayedAck: false, rcvbuf: 16 << 20, rmemMax: 16 << 20 },
    });
    tb.sim.run(ms(1));
    expect(tb.forward.packetsSent).toBe(100);
    expect(tb.senders[0]!.counters.tsoFrames).toBe(0);
  });
});

describe("loss-free goodput reaches min(link rate, rwnd/RTT)", () => {
  const rate = 100e6;
  for (const cc of ["cubic", "reno"] as const) {
    for (const limit of ["link", "rwnd"] as const) {
      it(`${cc}, ${limit}-limited`, () => {
        const owd = limit === "link" ? ms(10) : ms(25);
        const rtt = 2 * owd;
        // a drop-tail queue of one bandwidth-delay product of full frames
        const bdp = Math.ceil((rate * rtt) / 1e9 / 8 / (1448 + HEADER_BYTES));
        const cfg: TestbedConfig = {
          seed: 5,
          rateBps: rate,
          delayNs: owd,
          queueLimitPackets: bdp,
          flows: 1,
          sender: { cc },
          // rwnd case: the default 87380-byte buffer, locked by the application (SO_RCVBUF)
          receiver: limit === "link" ? { rcvbuf: 16 << 20, rmemMax: 16 << 20 } : { userLocked: true },
        };
        const tb = buildTestbed(cfg);
        const s = tb.senders[0]!;
        const r = tb.receivers[0]!;
        tb.sim.run(sec(5)); // past slow start and the losses that end it
        const acked0 = s.sndUna;
        tb.sim.run(sec(25));
        const goodput = ((s.sndUna - acked0) * 8) / 20;
        const linkPayloadRate = (rate * 1448) / (1448 + HEADER_BYTES);
        const rwndRate = (r.window * 8) / (rtt / 1e9);
        const target = Math.min(linkPayloadRate, rwndRate);
        expect(limit === "link" ? linkPayloadRate < rwndRate : rwndRate < linkPayloadRate).toBe(true);
        expect(goodput / target).toBeGreaterThanOrEqual(0.95);
        expect(goodput / target).toBeLessThanOrEqual(1.001);
      });
    }
  }
});

describe("retransmission timer during an outage", () => {
  it("backs off RTO, 2·RTO, 4·RTO … on jiffy ticks and recovers when the path returns", () => {
    const hz = 250;
    const tick = sec(1) / hz;
    const expiries: number[] = [];
    /** icsk_rto when the timer first fires (ACKs still arriving after `down` may have moved it). */
    let rtoFirst = -1;
    const down = sec(2);
    const up = sec(9);
    const tb = buildTestbed({
      seed: 3,
      rateBps: 100e6,
      delayNs: ms(10),
      queueLimitPackets: 200,
      flows: 1,
      outages: [[down, up]],
      sender: {
        hz,
        onRtoExpiry: (_flow, at) => {
          if (rtoFirst < 0) rtoFirst = tb.senders[0]!.rtoJiffies;
          expiries.push(at);
        },
      },
    });
    const s = tb.senders[0]!;
    tb.sim.run(down - ms(500));
    const before = s.sndUna;
    tb.sim.run(down - 1);
    const goodputBefore = ((s.sndUna - before) * 8) / 0.5;
    const rto0 = s.rtoJiffies;
    // Linux's floor: RTO = srtt + max(4·mdev, TCP_RTO_MIN)
    expect(rto0).toBeGreaterThanOrEqual(tcpRtoMin(hz) + Math.floor(s.srttNs / tick));
    tb.sim.run(sec(25));
    const during = expiries.filter((t) => t < up);
    expect(during.length).toBeGreaterThanOrEqual(4);
    // ACKs sent before the outage still arrive for up to one one-way delay, re-arming the timer
    expect(during[0]! - down).toBeGreaterThan(0);
    expect(during[0]! - down).toBeLessThanOrEqual(rto0 * tick + ms(10) + tick);
    for (const t of expiries) expect(t % tick).toBe(0);
    const gaps = expiries.slice(1).map((t, i) => t - expiries[i]!);
    gaps.forEach((g, i) => {
      expect(g).toBe(Math.min(rtoFirst * 2 ** (i + 1), tcpRtoMax(hz)) * tick);
    });
    // the first retransmission after the path is back gets through: no further expiries
    const after = expiries.filter((t) => t >= up);
    expect(after.length).toBe(1);
    expect(s.counters.tcpTimeouts).toBe(1);
    expect(s.counters.rtoExpiries).toBe(expiries.length);
    const mark = s.sndUna;
    tb.sim.run(sec(30));
    const goodputAfter = ((s.sndUna - mark) * 8) / 5;
    expect(goodputAfter).toBeGreaterThan(0.9 * goodputBefore);
    expect(expiries.length).toBe(during.length + 1);
    expect(tb.forward.outageDrops).toBeGreaterThan(0);
  });
});

describe("zero-window probing", () => {
  it("probes a closed window with backoff and resumes when the application reads", () => {
    const tb = buildTestbed({
      seed: 2,
      rateBps: 100e6,
      delayNs: ms(10),
      flows: 1,
      reader: "none",
      // skbs no larger than 4/3 of their payload, so the window closes before memory runs out
      truesize: 1800,
      sender: { bytes: 1e6 },
      receiver: { userLocked: true },
    });
    const s = tb.senders[0]!;
    const r = tb.receivers[0]!;
    const probes: number[] = [];
    const demux = tb.toReceivers;
    tb.forward.connect({
      receive(p) {
        if (tb.pool.len[p] === 0) probes.push(tb.sim.now);
        demux.receive(p);
      },
    });
    tb.sim.run(sec(20));
    expect(s.completedAt).toBe(-1);
    expect(r.counters.rmemDrops).toBe(0);
    expect(r.window).toBeLessThan(1448);
    expect(probes.length).toBeGreaterThanOrEqual(4);
    expect(s.counters.zeroWindowProbes).toBe(probes.length);
    const gaps = probes.slice(1).map((t, i) => t - probes[i]!);
    for (let i = 1; i < gaps.length; i++) {
      expect(gaps[i]! / gaps[i - 1]!).toBeGreaterThan(1.9);
      expect(gaps[i]! / gaps[i - 1]!).toBeLessThan(2.1);
    }
    const reader = tb.sim.register("app.read", () => {
      r.read(Number.POSITIVE_INFINITY);
      tb.sim.after(ms(1), reader);
    });
    tb.sim.at(sec(20), reader);
    tb.sim.run(sec(22));
    expect(s.completedAt).toBeGreaterThan(sec(20));
    expect(r.counters.bytesRead).toBe(1e6);
  });
});

describe("finite transfers", () => {
  for (const sack of [true, false]) {
    it(`complete with every byte delivered once and no packet left (${sack ? "SACK" : "NewReno"})`, () => {
      const bytes = 3e6;
      const done: number[] = [];
      const tb = buildTestbed({
        seed: 9,
        rateBps: 50e6,
        delayNs: ms(15),
        queueLimitPackets: 60,
        lossProb: 0.005,
        flows: 4,
        sender: { bytes, sack, onComplete: (flow) => done.push(flow) },
        receiver: { sack },
      });
      tb.sim.run(sec(120));
      expect(done.sort()).toEqual([0, 1, 2, 3]);
      // The last transfer cannot end before the four payloads crossed the bottleneck (flows need
      // not share it fairly, so only the maximum is bounded by the total).
      expect(Math.max(...tb.senders.map((s) => s.completedAt))).toBeGreaterThan((4 * bytes * 8 * 1e9) / 50e6);
      for (const [i, s] of tb.senders.entries()) {
        expect(tb.receivers[i]!.counters.bytesDelivered).toBe(bytes);
        expect(s.sndUna).toBe(bytes);
        expect(s.completedAt).toBeGreaterThan((bytes * 8 * 1e9) / 50e6);
        expect(s.counters.retransSegs).toBeGreaterThan(0);
        if (sack) expect(s.counters.tcpSackRecovery).toBeGreaterThan(0);
        else expect(s.counters.tcpRenoRecovery).toBeGreaterThan(0);
      }
      expect(tb.pool.live).toBe(0);
      expect(tb.pool.allocations).toBeGreaterThan(4 * (bytes / 1448));
    });
  }

  it("recovers when the receiver prunes SACKed data (SACK reneging)", () => {
    const tb = buildTestbed({
      seed: 2,
      rateBps: 100e6,
      delayNs: ms(10),
      lossProb: 1e-3,
      flows: 1,
      // mergeable-buffer skbs: truesize ≈ 5.4 KB per 1448-byte segment
      truesize: 5400,
      sender: { bytes: 20e6 },
      receiver: { userLocked: true },
    });
    tb.sim.run(sec(60));
    const s = tb.senders[0]!;
    const r = tb.receivers[0]!;
    expect(r.counters.ofoPruned).toBeGreaterThan(0);
    expect(s.counters.tcpSackReneging).toBeGreaterThan(0);
    expect(s.completedAt).toBeGreaterThan(0);
    expect(r.counters.bytesDelivered).toBe(20e6);
    expect(tb.pool.live).toBe(0);
  });
});

/** A bare socket for calling congestion hooks directly. */
const sock = (cwnd: number): CongestionSock & { cwnd: number; ssthresh: number } => ({
  cwnd,
  cwndCnt: 0,
  cwndClamp: Number.POSITIVE_INFINITY,
  ssthresh: 1 << 30,
  caState: TCP_CA_OPEN,
  reordering: 3,
  hz: 1000,
  sndUna: 0,
  sndNxt: 0,
  tcpTimeStamp: () => 0,
  clockMs: () => 0,
  setCwnd(c: number) {
    this.cwnd = c;
  },
  setSsthresh(t: number) {
    this.ssthresh = t;
  },
});

describe("congestion modules", () => {
  it("Reno halves, CUBIC keeps 717/1024 and remembers a reduced W_max (fast convergence)", () => {
    expect(new RenoOps().ssthresh(sock(101))).toBe(50);
    const cubic = new CubicOps();
    expect(cubic.ssthresh(sock(1000))).toBe(700);
    expect(cubic.lastMaxCwnd).toBe(1000);
    // a second loss below W_max: W_max = cwnd · (1 + β)/2
    expect(cubic.ssthresh(sock(800))).toBe(560);
    expect(cubic.lastMaxCwnd).toBe(Math.floor((800 * (1024 + 717)) / 2048));
  });

  it("cubic_root is within 2 % of the true cube root", () => {
    for (let a = 1; a < 1e15; a = Math.floor(a * 1.7) + 1) {
      const exact = Math.cbrt(a);
      expect(Math.abs(cubicRoot(a) - exact)).toBeLessThanOrEqual(Math.max(1, 0.02 * exact));
    }
  });
});

describe("CUBIC HyStart (tcp_cubic.c, hystart = 1)", () => {
  /**
   * A long fat path: 1 Gbit/s, 100 ms RTT, a bottleneck queue of one BDP, and buffers
   * large enough that only the queue limits the flow. Returns the sender's ssthresh and cwnd when
   * the first segment was dropped, and whether slow start had ended before it.
   */
  const firstLoss = (hystart: boolean) => {
    const rate = 1e9;
    const bdp = Math.ceil((rate * 0.1) / 8 / (1448 + HEADER_BYTES));
    const tb = buildTestbed({
      rateBps: rate,
      delayNs: ms(50),
      queueLimitPackets: bdp,
      flows: 1,
      sender: { cc: "cubic", hystart, initialPeerWindow: 64 << 20 },
      receiver: { rcvbuf: 64 << 20, rmemMax: 64 << 20 },
    });
    const s = tb.senders[0]!;
    let ssthreshAtLoss = -1;
    let cwndAtLoss = -1;
    const step = tb.sim.register("probe", () => {
      if (ssthreshAtLoss < 0 && tb.forward.queueDrops > 0) {
        ssthreshAtLoss = s.ssthresh;
        cwndAtLoss = s.cwnd;
        return;
      }
      tb.sim.after(ms(1), step);
    });
    tb.sim.at(0, step);
    tb.sim.run(sec(10));
    return { ssthreshAtLoss, cwndAtLoss, bdp, drops: tb.forward.queueDrops, s };
  };

  it("leaves slow start before the first loss on a long fat path", () => {
    const on = firstLoss(true);
    // ssthresh was set by hystart_update (to the cwnd of that moment), not by a loss
    expect(on.ssthreshAtLoss).toBeLessThan(TCP_INFINITE_SSTHRESH);
    expect(on.ssthreshAtLoss).toBeGreaterThanOrEqual(16);
    expect(on.ssthreshAtLoss).toBeLessThanOrEqual(on.cwndAtLoss);
  });

  it("with hystart off, slow start runs until the first loss", () => {
    const off = firstLoss(false);
    expect(off.drops).toBeGreaterThan(0);
    expect(off.ssthreshAtLoss).toBe(TCP_INFINITE_SSTHRESH);
  });

  it("does not act below hystart_low_window = 16 segments", () => {
    const c = new CubicOps();
    const sk = sock(HYSTART_LOW_WINDOW - 1);
    c.init(sk);
    // RTT samples rising far above the minimum: the delay test would fire at 16 segments
    for (let i = 0; i < 20; i++) c.pktsAcked(sk, 2, i === 0 ? 10 : 200);
    expect(sk.ssthresh).toBe(1 << 30);
    sk.cwnd = HYSTART_LOW_WINDOW;
    for (let i = 0; i < 20; i++) c.pktsAcked(sk, 2, 200);
    expect(sk.ssthresh).toBe(HYSTART_LOW_WINDOW);
  });
});
