/**
 * Validation against RFC 3649 Table 2: a Reno ("NewReno" module with Linux's SACK/FACK recovery)
 * flow on a path with Bernoulli data loss p, no delayed ACKs, a window-limited (not link-limited)
 * path, and a receive window far above the congestion window.
 *
 * Table 2 is the response function W = 1.2/√p, derived for deterministic loss. With independent
 * (Bernoulli) losses the mean window of an AIMD flow is larger: the fluid limit is ≈ 1.31/√p (Ott,
 * Kemperman & Mathis 1996; Mathis et al., CCR 1997, "random loss"), i.e. +9 % over Table 2 at
 * large windows. So each case checks the simulated Linux sender against an independent reference
 * — the textbook rounds model of AIMD under Bernoulli loss, computed here — within the tolerance the
 * brief gives for Table 2, and checks that this reference itself lies within 10 % of Table 2.
 */
import { describe, expect, it } from "vitest";
import { Rng } from "../sim/rng.ts";
import { ms, sec } from "../sim/time.ts";
import { buildTestbed } from "./testbed.ts";

/**
 * Rounds model: each RTT the flow sends ⌊W⌋ segments, each lost with probability p; a round with a
 * loss halves W (once per window, as SACK recovery does), a clean round adds one segment.
 * Returns the mean of W over rounds, i.e. over time.
 */
function bernoulliAimdMeanWindow(p: number, rounds: number, rng: Rng): number {
  let w = 10;
  let sum = 0;
  for (let i = 0; i < rounds; i++) {
    sum += w;
    if (rng.uniform() < 1 - (1 - p) ** Math.floor(w)) w = Math.max(w / 2, 2);
    else w += 1;
  }
  return sum / rounds;
}

function simulatedMeanCwnd(p: number, seconds: number): { mean: number; recoveries: number; rtos: number } {
  const tb = buildTestbed({
    seed: 1,
    rateBps: 10e9,
    delayNs: ms(5),
    lossProb: p,
    flows: 1,
    sender: { cc: "reno", hz: 1000 },
    receiver: { delayedAck: false, rcvbuf: 64 << 20, rmemMax: 64 << 20, userLocked: true, hz: 1000 },
  });
  const s = tb.senders[0]!;
  const warmup = sec(5);
  tb.sim.run(warmup);
  tb.forward.resetPeaks();
  const area0 = s.cwndIntegral();
  tb.sim.run(warmup + sec(seconds));
  // the 10 Gbit/s link never queues: the window alone limits the flow
  expect(tb.forward.maxQueuePackets).toBeLessThan(50);
  return {
    mean: (s.cwndIntegral() - area0) / sec(seconds),
    recoveries: s.counters.tcpSackRecovery,
    rtos: s.counters.rtoExpiries,
  };
}

describe("Reno under Bernoulli loss follows the RFC 3649 Table 2 response function", () => {
  const cases = [
    { p: 1e-2, table2: 12, tolerance: 0.2, seconds: 200 },
    { p: 1e-3, table2: 38, tolerance: 0.1, seconds: 200 },
    { p: 1e-4, table2: 120, tolerance: 0.1, seconds: 300 },
  ];
  for (const { p, table2, tolerance, seconds } of cases) {
    it(`p = ${p}: mean cwnd ≈ ${table2} segments`, () => {
      expect(Math.abs(1.2 / Math.sqrt(p) - table2) / table2).toBeLessThan(0.02);
      const reference = bernoulliAimdMeanWindow(p, 2_000_000, new Rng(1, "table2.reference"));
      expect(Math.abs(reference / table2 - 1)).toBeLessThan(0.1);
      const { mean, recoveries } = simulatedMeanCwnd(p, seconds);
      console.log(
        `p=${p}: mean cwnd ${mean.toFixed(1)}, Table 2 ${table2} (×${(mean / table2).toFixed(3)}), ` +
          `Bernoulli reference ${reference.toFixed(1)} (×${(mean / reference).toFixed(3)}), ${recoveries} recoveries`,
      );
      // enough loss events for a stable mean
      expect(recoveries).toBeGreaterThan(250);
      expect(Math.abs(mean / reference - 1)).toBeLessThan(tolerance);
    });
  }
});
