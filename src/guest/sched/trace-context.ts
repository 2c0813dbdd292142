/**
 * The guest's half of tracing: which vCPU, task and context a tracepoint fires in. As ftrace does,
 * hardirq and softirq records name the task they interrupted (`<idle>-0` on an idle vCPU); pids are
 * the model's thread ids plus one, so pid 0 stays the idle task. Timestamps: see the offset below.
 */
import {
  CTX_TRACE_HARDIRQ,
  CTX_TRACE_PROCESS,
  CTX_TRACE_SOFTIRQ,
  type TraceContext,
} from "../../sim/trace.ts";
import { CTX_HARDIRQ, CTX_SOFTIRQ, type Kernel, traceComm, tracePid } from "./kernel.ts";

export function installTraceContext(k: Kernel): void {
  k.sim.trace.context = (out: TraceContext) => {
    const t = k.current ?? k.cpuNow.current;
    out.cpu = k.cpuNow.index;
    out.task = traceComm(t);
    out.pid = tracePid(t);
    out.ctx =
      k.ctx === CTX_HARDIRQ
        ? CTX_TRACE_HARDIRQ
        : k.ctx === CTX_SOFTIRQ
          ? CTX_TRACE_SOFTIRQ
          : CTX_TRACE_PROCESS;
    // The context's work starts once the vCPU's queued irq/softirq work is done (interruptContext
    // and doSoftirq place it at max(now, busyUntil)), and has reached what it has charged so far.
    out.offset = Math.max(0, k.cpuNow.busyUntil - k.now) + k.pendingCharge();
  };
}
