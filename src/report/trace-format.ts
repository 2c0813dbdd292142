/**
 * Trace output formats: trace-cmd report's text layout, and Chrome's Trace Event Format (JSON), which
 * ui.perfetto.dev opens. Both are TraceSinks fed by a traced run (src/run/trace.ts).
 *
 * Perfetto tracks: one process per vCPU whose threads are its hardirq and softirq contexts and each
 * kernel or application thread (kworker, kswapd, readers, hogs); the host (vhost, tun, the remote
 * senders) is a process of its own; counters (free pages with the watermarks, vi->num, the tap queue,
 * cwnd per flow) are counter tracks. Slices come from tracepoint pairs: irq_handler_entry/exit,
 * softirq_entry/exit, workqueue_execute_start/end, try_fill_recv_begin/end, direct reclaim
 * begin/end; sched_switch draws when each thread is on its vCPU (on a track of its own, so the
 * running state never has to nest with the function slices); every other tracepoint is an instant.
 */
import {
  CTX_TRACE_HARDIRQ,
  CTX_TRACE_HOST,
  CTX_TRACE_SOFTIRQ,
  TP_IRQ_HANDLER_ENTRY,
  TP_IRQ_HANDLER_EXIT,
  TP_MM_VMSCAN_DIRECT_RECLAIM_BEGIN,
  TP_MM_VMSCAN_DIRECT_RECLAIM_END,
  TP_SCHED_SWITCH,
  TP_SOFTIRQ_ENTRY,
  TP_SOFTIRQ_EXIT,
  TP_TRY_FILL_RECV_BEGIN,
  TP_TRY_FILL_RECV_END,
  TP_WORKQUEUE_EXECUTE_END,
  TP_WORKQUEUE_EXECUTE_START,
  TRACEPOINTS,
  type TraceRecord,
  type TraceSink,
} from "../sim/trace.ts";

// ---- trace-cmd report ------------------------------------------------------------------------

/** One record as `trace-cmd report -t` prints it: comm-pid, [cpu], seconds (ns digits), event: fields. */
export function formatTraceLine(r: TraceRecord): string {
  const ev = TRACEPOINTS[r.tp]?.[1] ?? `#${r.tp}`;
  const cpu = r.cpu < 0 ? "---" : String(r.cpu).padStart(3, "0");
  const secs = Math.floor(r.ts / 1e9);
  const ns = String(r.ts - secs * 1e9).padStart(9, "0");
  return `${r.task.padStart(16)}-${String(r.pid).padEnd(5)} [${cpu}] ${`${secs}.${ns}`.padStart(14)}: ${`${ev}:`.padEnd(21)} ${r.fields}`;
}

/**
 * Collects records for trace-cmd report's layout; `text()` adds its header. Records are sorted by
 * timestamp (stably), as trace-cmd merges its per-CPU buffers: a guest context's records carry the
 * CPU time it has charged so far, so they can lie after a host record emitted later in the run.
 */
export class TextTraceWriter implements TraceSink {
  private readonly records: TraceRecord[] = [];
  constructor(private readonly vcpus: number) {}
  event(r: TraceRecord): void {
    this.records.push(r);
  }
  get count(): number {
    return this.records.length;
  }
  text(): string {
    const sorted = this.records.map((r, i) => ({ r, i })).sort((a, b) => a.r.ts - b.r.ts || a.i - b.i);
    return `cpus=${this.vcpus}\n${sorted.map((x) => `${formatTraceLine(x.r)}\n`).join("")}`;
  }
}

// ---- Chrome Trace Event Format -----------------------------------------------------------------

/** One entry of traceEvents (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU). */
export interface ChromeTraceEvent {
  name: string;
  ph: string;
  ts?: number;
  pid: number;
  tid?: number;
  s?: string;
  cat?: string;
  args?: Record<string, unknown>;
}

const PID_HOST = 1;
const PID_COUNTERS = 2;
/** vCPU i is process 100 + i; its hardirq and softirq contexts are threads 1 and 2 of it. */
const vcpuPid = (cpu: number) => 100 + cpu;
const TID_HARDIRQ = 1;
const TID_SOFTIRQ = 2;
/** A guest thread with pid p: function slices on tid 1000 + p, its time on the CPU on 500000 + p. */
const threadTid = (pid: number) => 1000 + pid;
const runningTid = (pid: number) => 500_000 + pid;

/** Slice begin/end pairs, by tracepoint. */
const SLICE_BEGIN = new Map<number, string>([
  [TP_IRQ_HANDLER_ENTRY, "irq_handler"],
  [TP_SOFTIRQ_ENTRY, "softirq"],
  [TP_WORKQUEUE_EXECUTE_START, "work"],
  [TP_TRY_FILL_RECV_BEGIN, "try_fill_recv"],
  [TP_MM_VMSCAN_DIRECT_RECLAIM_BEGIN, "direct_reclaim"],
]);
const SLICE_END = new Set([
  TP_IRQ_HANDLER_EXIT,
  TP_SOFTIRQ_EXIT,
  TP_WORKQUEUE_EXECUTE_END,
  TP_TRY_FILL_RECV_END,
  TP_MM_VMSCAN_DIRECT_RECLAIM_END,
]);

