import { describe, expect, it } from "vitest";
import { ms } from "../sim/time.ts";
import { resolveScenario } from "./run.ts";
import { System } from "./system.ts";

describe("the reader application on its epoll ready list", () => {
  // One flow sends from the start; 999 more are registered but open only after the part simulated.
  const raw = {
    duration: "400ms",
    warmup: "0s",
    network: {
      senders: [
        { name: "busy", count: 1, rtt: "2ms" },
        { name: "idle", count: 999, rtt: "2ms", start: "300ms" },
      ],
    },
  };

  it("calls recv() only on readable sockets: a wake-up costs O(readable), not O(sockets)", () => {
    const sys = new System(resolveScenario({ raw, origin: "<test>" }));
    const rxs = sys.stack.receivers;
    expect(rxs.length).toBe(1000);
    const reads = new Int32Array(rxs.length);
    let emptyReads = 0;
    rxs.forEach((rx, i) => {
      const read = rx.read.bind(rx);
      rx.read = (max) => {
        reads[i]!++;
        const n = read(max);
        if (n === 0) emptyReads++;
        return n;
      };
    });
    sys.sim.run(ms(200));
    expect(rxs[0]!.counters.bytesRead).toBeGreaterThan(1 << 20);
    expect(reads[0]).toBeGreaterThan(100);
    // The 999 sockets that never had data were never visited, and no visit came back empty.
    expect(reads.reduce((a, b) => a + b, 0)).toBe(reads[0]);
    expect(emptyReads).toBe(0);
  });
});
