/**
 * The library API behind `vnetlab trace` and `run --trace`: a run with tracepoints enabled, delivered
 * to a callback, collected, or written as trace-cmd text or a Perfetto-readable JSON file.
 *
 *   import { trace } from "vnetlab";
 *   trace("probe-under-pressure", { driver: "v3.2", events: ["virtio_net", "workqueue"], from: "2s", to: "3s",
 *     onRecord: (r) => console.log(formatTraceLine(r)) });
 */
import { TextTraceWriter, PerfettoTraceWriter } from "../report/trace-format.ts";
import { parseDuration } from "../scenario/units.ts";
import { selectTracepoints, type TraceRecord, type TraceSink } from "../sim/trace.ts";
import type { Scenario } from "../scenario/schema.ts";
import { type ScenarioSource, resolveScenario, type RunOptions, runScenario } from "./run.ts";
import type { RunSummary } from "./types.ts";

/** What `vnetlab trace` records when no -e is given: the receive path's story, not every page. */
export const DEFAULT_TRACE_EVENTS: readonly string[] = [
  "irq",
  "napi",
  "workqueue",
  "timer",
  "vmscan",
  "oom",
  "sched",
  "virtio_net",
  "vhost",
  "tun",
  "tcp:tcp_retransmit_skb",
];

export interface TraceOptions extends Omit<RunOptions, "trace"> {
  /** trace-cmd style selectors: "napi", "kmem:mm_page_alloc", "vmscan:*", "all". */
  events?: readonly string[];
  /** Window of simulated time to record ("2s" or ns). The run stops at `to`. */
  from?: string | number;
  to?: string | number;
  /** Counter-track sampling interval (default 1 ms; 0 for none). */
  counterInterval?: string | number;
  onRecord?: (r: TraceRecord) => void;
  onCounter?: (ts: number, name: string, value: number) => void;
}

const toNs = (v: string | number | undefined, dflt: number) =>
  v === undefined ? dflt : typeof v === "number" ? v : parseDuration(v);

/** Runs `source` with tracing; records go to the callbacks. The run ends at `to` when given. */
export function trace(source: ScenarioSource, o: TraceOptions): RunSummary {
  const p = prepare(source, o);
  return runTraced(p, o, {
    event: (r) => o.onRecord?.(r),
    ...(o.onCounter !== undefined && { counter: o.onCounter }),
  });
}

/** The records of a traced run, in order. */
export function traceRecords(source: ScenarioSource, o: Omit<TraceOptions, "onRecord">): TraceRecord[] {
  const out: TraceRecord[] = [];
  trace(source, { ...o, onRecord: (r) => out.push(r) });
  return out;
}

export type TraceFormat = "text" | "perfetto";

/** A traced run rendered as trace-cmd text or Perfetto JSON. */
export function traceToString(
  source: ScenarioSource,
  format: TraceFormat,
  o: Omit<TraceOptions, "onRecord" | "onCounter">,
): { text: string; records: number; summary: RunSummary } {
  const p = prepare(source, o);
  if (format === "text") {
    const w = new TextTraceWriter(p.scenario.guest.vcpus);
    const summary = runTraced(p, { ...o, counterInterval: 0 }, w);
    return { text: w.text(), records: w.count, summary };
  }
  const w = new PerfettoTraceWriter();
  const summary = runTraced(p, o, w);
  return { text: w.json(), records: w.count, summary };
}

export class TraceWindowError extends Error {
  override name = "UsageError";
}

interface Prepared {
  scenario: Scenario;
  tps: number[];
  from: number;
  to: number;
}

/** Validates the selectors and the window, and resolves the scenario, ended at `to`. */
function prepare(source: ScenarioSource, o: TraceOptions): Prepared {
  const tps = selectTracepoints(o.events ?? DEFAULT_TRACE_EVENTS);
  const base = resolveScenario(source, o);
  const from = toNs(o.from, 0);
  const to = toNs(o.to, base.duration);
  if (!(from >= 0 && to > from))
    throw new TraceWindowError(`trace window: --from (${from} ns) must be ≥ 0 and below --to (${to} ns)`);
  if (to > base.duration)
    throw new TraceWindowError(
      `trace window: --to (${to} ns) is beyond the scenario's duration (${base.duration} ns)`,
    );
  if (to === base.duration) return { scenario: base, tps, from, to };
  // Nothing after the window is needed: the run ends at `to` (the same events up to there); the
  // warm-up only shapes summaries and must stay below the duration.
  const warmup = Math.min(base.warmup, to - 1);
  const set = [...(o.set ?? []), `duration=${to}ns`, `warmup=${warmup}ns`];
  return { scenario: resolveScenario(source, { ...o, set }), tps, from, to };
}

function runTraced(p: Prepared, o: TraceOptions, sink: TraceSink): RunSummary {
  const counterIntervalNs = toNs(o.counterInterval, 1_000_000);
  return runScenario(p.scenario, {
    ...o,
    trace: { tps: p.tps, sink, from: p.from, to: p.to, counterIntervalNs },
  });
}