const us = (ns: number) => ns / 1000;

export class PerfettoTraceWriter implements TraceSink {
  private readonly events: ChromeTraceEvent[] = [];
  private readonly named = new Set<string>();
  /** Open B slices per "pid/tid", so the end of the trace can close them. */
  private readonly open = new Map<string, { pid: number; tid: number; depth: number }>();
  private lastTs = 0;
  /** Tracepoint records received. */
  count = 0;

  event(r: TraceRecord): void {
    this.count++;
    this.lastTs = Math.max(this.lastTs, r.ts);
    const [sys, ev] = TRACEPOINTS[r.tp] ?? ["?", `#${r.tp}`];
    const { pid, tid } = this.track(r);
    if (r.tp === TP_SCHED_SWITCH) {
      this.schedSwitch(r);
      return;
    }
    const begin = SLICE_BEGIN.get(r.tp);
    if (begin !== undefined) {
      this.push({
        name: sliceName(begin, r.fields),
        ph: "B",
        ts: us(r.ts),
        pid,
        tid,
        cat: sys,
        args: { fields: r.fields },
      });
      this.depth(pid, tid, +1);
      return;
    }
    if (SLICE_END.has(r.tp)) {
      // An end without its begin (the trace window started inside the slice) is left out.
      if (this.depth(pid, tid, 0) > 0) {
        this.push({ name: "", ph: "E", ts: us(r.ts), pid, tid, args: { fields: r.fields } });
        this.depth(pid, tid, -1);
      }
      return;
    }
    this.push({ name: ev, ph: "i", s: "t", ts: us(r.ts), pid, tid, cat: sys, args: { fields: r.fields } });
  }

  counter(ts: number, name: string, value: number): void {
    this.lastTs = Math.max(this.lastTs, ts);
    this.meta(PID_COUNTERS, undefined, "counters");
    this.push({ name, ph: "C", ts: us(ts), pid: PID_COUNTERS, args: { value } });
  }

  /** The whole trace as JSON, every open slice closed at the last timestamp. */
  json(): string {
    const closing: ChromeTraceEvent[] = [];
    for (const o of this.open.values()) {
      for (let i = 0; i < o.depth; i++)
        closing.push({ name: "", ph: "E", ts: us(this.lastTs), pid: o.pid, tid: o.tid });
    }
    return JSON.stringify({ traceEvents: [...this.events, ...closing], displayTimeUnit: "ns" });
  }

  private track(r: TraceRecord): { pid: number; tid: number } {
    if (r.ctx === CTX_TRACE_HOST) {
      this.meta(PID_HOST, undefined, "host (vhost, tun, remote senders)");
      this.meta(PID_HOST, r.pid, r.task);
      return { pid: PID_HOST, tid: r.pid };
    }
    const pid = vcpuPid(r.cpu);
    this.meta(pid, undefined, `guest vCPU ${r.cpu}`);
    if (r.ctx === CTX_TRACE_HARDIRQ) {
      this.meta(pid, TID_HARDIRQ, `hardirq/${r.cpu}`);
      return { pid, tid: TID_HARDIRQ };
    }
    if (r.ctx === CTX_TRACE_SOFTIRQ) {
      this.meta(pid, TID_SOFTIRQ, `softirq/${r.cpu}`);
      return { pid, tid: TID_SOFTIRQ };
    }
    const tid = threadTid(r.pid);
    this.meta(pid, tid, `${r.task}-${r.pid}`);
    return { pid, tid };
  }

  /** sched_switch: the previous task's running slice ends, the next one's begins. */
  private schedSwitch(r: TraceRecord): void {
    const pid = vcpuPid(r.cpu);
    const prev = /prev_pid=(\d+)/.exec(r.fields);
    const next = /next_comm=(\S+) next_pid=(\d+)/.exec(r.fields);
    if (prev !== null && Number(prev[1]) !== 0) {
      const tid = runningTid(Number(prev[1]));
      if (this.depth(pid, tid, 0) > 0) {
        this.push({ name: "", ph: "E", ts: us(r.ts), pid, tid });
        this.depth(pid, tid, -1);
      }
    }
    if (next !== null && Number(next[2]) !== 0) {
      const tid = runningTid(Number(next[2]));
      this.meta(pid, tid, `${next[1]}-${next[2]} (on CPU)`);
      this.push({ name: "running", ph: "B", ts: us(r.ts), pid, tid, cat: "sched" });
      this.depth(pid, tid, +1);
    }
  }

