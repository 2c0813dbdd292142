import { describe, expect, it } from "vitest";
import { PacketPool } from "../../../net/packet.ts";
import { PeriodicSampler } from "../../../net/sampler.ts";
import { buildTestbed } from "../../../net/testbed.ts";
import { Simulator } from "../../../sim/simulator.ts";
import { ms, sec } from "../../../sim/time.ts";
import { ERA_3_2, ERA_6_1 } from "../../kernel-era.ts";
import { TcpReceiver, tcpRcvmem, tcpWinFromSpace } from "./receiver.ts";

const MSS = 1448;

function receiver(era: typeof ERA_3_2): TcpReceiver {
  const pool = new PacketPool(4);
  return new TcpReceiver(
    new Simulator({ seed: 1 }),
    pool,
    { sendAck: (p) => pool.free(p) },
    { flow: 0, rcvbuf: era.tcpRmemDefault, advWinScale: era.tcpAdvWinScale, receiver61: era.tcpReceiver61 },
  );
}

describe("the receiver's first window by era", () => {
  it("3.2 offers TCP_DEFAULT_INIT_RCVWND segments, 6.1 its whole space up to U16_MAX", () => {
    // 3.2: tcp_win_from_space(87380) at scale 2 = 65535 → 45 segments of 1448, clamped to 10: 14480.
    expect(receiver(ERA_3_2).window).toBe(10 * MSS);
    // 6.1: tcp_win_from_space(131072) at scale 1 = 65536 → rounddown to 45 × 1448 = 65160 ≤ 65535.
    expect(receiver(ERA_6_1).window).toBe(45 * MSS);
  });
});

describe("tcp_rcv_space_adjust by era", () => {
  /** One bulk flow over a loss-free 100 Mbit/s, 50 ms path; sk_rcvbuf and window_clamp every 100 ms. */
  function run(era: typeof ERA_3_2) {
    const tb = buildTestbed({
      seed: 1,
      rateBps: 100e6,
      delayNs: ms(25),
      flows: 1,
      sender: { hz: 250 },
      receiver: {
        hz: 250,
        rcvbuf: era.tcpRmemDefault,
        advWinScale: era.tcpAdvWinScale,
        receiver61: era.tcpReceiver61,
        rmemMax: 4 << 20,
      },
    });
    const rx = tb.receivers[0]!;
    const s = new PeriodicSampler(tb.sim, ms(100), 41, [() => rx.rcvbuf, () => rx.windowClampBytes]);
    s.start(0);
    tb.sim.run(sec(4));
    const [rcvbuf, clamp] = s.values as [Float64Array, Float64Array];
    return { rcvbuf, clamp, scale: era.tcpAdvWinScale };
  }

  it("6.1 sizes for 2 × copied + 16 segments and lets window_clamp follow the buffer", () => {
    const r = run(ERA_6_1);
    const rcvmem = tcpRcvmem(MSS, 1);
    const grown = [...r.rcvbuf.keys()].filter((i) => r.rcvbuf[i]! > ERA_6_1.tcpRmemDefault);
    expect(grown.length).toBeGreaterThan(0);
    // The first growth: more than the initial 10 segments were copied, so rcvwin ≥ (2 × 10 + 16) advmss.
    expect(r.rcvbuf[grown[0]!]).toBeGreaterThanOrEqual(36 * rcvmem);
    for (const i of grown) {
      if (r.rcvbuf[i] !== 4 << 20) expect(r.rcvbuf[i]! % rcvmem).toBe(0);
      expect(r.clamp[i]).toBe(tcpWinFromSpace(r.rcvbuf[i]!, 1));
    }
  });

  it("3.2 sets window_clamp to 2 × copied, not to the buffer's window", () => {
    const r = run(ERA_3_2);
    const grown = [...r.rcvbuf.keys()].filter((i) => r.rcvbuf[i]! > ERA_3_2.tcpRmemDefault);
    expect(grown.length).toBeGreaterThan(0);
    expect(grown.some((i) => r.clamp[i] !== tcpWinFromSpace(r.rcvbuf[i]!, 2))).toBe(true);
  });
});
