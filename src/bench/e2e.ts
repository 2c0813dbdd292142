/**
 * End-to-end speed: a loss-free transfer through sender, links, host backend, ring, driver, guest TCP
 * and a reader, on a guest with memory to spare. Reports simulated packets per wall-clock second and
 * events per packet (performance.md: about four events per packet), beside the figure of the previous
 * release stored in e2e-baseline.json, so that a reader sees the ratio and not only a rate.
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { run } from "../run/run.ts";

export interface E2eResult {
  name: string;
  packets: number;
  events: number;
  wallSeconds: number;
  packetsPerSecond: number;
  eventsPerSecond: number;
  eventsPerPacket: number;
  /** Wall-clock nanoseconds per simulated packet. */
  nsPerPacket: number;
  /**
   * CPU (user + system) nanoseconds of this process per simulated packet: on a shared machine it
   * grows far less with the load than wall time does, so it is the figure to compare across loads.
   */
  cpuNsPerPacket: number;
  /** CPU milliseconds building the system (its flows' state grows with flows, once per run). */
  setupCpuMs: number;
  /** CPU ns per packet from the first event on: the run's own cost, set-up left out. */
  runCpuNsPerPacket: number;
  /**
   * What the model did per packet besides carrying it: the senders' retransmitted segments (Tcp
   * RetransSegs) and the receivers' skbs copied by tcp_collapse (TcpExt TCPRcvCollapsed). Where they
   * grow (many flows filling their buffers on a saturated vCPU), so does the cost per packet.
   */
  retransPerPacket: number;
  collapsedPerPacket: number;
  goodputBps: number;
}

export interface E2eShape {
  /** TCP flows sharing the uplink. */
  flows: number;
  /** Uplink rate, e.g. "10Gbit/s". */
  rate: string;
  /** Simulated time, e.g. "10s". */
  duration: string;
  /** `--set path=value` overrides of the scenario's other fields (bench scale's --set). */
  set?: readonly string[];
}

/** The bench's scenario: one vCPU with 4 GiB (no memory pressure) and a reader that costs nothing. */
export function e2eScenario(shape: E2eShape): Record<string, unknown> {
  return {
    name: `e2e-${shape.flows}-flows`,
    duration: shape.duration,
    warmup: "100ms",
    sampleInterval: "100ms",
    guest: { vcpus: 1, memory: "4GiB" },
    network: {
      uplink: { rate: shape.rate },
      senders: [{ count: shape.flows, rtt: "1ms", startJitter: "0s" }],
    },
    apps: { readers: [{ perKiBCost: "0ns" }] },
  };
}

/** Runs the scenario of `shape` once and measures it. */
export function measureE2e(shape: E2eShape): E2eResult {
  const c0 = process.cpuUsage();
  /** CPU ns (user + system) of this process since c0. */
  const cpuNs = () => {
    const u = process.cpuUsage(c0);
    return (u.user + u.system) * 1e3;
  };
  const t0 = performance.now();
  let setupNs = 0;
  const r = run(
    { raw: e2eScenario(shape), origin: "bench e2e" },
    { set: shape.set ?? [], onStart: () => (setupNs = cpuNs()) },
  );
  const wallSeconds = (performance.now() - t0) / 1000;
  const totalNs = cpuNs();
  const packets = r.host.rx_packets_count!;
  const flows = `${shape.flows} flow${shape.flows === 1 ? "" : "s"}`;
  return {
    name: `loss-free ${shape.rate} uplink, ${flows}, ${shape.duration} simulated`,
    packets,
    events: r.events,
    wallSeconds,
    packetsPerSecond: packets / wallSeconds,
    eventsPerSecond: r.events / wallSeconds,
    eventsPerPacket: r.events / packets,
    nsPerPacket: (wallSeconds * 1e9) / packets,
    cpuNsPerPacket: totalNs / packets,
    setupCpuMs: setupNs / 1e6,
    runCpuNsPerPacket: (totalNs - setupNs) / packets,
    retransPerPacket: r.tcp.RetransSegs! / packets,
    collapsedPerPacket: r.tcp.TCPRcvCollapsed! / packets,
    goodputBps: r.goodputBps,
  };
}

/** The bench's 10 Gbit/s measurement (1 flow by default), best of `runs` (the machine is shared). */
export function benchE2e(opts: { duration?: string; runs?: number; flows?: number } = {}): E2eResult[] {
  const shape = { flows: opts.flows ?? 1, rate: "10Gbit/s", duration: opts.duration ?? "10s" };
  const runs = opts.runs ?? 1;
  if (!(Number.isInteger(runs) && runs >= 1))
    throw new RangeError(`runs must be an integer >= 1, got ${runs}`);
  let best: E2eResult | undefined;
  for (let i = 0; i < runs; i++) {
    const r = measureE2e(shape);
    if (best === undefined || r.wallSeconds < best.wallSeconds) best = r;
  }
  return [best!];
}

/** One of the previous release's e2e figures (a number of flows) and how it was produced. */
export interface E2eBaselineRow {
  flows: number;
  date: string;
  /** 1-minute load average when measured. */
  load: number;
  command: string;
  packetsPerSecond: number;
  eventsPerPacket: number;
}

/** The previous release's e2e figures: one commit and machine, a row per number of flows. */
export interface E2eBaseline {
  commit: string;
  machine: string;
  duration: string;
  rows: E2eBaselineRow[];
}

const BASELINE_FILE = new URL("./e2e-baseline.json", import.meta.url);

/** Reads and checks e2e-baseline.json; an error names the file, the field and its value. */
export function loadE2eBaseline(text = readFileSync(BASELINE_FILE, "utf8")): E2eBaseline {
  const where = "src/bench/e2e-baseline.json";
  const fail = (path: string, what: string, v: unknown): never => {
    throw new Error(`${where}: ${path} must be ${what}, got ${JSON.stringify(v)}`);
  };
  const strings = (o: Record<string, unknown>, prefix: string, keys: readonly string[]) => {
    for (const k of keys) if (typeof o[k] !== "string") fail(`${prefix}${k}`, "a string", o[k]);
  };
  const b = JSON.parse(text) as Record<string, unknown>;
  strings(b, "", ["commit", "machine", "duration"]);
  if (!(Array.isArray(b.rows) && b.rows.length > 0)) fail("rows", "a non-empty array", b.rows);
  const seen = new Set<number>();
  (b.rows as Record<string, unknown>[]).forEach((row, i) => {
    const at = `rows[${i}].`;
    strings(row, at, ["date", "command"]);
    for (const k of ["load", "packetsPerSecond", "eventsPerPacket"]) {
      const v = row[k];
      if (!(typeof v === "number" && Number.isFinite(v) && v >= 0)) fail(`${at}${k}`, "a number >= 0", v);
    }
    const f = row.flows;
    if (!(Number.isInteger(f) && (f as number) >= 1 && !seen.has(f as number)))
      fail(`${at}flows`, "an integer >= 1, once per file", f);
    seen.add(f as number);
  });
  return b as unknown as E2eBaseline;
}
