import { describe, expect, it } from "vitest";
import { parseScenario } from "../scenario/load.ts";
import { ms } from "../sim/time.ts";
import { System } from "./system.ts";

/** Four flows through a 500 ms uplink outage from 1 s; the system when the outage ends. */
function throughOutage(direction: "both" | "toGuest"): System {
  const sys = new System(
    parseScenario({
      duration: "2s",
      warmup: "200ms",
      guest: { memory: "256MiB" },
      network: { senders: [{ count: 4, rtt: "20ms", rate: "50Mbit/s" }] },
      faults: { linkOutages: [{ at: "1s", duration: "500ms", direction }] },
    }),
  );
  sys.sim.run(ms(1500));
  return sys;
}

describe("receive-only link outages (faults.linkOutages[].direction)", () => {
  it("toGuest drops data towards the guest but lets the guest's ACKs reach the senders", () => {
    const both = throughOutage("both");
    const toGuest = throughOutage("toGuest");
    expect(toGuest.uplink.outageDrops).toBeGreaterThan(0);
    expect(toGuest.reverseUplink.outageDrops).toBe(0);
    expect(both.uplink.outageDrops).toBeGreaterThan(0);
    expect(both.reverseUplink.outageDrops).toBeGreaterThan(0);
    // the data that was past the uplink when it went down is acknowledged only with toGuest
    const acked = (sys: System) => sys.senders.reduce((a, s) => a + s.sndUna, 0);
    expect(acked(toGuest)).toBeGreaterThan(acked(both));
  });
});
