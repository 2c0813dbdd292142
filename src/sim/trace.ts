/**
 * Tracepoints named like the kernel's (include/trace/events/{irq,napi,net,skb,workqueue,timer,kmem,
 * vmscan,oom,sched,tcp}.h), plus ours under virtio_net:, vhost: and tun: for what the kernel does not
 * trace. Off by default: a call site costs one typed-array load and a branch,
 *
 *   if (tr.on[TP_NAPI_POLL] !== 0) tr.emit(TP_NAPI_POLL, `napi poll on napi struct … work ${w} budget ${b}`);
 *
 * and the field text is only built when the tracepoint is enabled. Records carry the executing
 * context (vCPU, task, hardirq/softirq/process) from a provider the guest kernel installs, and a
 * timestamp of now plus the irq/softirq work already queued on the vCPU plus the CPU time the
 * context has charged so far: a softirq pass runs at one
 * simulated instant and pays for its work afterwards, so what it does inside appears spread over the
 * time it really takes. Tracing never schedules an event, so a traced run executes exactly the
 * events of an untraced one.
 */
import type { Ns } from "./time.ts";

export const TP_IRQ_HANDLER_ENTRY = 0;
export const TP_IRQ_HANDLER_EXIT = 1;
export const TP_SOFTIRQ_ENTRY = 2;
export const TP_SOFTIRQ_EXIT = 3;
export const TP_SOFTIRQ_RAISE = 4;
export const TP_NAPI_POLL = 5;
export const TP_NETIF_RECEIVE_SKB = 6;
export const TP_KFREE_SKB = 7;
export const TP_WORKQUEUE_QUEUE_WORK = 8;
export const TP_WORKQUEUE_ACTIVATE_WORK = 9;
export const TP_WORKQUEUE_EXECUTE_START = 10;
export const TP_WORKQUEUE_EXECUTE_END = 11;
export const TP_TIMER_START = 12;
export const TP_TIMER_EXPIRE_ENTRY = 13;
export const TP_MM_PAGE_ALLOC = 14;
export const TP_MM_PAGE_FREE = 15;
export const TP_KMALLOC = 16;
export const TP_KMEM_CACHE_ALLOC = 17;
export const TP_MM_VMSCAN_KSWAPD_WAKE = 18;
export const TP_MM_VMSCAN_KSWAPD_SLEEP = 19;
export const TP_MM_VMSCAN_DIRECT_RECLAIM_BEGIN = 20;
export const TP_MM_VMSCAN_DIRECT_RECLAIM_END = 21;
export const TP_MM_VMSCAN_WAKEUP_KSWAPD = 22;
export const TP_MARK_VICTIM = 23;
export const TP_SCHED_SWITCH = 24;
export const TP_SCHED_WAKEUP = 25;
export const TP_TCP_RETRANSMIT_SKB = 26;
export const TP_TCP_PROBE = 27;
export const TP_TRY_FILL_RECV_BEGIN = 28;
export const TP_TRY_FILL_RECV_END = 29;
export const TP_REFILL_WORK = 30;
export const TP_NAPI_DISABLE = 31;
export const TP_NAPI_ENABLE = 32;
export const TP_VHOST_NO_BUFFER = 33;
export const TP_VHOST_SIGNAL = 34;
export const TP_TUN_QUEUE_STOP = 35;
export const TP_TUN_DROP = 36;
export const TP_NET_DEV_XMIT = 37;

/** [subsystem, event] by tracepoint id. */
export const TRACEPOINTS: readonly (readonly [string, string])[] = [
  ["irq", "irq_handler_entry"],
  ["irq", "irq_handler_exit"],
  ["irq", "softirq_entry"],
  ["irq", "softirq_exit"],
  ["irq", "softirq_raise"],
  ["napi", "napi_poll"],
  ["net", "netif_receive_skb"],
  ["skb", "kfree_skb"],
  ["workqueue", "workqueue_queue_work"],
  ["workqueue", "workqueue_activate_work"],
  ["workqueue", "workqueue_execute_start"],
  ["workqueue", "workqueue_execute_end"],
  ["timer", "timer_start"],
  ["timer", "timer_expire_entry"],
  ["kmem", "mm_page_alloc"],
  ["kmem", "mm_page_free"],
  ["kmem", "kmalloc"],
  ["kmem", "kmem_cache_alloc"],
  ["vmscan", "mm_vmscan_kswapd_wake"],
  ["vmscan", "mm_vmscan_kswapd_sleep"],
  ["vmscan", "mm_vmscan_direct_reclaim_begin"],
  ["vmscan", "mm_vmscan_direct_reclaim_end"],
  ["vmscan", "mm_vmscan_wakeup_kswapd"],
  ["oom", "mark_victim"],
  ["sched", "sched_switch"],
  ["sched", "sched_wakeup"],
  ["tcp", "tcp_retransmit_skb"],
  ["tcp", "tcp_probe"],
  ["virtio_net", "try_fill_recv_begin"],
  ["virtio_net", "try_fill_recv_end"],
  ["virtio_net", "refill_work"],
  ["virtio_net", "napi_disable"],
  ["virtio_net", "napi_enable"],
  ["vhost", "vhost_no_buffer"],
  ["vhost", "vhost_signal"],
  ["tun", "tun_queue_stop"],
  ["tun", "tun_drop"],
  ["net", "net_dev_xmit"],
];

export const CTX_TRACE_PROCESS = 0;
export const CTX_TRACE_SOFTIRQ = 1;
export const CTX_TRACE_HARDIRQ = 2;
/** Host-side events (vhost, tun, remote senders): no guest CPU. */
export const CTX_TRACE_HOST = 3;

