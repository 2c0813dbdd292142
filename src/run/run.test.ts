import { describe, expect, it } from "vitest";
import { ScenarioError } from "../scenario/errors.ts";
import { BudgetError, checkBudget, compare, estimateRun, resolveScenario, run, runScenario } from "./run.ts";
import { System } from "./system.ts";

// A small, fast scenario: one reader, four flows, two simulated seconds.
const small = {
  raw: {
    name: "small",
    duration: "2s",
    warmup: "200ms",
    sampleInterval: "100ms",
    guest: { memory: "256MiB" },
    network: { senders: [{ count: 4, rtt: "20ms", rate: "50Mbit/s" }] },
  },
};

/** The summary without the fields that measure the machine rather than the model. */
function modelPart(r: ReturnType<typeof run>) {
  const { wallMs: _w, eventsPerSecond: _e, ...rest } = r;
  return rest;
}

describe("run", () => {
  it("is deterministic: same scenario and seed give the same fingerprint and JSON", () => {
    const a = run(small, { seed: 7 });
    const b = run(small, { seed: 7 });
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(JSON.stringify(modelPart(a))).toBe(JSON.stringify(modelPart(b)));
    expect(a.events).toBeGreaterThan(10_000);
  });

  it("changes with the seed", () => {
    const a = run(small, { seed: 7, set: ["network.senders[0].loss=0.001"] });
    const b = run(small, { seed: 8, set: ["network.senders[0].loss=0.001"] });
    expect(a.fingerprint).not.toBe(b.fingerprint);
  });

  it("reports the groups the CLI promises, with counters that moved", () => {
    const r = run(small, {});
    for (const k of [
      "scenario",
      "driver",
      "seed",
      "simulatedNs",
      "wallMs",
      "events",
      "eventsPerSecond",
      "fingerprint",
    ]) {
      expect(r).toHaveProperty(k);
    }
    expect(r.goodputBps).toBeGreaterThan(1e6);
    expect(r.flows).toHaveLength(4);
    expect(r.host.rx_packets_count).toBeGreaterThan(0);
    expect(r.guest.rx_packets).toBe(r.host.rx_packets_count);
    expect(r.tcp.OutSegs).toBeGreaterThan(0);
    expect(r.memory.nr_free_pages).toBeGreaterThan(0);
    expect(r.stalls).toEqual({
      count: expect.any(Number),
      totalMs: expect.any(Number),
      longestMs: expect.any(Number),
    });
    expect(r.series.t.length).toBe(20);
  });

  it("applies driver, seed and duration overrides through the scenario schema", () => {
    const s = resolveScenario(small, { driver: "mainline", seed: 3, duration: "1s" });
    expect(s.guest.driver.version).toBe("mainline");
    expect(s.guest.driver.napiWeight).toBe(64);
    expect(s.seed).toBe(3);
    expect(s.duration).toBe(1e9);
  });

  it("calls onStart once, with the system built and before the first event and progress report", () => {
    const seen: string[] = [];
    const r = run(small, {
      onStart: () => seen.push("start"),
      onProgress: () => {
        if (seen.at(-1) !== "progress") seen.push("progress");
      },
    });
    expect(seen).toEqual(["start", "progress"]);
    expect(r.events).toBeGreaterThan(0);
  });

  it("rejects a bad override before running", () => {
    expect(() => run(small, { driver: "v9.9" })).toThrow(ScenarioError);
    expect(() => run(small, { set: ["guest.nope=1"] })).toThrow(/guest\.nope/);
  });
});

describe("compare", () => {
  it("runs every driver × seed", () => {
    const c = compare(small, {
      drivers: ["v3.2", "mainline"],
      seeds: [1, 2],
      duration: "500ms",
      set: ["warmup=100ms"],
    });
    expect(c.runs.map((r) => `${r.driver}/${r.seed}`)).toEqual([
      "v3.2/1",
      "v3.2/2",
      "mainline/1",
      "mainline/2",
    ]);
  });
});

describe("apps.readers[].nice", () => {
  const raw = { name: "nice", duration: "1s", warmup: "0s", apps: { readers: [{ nice: 5 }, {}] } };

  it("gives each reader thread the CFS weight of its nice value", () => {
    const sys = new System(resolveScenario({ raw, origin: "<test>" }));
    const weight = (name: string) => sys.k.threadList().find((t) => t.name === name)!.weight;
    // prio_to_weight[5 + 20] and [0 + 20].
    expect([weight("reader0"), weight("reader1")]).toEqual([335, 1024]);
  });

  it("rejects a nice value outside [-20, 19], naming the path", () => {
    expect(() => resolveScenario({ raw: { ...raw, apps: { readers: [{ nice: 20 }] } } })).toThrow(
      "apps.readers[0].nice = 20: must be an integer from -20 to 19",
    );
  });
});

