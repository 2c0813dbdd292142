import { describe, expect, it } from "vitest";
import { ms, sec } from "../sim/time.ts";
import { PeriodicSampler } from "./sampler.ts";
import { buildTestbed } from "./testbed.ts";

describe("PeriodicSampler", () => {
  it("records probes at a fixed interval until its arrays are full", () => {
    const tb = buildTestbed({ rateBps: 100e6, delayNs: ms(10), flows: 1 });
    const s = tb.senders[0]!;
    const seen: number[] = [];
    const sampler = new PeriodicSampler(tb.sim, ms(10), 50, [
      () => s.cwnd,
      () => {
        seen.push(tb.sim.now);
        return s.sndUna;
      },
    ]);
    sampler.start(ms(5));
    tb.sim.run(sec(2));
    expect(sampler.count).toBe(50);
    expect(Array.from(sampler.times)).toEqual(Array.from({ length: 50 }, (_, k) => ms(5) + k * ms(10)));
    expect(seen).toEqual(Array.from(sampler.times));
    const cwnd = Array.from(sampler.values[0]!);
    // slow start from TCP_INIT_CWND, and it does grow
    expect(cwnd[0]).toBe(10);
    expect(Math.max(...cwnd)).toBeGreaterThan(10);
    const acked = Array.from(sampler.values[1]!);
    for (let k = 1; k < acked.length; k++) expect(acked[k]!).toBeGreaterThanOrEqual(acked[k - 1]!);
  });
});
