import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HEADER_BYTES, PKT_DATA, PacketPool } from "../../../net/packet.ts";
import { PeriodicSampler } from "../../../net/sampler.ts";
import { buildTestbed, type ReceiverDefaults } from "../../../net/testbed.ts";
import { Simulator } from "../../../sim/simulator.ts";
import { Jiffies, ms, type Ns, sec } from "../../../sim/time.ts";
import {
  MAX_TCP_HEADER,
  skbTruesize,
  TCP_RMEM_DEFAULT,
  TcpReceiver,
  tcpRcvmem,
  tcpWinFromSpace,
} from "./receiver.ts";

const MSS = 1448;
const RATE = 100e6;
const RTT = ms(50);
const HZ = 250;
const STEP = ms(100);
const DURATION = sec(6);
/** What the link carries as payload: full frames of MSS + headers. */
const LINK_PAYLOAD_BPS = (RATE * MSS) / (MSS + HEADER_BYTES);

interface FlowRun {
  rx: TcpReceiver;
  /** Per sample every STEP from 0: bytes read, sk_rcvbuf, advertised window. */
  read: Float64Array;
  rcvbuf: Float64Array;
  window: Float64Array;
}

/** One bulk flow over a loss-free 100 Mbit/s, 50 ms path, read as soon as data arrives. */
function runFlow(receiver: ReceiverDefaults): FlowRun {
  const tb = buildTestbed({
    seed: 1,
    rateBps: RATE,
    delayNs: RTT / 2,
    flows: 1,
    sender: { hz: HZ },
    receiver: { hz: HZ, ...receiver },
  });
  const rx = tb.receivers[0]!;
  const sampler = new PeriodicSampler(tb.sim, STEP, DURATION / STEP + 1, [
    () => rx.counters.bytesRead,
    () => rx.rcvbuf,
    () => rx.window,
  ]);
  sampler.start(0);
  tb.sim.run(DURATION);
  expect(sampler.count).toBe(DURATION / STEP + 1);
  const [read, rcvbuf, window] = sampler.values as [Float64Array, Float64Array, Float64Array];
  expect(tb.senders[0]!.counters.retransSegs).toBe(0);
  return { rx, read, rcvbuf, window };
}

/** Goodput in bit/s between two sample times. */
function goodput(run: FlowRun, from: Ns, to: Ns): number {
  return ((run.read[to / STEP]! - run.read[from / STEP]!) * 8) / ((to - from) / 1e9);
}

const runs = new Map<string, FlowRun>();
function flow(name: "off" | "locked" | "auto4M" | "auto256K"): FlowRun {
  const opts: Record<typeof name, ReceiverDefaults> = {
    off: { moderateRcvbuf: false },
    locked: { userLocked: true },
    auto4M: { rmemMax: 4 << 20 },
    auto256K: { rmemMax: 256 << 10 },
  };
  let r = runs.get(name);
  if (r === undefined) {
    r = runFlow(opts[name]);
    runs.set(name, r);
  }
  return r;
}

/** The rwnd/RTT ceiling of an 87380-byte buffer: its window share, once per RTT. */
const DEFAULT_RWND_BPS = (tcpWinFromSpace(TCP_RMEM_DEFAULT) * 8) / (RTT / 1e9);