export interface TraceRecord {
  /** ns since the start of the run. */
  ts: Ns;
  /** vCPU, or -1 on the host. */
  cpu: number;
  /** The task running (comm) and its pid, as trace-cmd prints them. */
  task: string;
  pid: number;
  ctx: number;
  /** Tracepoint id (TRACEPOINTS index). */
  tp: number;
  fields: string;
}

/** What the context provider fills in for each record. */
export interface TraceContext {
  cpu: number;
  task: string;
  pid: number;
  ctx: number;
  /** CPU time the context has charged and not yet paid: added to now. */
  offset: Ns;
}

export interface TraceSink {
  event(r: TraceRecord): void;
  /** A sampled value (free pages, vi->num, …) for counter tracks. */
  counter?(ts: Ns, name: string, value: number): void;
}

export class TraceSelectorError extends Error {
  override name = "TraceSelectorError";
}

/** The subsystems that have tracepoints, in first-seen order. */
export const TRACE_SUBSYSTEMS: readonly string[] = [...new Set(TRACEPOINTS.map(([s]) => s))];

/**
 * Resolves trace-cmd style selectors (`-e napi`, `-e kmem:mm_page_alloc`, `-e 'vmscan:*'`, `-e all`)
 * to tracepoint ids; unknown names throw TraceSelectorError naming what exists.
 */
export function selectTracepoints(selectors: readonly string[]): number[] {
  const ids = new Set<number>();
  for (const sel of selectors) {
    if (sel === "all" || sel === "*" || sel === "*:*") {
      TRACEPOINTS.forEach((_, i) => ids.add(i));
      continue;
    }
    const [sys, ev] = sel.includes(":") ? sel.split(":", 2) : [sel, "*"];
    let matched = false;
    TRACEPOINTS.forEach(([s, e], i) => {
      if ((sys === s || sys === "*") && (ev === e || ev === "*")) {
        ids.add(i);
        matched = true;
      }
    });
    if (!matched) {
      const known = sys !== undefined && TRACE_SUBSYSTEMS.includes(sys);
      const allowed = known
        ? TRACEPOINTS.filter(([s]) => s === sys)
            .map(([s, e]) => `${s}:${e}`)
            .join(", ")
        : `${TRACE_SUBSYSTEMS.join(", ")} (or SUBSYS:EVENT, SUBSYS:*, all)`;
      throw new TraceSelectorError(`unknown trace event ${JSON.stringify(sel)}; allowed: ${allowed}`);
    }
  }
  return [...ids].sort((a, b) => a - b);
}

export function tracepointName(tp: number): string {
  const t = TRACEPOINTS[tp];
  return t === undefined ? `#${tp}` : `${t[0]}:${t[1]}`;
}

const HOST_CONTEXT: TraceContext = { cpu: -1, task: "host", pid: 0, ctx: CTX_TRACE_HOST, offset: 0 };

export class Tracer {
  /** Per tracepoint: non-zero when enabled. */
  readonly on = new Uint8Array(TRACEPOINTS.length);
  /** True when any tracepoint is enabled or counters are wanted (observers check this). */
  active = false;
  private from: Ns = 0;
  private to: Ns = Number.MAX_SAFE_INTEGER;
  private sink: TraceSink | null = null;
  private readonly buf: TraceContext = { cpu: 0, task: "<idle>", pid: 0, ctx: CTX_TRACE_PROCESS, offset: 0 };
  /** Fills in the executing guest context; installed by the guest kernel's owner (src/run/system.ts). */
  context: (out: TraceContext) => void = (out) => Object.assign(out, HOST_CONTEXT);

  constructor(private readonly clock: { readonly now: Ns }) {}

  /** Enables `tps` for records whose timestamp lies in [from, to], delivered to `sink`. */
  start(tps: readonly number[], sink: TraceSink, from: Ns = 0, to: Ns = Number.MAX_SAFE_INTEGER): void {
    this.on.fill(0);
    for (const tp of tps) this.on[tp] = 1;
    this.sink = sink;
    this.from = from;
    this.to = to;
    this.active = true;
  }

  /** Emits a record in the executing guest context (call only when `on[tp]` is set). */
  emit(tp: number, fields: string): void {
    const c = this.buf;
    this.context(c);
    this.deliver(tp, c, fields);
  }

  /** Emits a host-side record (vhost, tun, the remote TCP senders) for `task`. */
  emitHost(tp: number, task: string, pid: number, fields: string): void {
    const c = this.buf;
    Object.assign(c, HOST_CONTEXT);
    c.task = task;
    c.pid = pid;
    this.deliver(tp, c, fields);
  }

  /**
   * Emits a guest record for an explicit vCPU, task and context: the scheduler's records (they name
   * the task switched out, which no longer runs) and callbacks the model runs from a plain event.
   */
  emitOn(tp: number, cpu: number, task: string, pid: number, ctx: number, fields: string): void {
    const c = this.buf;
    c.cpu = cpu;
    c.task = task;
    c.pid = pid;
    c.ctx = ctx;
    c.offset = 0;
    this.deliver(tp, c, fields);
  }

  /** Records a sampled value for a counter track. */
  counter(name: string, value: number): void {
    const ts = this.clock.now;
    if (ts < this.from || ts > this.to) return;
    this.sink?.counter?.(ts, name, value);
  }

  private deliver(tp: number, c: TraceContext, fields: string): void {
    const ts = this.clock.now + c.offset;
    if (ts < this.from || ts > this.to || this.sink === null) return;
    this.sink.event({ ts, cpu: c.cpu, task: c.task, pid: c.pid, ctx: c.ctx, tp, fields });
  }
}
