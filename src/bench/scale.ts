/**
 * `vnetlab bench scale`: how the cost of a run grows with flows, link rate and simulated duration.
 * Each axis is swept on its own from one base point (1 flow, 10 Gbit/s, 10 s) through the e2e bench's
 * scenario, and every configuration runs in a fresh child process, so its peak RSS
 * (process.resourceUsage().maxRSS) is its own and not the high-water mark of the runs before it. The
 * child first runs WARM_UP (unless cold), so the figures are the model's and not V8's warm-up.
 *
 * Reported per configuration: wall time per simulated second, simulated packets per wall second,
 * wall ns and events per packet, CPU ns per packet with and without building the system (set-up is
 * per-flow state, once per run; the run's own cost is flat in flows and in duration when no work is
 * O(flows) per event and nothing accumulates), and peak RSS beside the RSS of the loaded, idle child.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { LAUNCH } from "../run/bundle.ts";
import { resolveScenario } from "../run/run.ts";
import { assignmentPath } from "../scenario/overrides.ts";
import { formatDuration, formatRate, parseDuration, parseRate } from "../scenario/units.ts";
import { formatPath } from "../scenario/walk.ts";
import { type E2eShape, e2eScenario, measureE2e } from "./e2e.ts";
import { BenchError } from "./errors.ts";
import { alignTable, formatValue } from "./format.ts";

/** The child process's entry, run from its bundle as the CLI runs the model. */
const CHILD = fileURLToPath(new URL("./scale-child.ts", import.meta.url));

export type ScaleAxis = "flows" | "rate" | "duration";
export const SCALE_AXES: readonly ScaleAxis[] = ["flows", "rate", "duration"];

/** The schema's limit on one sender group's count (network.senders[].count). */
const MAX_FLOWS = 10_000;

export interface ScaleOptions {
  flows?: readonly number[];
  rates?: readonly string[];
  durations?: readonly string[];
  /** Shorter runs and fewer points (smoke tests; figures are dominated by start-up). */
  quick?: boolean;
  /** Measure each configuration's first run, the JIT's warm-up included, not a run after WARM_UP. */
  cold?: boolean;
  /**
   * `path=value` overrides of the scenario's other fields for every configuration (not the warm-up),
   * e.g. a locked receive buffer to tell the memory the flows hold from the flows themselves.
   */
  set?: readonly string[];
}

/** One configuration to measure and the axes whose curve it is a point of. */
export interface ScalePoint extends E2eShape {
  axes: ScaleAxis[];
  /** Run WARM_UP in the child first, so the figures are the model's and not V8's warm-up. */
  warm: boolean;
}

export interface ScaleRow extends ScalePoint {
  packets: number;
  events: number;
  wallSeconds: number;
  /** Wall seconds per simulated second. */
  wallPerSimSecond: number;
  packetsPerSecond: number;
  nsPerPacket: number;
  /** CPU time of the child per packet (less sensitive to the machine's load than wall time). */
  cpuNsPerPacket: number;
  /** CPU ms building the system: per-flow state, so it grows with flows, once per run. */
  setupCpuMs: number;
  /** CPU ns per packet from the first event on: what must stay flat in flows and duration. */
  runCpuNsPerPacket: number;
  /**
   * The same per event: separates a model doing more per packet (more events: drops, SACK, ACKs)
   * from each event costing more.
   */
  runCpuNsPerEvent: number;
  eventsPerPacket: number;
  /** Retransmitted segments and skbs collapsed per packet (E2eResult): model work that grows with flows. */
  retransPerPacket: number;
  collapsedPerPacket: number;
  /** Packets of the warm-up run before the measured one (0 when cold). */
  warmUpPackets: number;
  /** maxRSS of the child once the model is loaded (and warmed up), before the run. */
  startRssBytes: number;
  /** maxRSS of the child after the run. */
  peakRssBytes: number;
  /** 1-minute load average when the child started. */
  load: number;
}