describe("tcp_win_from_space", () => {
  it("equals the floor division by 2^|scale| of the truncated space, inside and outside int32", () => {
    const space = fc.oneof(
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.double({ min: -(2 ** 40), max: 2 ** 40, noNaN: true }),
      fc.constantFrom(2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 33 + 5),
    );
    fc.assert(
      fc.property(space, fc.integer({ min: -31, max: 31 }), (x, scale) => {
        const shifted = Math.floor(Math.trunc(x) / 2 ** Math.abs(scale));
        // == rather than Object.is: a window of -0 bytes (from a space of -0.x) is a window of 0.
        expect(tcpWinFromSpace(x, scale) === (scale <= 0 ? shifted : x - shifted)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("rcvmem (tcp_rcv_space_adjust's per-segment budget)", () => {
  it("is SKB_TRUESIZE(advmss + MAX_TCP_HEADER), raised by 128 until its window share covers advmss", () => {
    fc.assert(
      fc.property(fc.integer({ min: 536, max: 9000 }), fc.integer({ min: -2, max: 4 }), (advmss, scale) => {
        const base = skbTruesize(advmss + MAX_TCP_HEADER);
        const r = tcpRcvmem(advmss, scale);
        expect((r - base) % 128).toBe(0);
        expect(tcpWinFromSpace(r, scale)).toBeGreaterThanOrEqual(advmss);
        if (r > base) expect(tcpWinFromSpace(r - 128, scale)).toBeLessThan(advmss);
      }),
    );
  });

  it("ends and keeps its meaning over the sysctl's whole range, past where a 32-bit shift wraps", () => {
    fc.assert(
      fc.property(fc.integer({ min: 536, max: 9000 }), fc.integer({ min: -31, max: 31 }), (advmss, scale) => {
        const base = skbTruesize(advmss + MAX_TCP_HEADER);
        const r = tcpRcvmem(advmss, scale);
        expect((r - base) % 128).toBe(0);
        expect(tcpWinFromSpace(r, scale)).toBeGreaterThanOrEqual(advmss);
        if (r > base) expect(tcpWinFromSpace(r - 128, scale)).toBeLessThan(advmss);
      }),
    );
    expect(tcpRcvmem(1448, -21)).toBeGreaterThanOrEqual(1448 * 2 ** 21);
  });
});

describe("receive-buffer autotuning on a 100 Mbit/s, 50 ms path", () => {
  it("without it the window stays at 64 KB and goodput is rwnd/RTT-limited; with it the flow fills the link", () => {
    const off = flow("off");
    const auto = flow("auto4M");
    expect(Math.max(...off.rcvbuf)).toBe(TCP_RMEM_DEFAULT);
    expect(Math.max(...off.window)).toBeLessThanOrEqual(tcpWinFromSpace(TCP_RMEM_DEFAULT));
    const offRate = goodput(off, sec(2), DURATION);
    expect(offRate).toBeLessThanOrEqual(DEFAULT_RWND_BPS * 1.01);
    expect(offRate).toBeGreaterThanOrEqual(DEFAULT_RWND_BPS * 0.9);

    // within a few seconds a 100 ms interval reaches 90 % of the link, and the flow stays there
    let k = 1;
    while (k * STEP <= DURATION && goodput(auto, (k - 1) * STEP, k * STEP) < 0.9 * LINK_PAYLOAD_BPS) k++;
    const t90 = k * STEP;
    expect(t90).toBeLessThanOrEqual(sec(3));
    expect(goodput(auto, t90, DURATION)).toBeGreaterThanOrEqual(0.9 * LINK_PAYLOAD_BPS);
    expect(goodput(auto, t90, DURATION)).toBeGreaterThan(5 * offRate);
    expect(Math.max(...auto.window)).toBeGreaterThan(tcpWinFromSpace(TCP_RMEM_DEFAULT));
  });

  it("grows sk_rcvbuf monotonically in whole rcvmem per advmss of 2 × what was read, up to tcp_rmem[2]", () => {
    const auto = flow("auto4M");
    const rcvmem = tcpRcvmem(MSS);
    for (let i = 1; i < auto.rcvbuf.length; i++) {
      const b = auto.rcvbuf[i]!;
      expect(b).toBeGreaterThanOrEqual(auto.rcvbuf[i - 1]!);
      // whole rcvmem units, except the default and the tcp_rmem[2] cap (min(space, tcp_rmem[2]))
      if (b !== TCP_RMEM_DEFAULT && b !== 4 << 20) expect(b % rcvmem).toBe(0);
      expect(b).toBeLessThanOrEqual(4 << 20);
    }
    expect(auto.rx.rcvbuf).toBeGreaterThan(TCP_RMEM_DEFAULT);
    // window_clamp is the last "space", 2 × bytes read in one receiver RTT estimate (which, from
    // echoed timestamps, includes the bottleneck queue): at least two path BDPs, at most two
    // link-rate windows of the measured RTT plus a jiffy of quantisation.
    const bdp = (LINK_PAYLOAD_BPS / 8) * (RTT / 1e9);
    const rcvRttS = ((auto.rx.rcvRttJiffies + 1) * 4) / 1000;
    expect(auto.rx.windowClampBytes).toBeGreaterThan(1.5 * bdp);
    expect(auto.rx.windowClampBytes).toBeLessThan(2.5 * (LINK_PAYLOAD_BPS / 8) * rcvRttS);
    // tcp_grow_window then opened rcv_ssthresh towards the new clamp, until __tcp_grow_window's
    // limit for bloated skbs: tcp_win_from_space(tcp_rmem[2]) / 2
    const growLimit = tcpWinFromSpace(4 << 20) >> 1;
    expect(auto.rx.rcvSsthreshBytes).toBeLessThanOrEqual(auto.rx.windowClampBytes);
    expect(auto.rx.rcvSsthreshBytes).toBeGreaterThan(Math.min(growLimit, auto.rx.windowClampBytes - 2 * MSS));
  });

  it("never grows a buffer the application locked with SO_RCVBUF", () => {
    const locked = flow("locked");
    const auto = flow("auto4M");
    expect(Math.min(...locked.rcvbuf)).toBe(TCP_RMEM_DEFAULT);
    expect(Math.max(...locked.rcvbuf)).toBe(TCP_RMEM_DEFAULT);
    expect(goodput(locked, sec(2), DURATION)).toBeLessThanOrEqual(DEFAULT_RWND_BPS * 1.01);
    // the same flow unlocked does grow
    expect(Math.max(...auto.rcvbuf)).toBeGreaterThan(TCP_RMEM_DEFAULT);
  });

  it("stops growing at tcp_rmem[2], where tcp_grow_window holds rcv_ssthresh for bloated skbs", () => {
    const rmemMax = 256 << 10;
    const capped = flow("auto256K");
    expect(Math.max(...capped.rcvbuf)).toBe(rmemMax);
    expect(capped.rx.rcvbuf).toBe(rmemMax);
    for (const w of capped.window) expect(w).toBeLessThanOrEqual(tcpWinFromSpace(rmemMax));
    // __tcp_grow_window: a 2304-byte skb for 1448 bytes lets rcv_ssthresh pass only half of
    // tcp_win_from_space(tcp_rmem[2]), by at most one increment of 2 · rcv_mss
    expect(capped.rx.rcvSsthreshBytes).toBeLessThanOrEqual((tcpWinFromSpace(rmemMax) >> 1) + 2 * MSS);
    const rate = goodput(capped, sec(2), DURATION);
    expect(rate).toBeLessThanOrEqual(((tcpWinFromSpace(rmemMax) * 8) / (RTT / 1e9)) * 1.01);
    expect(rate).toBeGreaterThan(1.3 * goodput(flow("off"), sec(2), DURATION));
  });
});

describe("receiver RTT estimate (rcv_rtt_est)", () => {
  it("measures one RTT from the time an advertised window takes to arrive", () => {
    // the window-limited flow receives exactly one window per RTT
    const rttJiffies = RTT / new Jiffies(HZ).tickNs;
    const est = flow("off").rx.rcvRttJiffies;
    expect(Math.abs(est - rttJiffies)).toBeLessThanOrEqual(1);
  });

  it("takes timestamp samples from the TSecr of full-sized segments", () => {
    const estimate = (echoLag: number | null): number => {
      const sim = new Simulator({ seed: 1 });
      const pool = new PacketPool(16);
      const jiffies = new Jiffies(HZ);
      const rx = new TcpReceiver(sim, pool, { sendAck: (p) => pool.free(p) }, { flow: 0, hz: HZ });
      const ev = sim.register("seg", (seg) => {
        const p = pool.alloc();
        pool.kind[p] = PKT_DATA;
        pool.seq[p] = seg * MSS;
        pool.len[p] = MSS;
        // our TSval echoed `echoLag` jiffies later, or no echo (TSecr 0)
        pool.tsEcr[p] = echoLag === null ? 0 : jiffies.at(sim.now) - echoLag;
        rx.receive(p, 2304);
        rx.read(Number.POSITIVE_INFINITY);
      });
      // one segment per ms: a window of at least 10 segments takes ≥ 2 jiffies to arrive
      for (let i = 0; i < 300; i++) sim.at(ms(20 + i), ev, i);
      sim.run(sec(1));
      return rx.rcvRttJiffies;
    };
    expect(estimate(1)).toBe(1);
    expect(estimate(null)).toBeGreaterThanOrEqual(2);
  });
});