describe("budgets", () => {
  const s = resolveScenario(small);

  it("estimates from flows, guest pages and samples", () => {
    const one = estimateRun(s);
    const more = estimateRun(resolveScenario(small, { set: ["network.senders[0].count=100"] }));
    expect(more.flows).toBe(100);
    expect(more.memoryBytes).toBeGreaterThan(one.memoryBytes);
    const samples = estimateRun(resolveScenario(small, { set: ["sampleInterval=1ms"] }));
    expect(samples.samples).toBe(s.duration / 1e6);
    expect(samples.outputChars).toBeGreaterThan(one.outputChars);
  });

  it("refuses a run over the budget before it starts, with the estimate", () => {
    const e = estimateRun(s);
    expect(() => runScenario(s, { budget: { memoryBytes: e.memoryBytes - 1, outputChars: 1e9 } })).toThrow(
      BudgetError,
    );
    expect(() => checkBudget(s, { memoryBytes: 1e12, outputChars: e.outputChars - 1 })).toThrow(
      /would write about \d+ MiB of results/,
    );
    expect(() => checkBudget(s, { memoryBytes: 1e12, outputChars: e.outputChars }, 2)).toThrow(/2 runs/);
  });

  it("stops a run that grows past the budget with a message", () => {
    // The estimate fits, but this process already holds more than the estimate: the first check stops it.
    const budget = { memoryBytes: estimateRun(s).memoryBytes, outputChars: 1e9 };
    expect(process.memoryUsage.rss()).toBeGreaterThan(budget.memoryBytes);
    expect(() => runScenario(s, { budget })).toThrow(/run stopped at \S+: it uses \d+ MiB/);
  });
});

describe("the remote senders' handshake", () => {
  /** One 10 Gbit/s flow at 1 ms RTT into a guest with memory to spare. */
  const oneFlow = (set: string[]) =>
    resolveScenario(
      {
        raw: {
          name: "one-flow",
          duration: "150ms",
          warmup: "0s",
          sampleInterval: "10ms",
          guest: { vcpus: 1, memory: "1GiB" },
          network: { uplink: { rate: "10Gbit/s" }, senders: [{ count: 1, rtt: "1ms", startJitter: "0s" }] },
        },
      },
      { set },
    );

  it("starts each sender with the window the guest's SYN offered (tcp_select_initial_window)", () => {
    // 3.2 offers at most TCP_DEFAULT_INIT_RCVWND = 10 MSS; a buffer locked at 16 KiB gives
    // tcp_win_from_space(16384) = 12288 bytes, quantized to 8 MSS.
    let sys = new System(oneFlow(["guest.driver.version=v3.2", "apps.readers[0].rcvbuf=16KiB"]), {});
    expect(sys.stack.receivers[0]!.window).toBe(8 * 1448);
    expect(sys.senders[0]!.peerWindow).toBe(8 * 1448);
    sys = new System(oneFlow(["guest.driver.version=v3.2"]), {});
    expect(sys.senders[0]!.peerWindow).toBe(10 * 1448);
    // 6.1 offers all of its space up to U16_MAX: tcp_rmem[1] = 131072 at tcp_adv_win_scale 1 is
    // 65536 bytes, 45 MSS.
    sys = new System(oneFlow(["guest.driver.version=mainline", "guest.kernel=6.1"]), {});
    expect(sys.senders[0]!.peerWindow).toBe(45 * 1448);
    expect(sys.senders[0]!.peerWindow).toBe(sys.stack.receivers[0]!.window);
  });

  it("negotiates no timestamps when the guest's sysctl is off: 1460-byte MSS both ways, 12 more data bytes per frame, 12 fewer per ACK", () => {
    const on = new System(oneFlow([]), {});
    const off = new System(oneFlow(["guest.tcp.timestamps=false"]), {});
    expect([on.senders[0]!.mss, off.senders[0]!.mss]).toEqual([1448, 1460]);
    // tp->advmss loses TCPOLEN_TSTAMP_ALIGNED only when timestamps were negotiated: 3.2's first
    // window of TCP_DEFAULT_INIT_RCVWND segments is 10 × 1448 or 10 × 1460 bytes.
    expect([on.senders[0]!.peerWindow, off.senders[0]!.peerWindow]).toEqual([10 * 1448, 10 * 1460]);
    const a = runScenario(oneFlow([]));
    const b = runScenario(oneFlow(["guest.tcp.timestamps=false"]));
    const perFrame = (r: ReturnType<typeof runScenario>, dir: "rx" | "tx") =>
      r.host[`${dir}_bytes_count`]! / r.host[`${dir}_packets_count`]!;
    // A loss-free bulk flow: every data frame a full MSS, every ACK a pure one without SACK blocks.
    for (const r of [a, b]) expect([r.tcp.RetransSegs, r.tcp.OfoQueued]).toEqual([0, 0]);
    // Frames fill the MTU either way, with 12 more bytes of data each without the option; the
    // guest's ACKs are 12 bytes shorter.
    expect([perFrame(a, "rx"), perFrame(b, "rx")]).toEqual([1448 + 66, 1460 + 54]);
    expect([perFrame(a, "tx"), perFrame(b, "tx")]).toEqual([66, 54]);
  });

  it("runs seed-torrent without timestamps, whose smallest tcp_collapse skbs take kmalloc-512", () => {
    // 118 bytes of headroom and the last ≤ 10 bytes of a queue: SKB_DATA_ALIGN(128) + 384 = 512.
    const r = run("seed-torrent", {
      driver: "mainline",
      duration: "6s",
      set: ["guest.tcp.timestamps=false"],
    });
    expect(r.tcp.TCPRcvCollapsed).toBeGreaterThan(0);
    expect(r.goodputBps).toBeGreaterThan(0);
  });

  it("keeps a small locked buffer's first flight inside its window: no drop, no RTO at the start", () => {
    const r = runScenario(oneFlow(["guest.driver.version=v3.2", "apps.readers[0].rcvbuf=16KiB"]));
    expect(r.tcp.outOfWindowDrops).toBe(0);
    expect(r.tcp.TCPTimeouts).toBe(0);
    // A first flight of 10 MSS into 8 lost its tail and waited some 200 ms for the RTO: 11 packets.
    expect(r.host.rx_packets_count).toBeGreaterThan(500);
  });
});