const FULL = {
  base: { flows: 1, rate: "10Gbit/s", duration: "10s" },
  flows: [1, 10, 100, 1000, 10_000],
  rates: ["100Mbit/s", "1Gbit/s", "10Gbit/s", "100Gbit/s"],
  durations: ["10s", "30s", "100s", "300s", "600s"],
};
const QUICK = {
  base: { flows: 1, rate: "10Gbit/s", duration: "200ms" },
  flows: [1, 10, 100],
  rates: ["100Mbit/s", "10Gbit/s"],
  durations: ["200ms", "1s"],
};

/**
 * The warm-up run of a warm child: bench e2e's scenario for 1 s simulated. A fresh process's first
 * run costs some 40 % more per packet while V8 compiles the hot code, which would swamp the
 * differences between configurations.
 */
const WARM_UP: E2eShape = { flows: 1, rate: "10Gbit/s", duration: "1s" };

/** How the children ran, for the line under the table. */
export function describeWarmUp(cold: boolean): string {
  return cold
    ? "each configuration in its own child process, cold (its run includes V8's warm-up)"
    : `each configuration in its own child process, after a warm-up run (${describePoint(WARM_UP)})`;
}

function checkFlows(values: readonly number[]): void {
  for (const f of values) {
    if (!(Number.isInteger(f) && f >= 1 && f <= MAX_FLOWS))
      throw new BenchError(`--flows: ${f} is not allowed; expected integers 1..${MAX_FLOWS}`);
  }
}

/** The scenario fields the axes set: an override of one of them, or of what holds one, would hide an axis. */
const AXIS_PATHS: ReadonlyArray<readonly [string, string]> = [
  ["network.senders[0].count", "--flows"],
  ["network.uplink.rate", "--rates"],
  ["duration", "--durations"],
];

function checkOverrides(set: readonly string[]): void {
  for (const assignment of set) {
    const path = assignmentPath(assignment);
    if (path === undefined) continue; // resolveScenario names the bad assignment
    const text = formatPath(path);
    for (const [axisPath, flag] of AXIS_PATHS) {
      if (axisPath === text || axisPath.startsWith(`${text}.`) || axisPath.startsWith(`${text}[`))
        throw new BenchError(`--set ${assignment}: ${axisPath} is an axis of bench scale; use ${flag}`);
    }
  }
}

function checkUnits(flag: string, values: readonly string[], parse: (v: string) => number): void {
  for (const v of values) {
    try {
      if (!(parse(v) > 0)) throw new Error("must be > 0");
    } catch (e) {
      throw new BenchError(`${flag}: "${v}" is not allowed: ${(e as Error).message}`);
    }
  }
}

/**
 * The configurations to measure: the axes named by the options (all three when none is), each from
 * the base point, with configurations shared by several axes measured once.
 */
export function planScale(opts: ScaleOptions = {}): ScalePoint[] {
  const d = opts.quick === true ? QUICK : FULL;
  const picked = opts.flows !== undefined || opts.rates !== undefined || opts.durations !== undefined;
  const flows = opts.flows ?? (picked ? [] : d.flows);
  const rates = opts.rates ?? (picked ? [] : d.rates);
  const durations = opts.durations ?? (picked ? [] : d.durations);
  checkFlows(flows);
  checkUnits("--rates", rates, parseRate);
  checkUnits("--durations", durations, parseDuration);
  const set = [...(opts.set ?? [])];
  checkOverrides(set);
  const points = new Map<string, ScalePoint>();
  const add = (axis: ScaleAxis, base: E2eShape) => {
    const shape = set.length > 0 ? { ...base, set } : base;
    // Keyed by value, not spelling: "1Gbit/s" and "1000Mbit/s" are one configuration.
    const key = `${shape.flows}|${parseRate(shape.rate)}|${parseDuration(shape.duration)}`;
    const p = points.get(key);
    if (p === undefined) {
      // A bad override fails here, with its path, before any child runs (ScenarioError: exit 2).
      resolveScenario({ raw: e2eScenario(shape), origin: "bench scale" }, { set });
      points.set(key, { ...shape, axes: [axis], warm: opts.cold !== true });
    } else if (!p.axes.includes(axis)) p.axes.push(axis);
  };
  for (const f of flows) add("flows", { ...d.base, flows: f });
  for (const r of rates) add("rate", { ...d.base, rate: r });
  for (const t of durations) add("duration", { ...d.base, duration: t });
  return [...points.values()];
}

