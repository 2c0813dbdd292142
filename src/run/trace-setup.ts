/**
 * Starting a trace inside a run: enable the tracepoints, and sample the counter tracks (free pages
 * against the watermarks, vi->num, the tap queue, cwnd of the first flows) at a fixed interval with
 * an observer event, which executes but leaves the run's fingerprint as it is.
 */
import type { Ns } from "../sim/time.ts";
import type { TraceSink } from "../sim/trace.ts";
import type { System } from "./system.ts";

export interface TraceSetup {
  /** Tracepoint ids (selectTracepoints). */
  tps: readonly number[];
  sink: TraceSink;
  from: Ns;
  to: Ns;
  /** Counter sampling interval; 0 or a sink without counter() samples none. */
  counterIntervalNs: Ns;
}

/** Flows whose cwnd gets a counter track (each is a track in Perfetto; thousands would drown it). */
export const TRACE_CWND_FLOWS = 16;

export function startTrace(sys: System, t: TraceSetup): void {
  const sim = sys.sim;
  const tr = sim.trace;
  tr.start(t.tps, t.sink, t.from, t.to);
  if (t.counterIntervalNs <= 0 || t.sink.counter === undefined) return;
  const w = sys.mm.wmark;
  // The GFP_ATOMIC floor: __zone_watermark_ok with ALLOC_HIGH | ALLOC_HARDER (min − min/2, then − 1/4).
  const half = w.min - Math.floor(w.min / 2);
  const floor = half - Math.floor(half / 4);
  const flows = sys.senders.slice(0, TRACE_CWND_FLOWS);
  const ev = sim.register(
    "trace.counters",
    () => {
      tr.counter("free pages", sys.mm.nrFree);
      tr.counter("WMARK_HIGH", w.high);
      tr.counter("WMARK_LOW", w.low);
      tr.counter("WMARK_MIN", w.min);
      tr.counter("GFP_ATOMIC floor", floor);
      tr.counter("vi->num", sys.driver.num);
      tr.counter("tap queue", sys.host.tap.queued);
      tr.counter("qdisc queue", sys.host.tap.qdiscQueued);
      flows.forEach((s, i) => tr.counter(`cwnd flow ${i}`, s.cwnd));
      if (sim.now + t.counterIntervalNs <= t.to) sim.after(t.counterIntervalNs, ev);
    },
    { observer: true },
  );
  sim.at(Math.max(t.from, 0), ev);
}