  private depth(pid: number, tid: number, delta: number): number {
    const key = `${pid}/${tid}`;
    let o = this.open.get(key);
    if (o === undefined) {
      o = { pid, tid, depth: 0 };
      this.open.set(key, o);
    }
    o.depth += delta;
    return o.depth;
  }

  private meta(pid: number, tid: number | undefined, name: string): void {
    const key = `${pid}/${tid ?? "p"}`;
    if (this.named.has(key)) return;
    this.named.add(key);
    if (tid === undefined) this.events.push({ name: "process_name", ph: "M", pid, args: { name } });
    else this.events.push({ name: "thread_name", ph: "M", pid, tid, args: { name } });
  }

  private push(e: ChromeTraceEvent): void {
    this.events.push(e);
  }
}

/** "try_fill_recv(GFP_ATOMIC)", "work refill_work", … from the begin record's fields. */
function sliceName(base: string, fields: string): string {
  if (base === "try_fill_recv") return `try_fill_recv(${/gfp_flags=(\S+)/.exec(fields)?.[1] ?? "?"})`;
  if (base === "work") return /function (\S+)/.exec(fields)?.[1] ?? "work";
  if (base === "softirq") return `softirq ${/action=(\S+)/.exec(fields)?.[1] ?? ""}`.trim();
  return base;
}

const PHASES = new Set(["B", "E", "X", "i", "I", "C", "M"]);

/**
 * Checks a document against the Trace Event Format's rules for the phases we write: the JSON Object
 * Format with a traceEvents array; every event a string ph of a known phase, integer pid (and tid for
 * thread events), a numeric ts ≥ 0 (µs) except metadata; B/E properly nested per thread with
 * non-decreasing timestamps; instants with scope g/p/t; counters with numeric args; metadata
 * process_name/thread_name with args.name. Returns the problems found (none: valid).
 */
export function checkChromeTrace(doc: unknown): string[] {
  const problems: string[] = [];
  if (
    typeof doc !== "object" ||
    doc === null ||
    !Array.isArray((doc as { traceEvents?: unknown }).traceEvents)
  ) {
    return ["not a JSON Object Format trace: no traceEvents array"];
  }
  const unit = (doc as { displayTimeUnit?: unknown }).displayTimeUnit;
  if (unit !== undefined && unit !== "ms" && unit !== "ns") problems.push(`displayTimeUnit ${String(unit)}`);
  const stacks = new Map<string, number[]>();
  (doc as { traceEvents: unknown[] }).traceEvents.forEach((raw, i) => {
    const e = raw as Partial<ChromeTraceEvent>;
    const where = `traceEvents[${i}]`;
    if (typeof e.ph !== "string" || !PHASES.has(e.ph)) {
      problems.push(`${where}: ph ${JSON.stringify(e.ph)}`);
      return;
    }
    if (!Number.isInteger(e.pid)) problems.push(`${where}: pid ${JSON.stringify(e.pid)}`);
    if (e.ph === "M") {
      if (e.name !== "process_name" && e.name !== "thread_name")
        problems.push(`${where}: metadata ${e.name}`);
      if (e.name === "thread_name" && !Number.isInteger(e.tid))
        problems.push(`${where}: thread_name without tid`);
      if (typeof (e.args as { name?: unknown } | undefined)?.name !== "string")
        problems.push(`${where}: no args.name`);
      return;
    }
    if (typeof e.name !== "string") problems.push(`${where}: name`);
    if (typeof e.ts !== "number" || !Number.isFinite(e.ts) || e.ts < 0) problems.push(`${where}: ts ${e.ts}`);
    if (e.ph !== "C" && !Number.isInteger(e.tid)) problems.push(`${where}: tid ${JSON.stringify(e.tid)}`);
    if (e.ph === "i" || e.ph === "I") {
      if (e.s !== undefined && e.s !== "g" && e.s !== "p" && e.s !== "t")
        problems.push(`${where}: scope ${e.s}`);
    }
    if (e.ph === "C") {
      const vals = Object.values(e.args ?? {});
      if (vals.length === 0 || vals.some((v) => typeof v !== "number" || !Number.isFinite(v)))
        problems.push(`${where}: counter args must be numbers`);
    }
    if (e.ph === "B" || e.ph === "E") {
      const key = `${e.pid}/${e.tid}`;
      const st = stacks.get(key) ?? [];
      stacks.set(key, st);
      const top = st[st.length - 1];
      if (top !== undefined && (e.ts ?? 0) < top) problems.push(`${where}: ts goes backwards on ${key}`);
      if (e.ph === "B") st.push(e.ts ?? 0);
      else if (st.pop() === undefined) problems.push(`${where}: E without B on ${key}`);
    }
  });
  for (const [key, st] of stacks) if (st.length > 0) problems.push(`${st.length} unclosed B on ${key}`);
  return problems;
}