/** Measures one configuration in this process (the child's side, scale-child.ts). */
export function measureHere(p: ScalePoint, load: number): ScaleRow {
  const warmUpPackets = p.warm ? measureE2e(WARM_UP).packets : 0;
  const startRssBytes = process.resourceUsage().maxRSS * 1024;
  const r = measureE2e(p);
  return {
    ...p,
    packets: r.packets,
    events: r.events,
    wallSeconds: r.wallSeconds,
    wallPerSimSecond: r.wallSeconds / (parseDuration(p.duration) / 1e9),
    packetsPerSecond: r.packetsPerSecond,
    nsPerPacket: r.nsPerPacket,
    cpuNsPerPacket: r.cpuNsPerPacket,
    setupCpuMs: r.setupCpuMs,
    runCpuNsPerPacket: r.runCpuNsPerPacket,
    runCpuNsPerEvent: r.runCpuNsPerPacket / r.eventsPerPacket,
    eventsPerPacket: r.eventsPerPacket,
    retransPerPacket: r.retransPerPacket,
    collapsedPerPacket: r.collapsedPerPacket,
    warmUpPackets,
    startRssBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    load,
  };
}

/** Measures one configuration in a fresh child process. */
export function measureScalePoint(p: ScalePoint): ScaleRow {
  const r = spawnSync(process.execPath, [LAUNCH, CHILD, JSON.stringify(p)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0)
    throw new Error(`bench scale: the child measuring ${describePoint(p)} failed (${r.status ?? r.signal})`);
  return JSON.parse(r.stdout) as ScaleRow;
}

/** Measures every configuration of the plan in turn; `onRow` sees each as it is done. */
export function benchScale(opts: ScaleOptions = {}, onRow?: (r: ScaleRow) => void): ScaleRow[] {
  return planScale(opts).map((p) => {
    const row = measureScalePoint(p);
    onRow?.(row);
    return row;
  });
}

export function describePoint(p: E2eShape): string {
  const set = (p.set ?? []).map((a) => `, ${a}`).join("");
  return `${p.flows} flow${p.flows === 1 ? "" : "s"}, ${p.rate}, ${p.duration}${set}`;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

export const SCALE_COLUMNS = [
  "axes",
  "flows",
  "rate",
  "duration",
  "packets",
  "wall s / sim s",
  "packets/s",
  "ns/packet",
  "CPU ns/packet",
  "set-up CPU ms",
  "CPU ns/packet after set-up",
  "CPU ns/event after set-up",
  "events/packet",
  "retrans/packet",
  "collapsed/packet",
  "RSS start MiB",
  "RSS peak MiB",
  "load",
] as const;

/** Table cells of one row, in SCALE_COLUMNS order. */
export function scaleCells(r: ScaleRow): string[] {
  return [
    r.axes.join(","),
    String(r.flows),
    formatRate(parseRate(r.rate)),
    formatDuration(parseDuration(r.duration)),
    formatValue(r.packets),
    r.wallPerSimSecond.toFixed(3),
    `${(r.packetsPerSecond / 1e6).toFixed(3)} M`,
    r.nsPerPacket.toFixed(0),
    r.cpuNsPerPacket.toFixed(0),
    r.setupCpuMs.toFixed(0),
    r.runCpuNsPerPacket.toFixed(0),
    r.runCpuNsPerEvent.toFixed(0),
    r.eventsPerPacket.toFixed(2),
    r.retransPerPacket.toFixed(3),
    r.collapsedPerPacket.toFixed(3),
    mib(r.startRssBytes),
    mib(r.peakRssBytes),
    r.load.toFixed(2),
  ];
}

/** The rows as an aligned table: text left, numbers right. */
export function formatScale(rows: readonly ScaleRow[]): string {
  return alignTable([[...SCALE_COLUMNS], ...rows.map(scaleCells)]);
}
