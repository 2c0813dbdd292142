/**
 * `vnetlab bench` / `npm run bench`: every benchmark suite, reporting rates and, where a baseline
 * exists, the ratio to it, side by side in one run. No timing assertions live in tests.
 */
import { benchAlloc } from "../guest/mm/bench.ts";
import { benchSweep } from "../run/sweep-bench.ts";
import { benchVirtqueue } from "../virtio/bench.ts";
import { BenchError } from "./errors.ts";
import { benchE2e, type E2eBaseline, type E2eResult, loadE2eBaseline } from "./e2e.ts";
import { benchFes } from "./fes.ts";

export interface BenchRow {
  suite: string;
  name: string;
  /** Events (or operations, packets) per wall-clock second. */
  eventsPerSecond: number;
  baselineEventsPerSecond?: number;
  ratio?: number;
  /** Where the baseline comes from when it is not measured in the same run (a stored figure). */
  baselineNote?: string;
  unit: string;
  /** Extra figures, e.g. simulated packets per second. */
  extra?: Record<string, number>;
}

export interface BenchSuite {
  name: string;
  description: string;
  run(quick: boolean): BenchRow[];
}

export const BENCH_SUITES: BenchSuite[] = [
  {
    name: "fes",
    description: "future event set: ns-3 bench-scheduler workload and timer re-arming, vs a naive heap",
    run: (quick) =>
      benchFes({ scale: quick ? 0.05 : 1 }).workloads.map((w) => ({
        suite: "fes",
        name: w.name,
        eventsPerSecond: w.eventsPerSecond,
        baselineEventsPerSecond: w.baselineEventsPerSecond,
        ratio: w.ratio,
        unit: "events/s",
      })),
  },
  {
    name: "virtqueue",
    description: "split virtqueue: add + kick + pop + add_used + get_buf cycles on a 256-entry ring",
    run: (quick) =>
      benchVirtqueue(quick ? 50_000 : 1_000_000).map((r) => ({
        suite: "virtqueue",
        name: r.name,
        eventsPerSecond: r.opsPerSecond,
        unit: "ops/s",
      })),
  },
  {
    name: "alloc",
    description: "page allocator and slab fast paths: 10 million alloc/free pairs",
    run: (quick) =>
      benchAlloc({ pairs: quick ? 200_000 : 10_000_000 }).map((r) => ({
        suite: "alloc",
        name: r.name,
        eventsPerSecond: r.opsPerSecond,
        unit: "pairs/s",
      })),
  },
  {
    name: "e2e",
    description:
      "loss-free 10 Gbit/s uplink through host, ring, driver and guest TCP, 1 and 100 flows (packets/s), " +
      "each beside the previous release's (src/bench/e2e-baseline.json)",
    run: (quick) => {
      const duration = quick ? "200ms" : "10s";
      const runs = quick ? 1 : 3;
      // The stored figure is for the full-length run; a quick run's rate is not comparable to it.
      const baseline = quick ? undefined : loadE2eBaseline();
      return [1, 100].map((flows) => e2eRow(benchE2e({ duration, runs, flows })[0]!, baseline, flows));
    },
  },
  {
    name: "sweep",
    description: "sweep throughput: --jobs 2 vs --jobs 1 on CPU-bound runs (runs/s)",
    run: (quick) => benchSweep(quick),
  },
];

/** An e2e result as a bench row, beside the stored figure for the same number of flows, if any. */
export function e2eRow(r: E2eResult, stored: E2eBaseline | undefined, flows: number): BenchRow {
  const baseline = stored?.rows.find((b) => b.flows === flows);
  return {
    suite: "e2e",
    name: r.name,
    eventsPerSecond: r.packetsPerSecond,
    ...(baseline === undefined
      ? {}
      : {
          baselineEventsPerSecond: baseline.packetsPerSecond,
          ratio: r.packetsPerSecond / baseline.packetsPerSecond,
          baselineNote: `${stored!.commit.slice(0, 7)}, load ${baseline.load}`,
        }),
    unit: "packets/s",
    extra: {
      nsPerPacket: r.nsPerPacket,
      cpuNsPerPacket: r.cpuNsPerPacket,
      runCpuNsPerPacket: r.runCpuNsPerPacket,
      setupCpuMs: r.setupCpuMs,
      eventsPerPacket: r.eventsPerPacket,
      eventsPerSecond: r.eventsPerSecond,
      goodputBps: r.goodputBps,
      packets: r.packets,
    },
  };
}

export { BenchError };

/** Runs the named suites (all when empty), in the order given. */
export function runBench(names: readonly string[], quick = false): BenchRow[] {
  const known = new Map(BENCH_SUITES.map((s) => [s.name, s]));
  for (const n of names) {
    if (!known.has(n)) {
      throw new BenchError(
        `unknown bench suite "${n}"; allowed: ${BENCH_SUITES.map((s) => s.name).join(", ")}`,
      );
    }
  }
  const suites = names.length === 0 ? BENCH_SUITES : names.map((n) => known.get(n)!);
  return suites.flatMap((s) => s.run(quick));
}

/** Per-packet cost figures shown beside a row's rate, in this order, with their units. */
const DETAILS: readonly [key: string, unit: string, digits: number][] = [
  ["nsPerPacket", "ns/packet", 0],
  ["cpuNsPerPacket", "CPU ns/packet", 0],
  ["runCpuNsPerPacket", "CPU ns/packet after set-up", 0],
  ["setupCpuMs", "CPU ms set-up", 0],
  ["eventsPerPacket", "events/packet", 2],
];

/** An aligned plain-text table of bench rows. */
export function formatBench(rows: readonly BenchRow[]): string {
  const fmt = (x: number | undefined) =>
    x === undefined
      ? ""
      : x >= 1e6
        ? `${(x / 1e6).toFixed(2)} M`
        : x >= 1e3
          ? `${(x / 1e3).toFixed(1)} k`
          : x.toFixed(2);
  const details = (r: BenchRow) =>
    DETAILS.filter(([k]) => r.extra?.[k] !== undefined)
      .map(([k, unit, digits]) => `${r.extra![k]!.toFixed(digits)} ${unit}`)
      .join(", ");
  const table = [
    ["suite", "workload", "rate", "unit", "baseline", "ratio", "cost"],
    ...rows.map((r) => [
      r.suite,
      r.name,
      fmt(r.eventsPerSecond),
      r.unit,
      `${fmt(r.baselineEventsPerSecond)}${r.baselineNote === undefined ? "" : ` (${r.baselineNote})`}`,
      r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}×`,
      details(r),
    ]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  return table
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
