/**
 * Workqueues (kernel/workqueue.c, v3.2) reduced to what virtio_net needs: one kworker per CPU
 * draining that CPU's worklist (system_wq is per-CPU and, in v3.2, not non-reentrant), and
 * delayed work whose queueing is a no-op while the work is pending (WORK_STRUCT_PENDING_BIT).
 */
import {
  TP_TIMER_EXPIRE_ENTRY,
  TP_TIMER_START,
  TP_WORKQUEUE_ACTIVATE_WORK,
  TP_WORKQUEUE_EXECUTE_END,
  TP_WORKQUEUE_EXECUTE_START,
  TP_WORKQUEUE_QUEUE_WORK,
} from "../../sim/trace.ts";
import { CAT_SCHED } from "./costs.ts";
import { listDel } from "./list.ts";
import type { Cpu, Kernel, KernelCode, KThread, WaitQueue } from "./kernel.ts";
import { WaitQueue as WQ } from "./kernel.ts";

/**
 * apply_slack (kernel/timer.c, v3.2), which add_timer → mod_timer applies to a timer with the default
 * slack of -1 (init_timer): a timer 256 jiffies or more away may expire up to delay/256 jiffies late,
 * at the value in (expires, expires + delay/256] with the most trailing zero bits. At HZ=1000 this
 * turns schedule_delayed_work(HZ/2) into 501 jiffies; below 256 jiffies (HZ 100, 250) it is exact.
 * Jiffies stay below 2^31 for any run shorter than 24 days at HZ=1000, so 32-bit bit logic is exact.
 */
export function applySlack(expires: number, nowJiffies: number): number {
  const delta = expires - nowJiffies;
  if (delta < 256) return expires;
  const limit = expires + Math.floor(delta / 256);
  const mask = expires ^ limit;
  if (mask === 0) return expires;
  const bit = 31 - Math.clz32(mask);
  return limit & ~((1 << bit) - 1);
}

export class DelayedWork {
  /** WORK_STRUCT_PENDING: queued or timer armed. Cleared when the work starts to run. */
  pending = false;
  running = 0;
  timer = -1;
  /** Counters: times it started running, and when it last did. */
  runs = 0;
  lastRun = -1;
  queuedNoop = 0;
  constructor(
    readonly name: string,
    readonly fn: () => KernelCode,
  ) {}
}

interface Pool {
  cpu: Cpu;
  list: DelayedWork[];
  wait: WaitQueue;
  worker: KThread;
}

export class Workqueues {
  private readonly pools: Pool[];
  private readonly evTimer: number;
  private readonly works: DelayedWork[] = [];
  private readonly timerCpu: number[] = [];

  constructor(private readonly k: Kernel) {
    this.pools = k.cpus.map((cpu) => {
      const wait = new WQ(`kworker/${cpu.index}`);
      const pool: Pool = { cpu, list: [], wait, worker: undefined as unknown as KThread };
      pool.worker = k.spawn(`kworker/${cpu.index}:0`, cpu.index, () => this.workerThread(pool));
      pool.worker.pfWqWorker = true;
      return pool;
    });
    this.evTimer = k.sim.register("workqueue.delayed_work_timer_fn", (w) => {
      const work = this.works[w]!;
      work.timer = -1;
      const tr = k.sim.trace;
      if (tr.on[TP_TIMER_EXPIRE_ENTRY] !== 0) this.traceTimerExpire(w);
      this.insert(work, this.timerCpu[w]!);
    });
  }

  /** INIT_DELAYED_WORK. */
  init(name: string, fn: () => KernelCode): DelayedWork {
    const w = new DelayedWork(name, fn);
    this.works.push(w);
    this.timerCpu.push(0);
    return w;
  }

  /**
   * schedule_delayed_work(dwork, delay) → queue_delayed_work(system_wq, …): returns false and does
   * nothing when the work is already pending (its timer is not brought forward); with delay 0 it
   * queues at once, otherwise a timer fires `delay` jiffies later on the calling CPU.
   */
  scheduleDelayedWork(w: DelayedWork, delayJiffies: number): boolean {
    if (w.pending) {
      w.queuedNoop++;
      return false;
    }
    w.pending = true;
    const cpu = this.k.cpuNow.index;
    if (delayJiffies === 0) {
      this.insert(w, cpu);
    } else {
      const idx = this.works.indexOf(w);
      this.timerCpu[idx] = cpu;
      // Fix (sched tests): queue_delayed_work_on arms the timer with add_timer, which applies
      // the timer slack (applySlack); the model used the bare expiry.
      const j = this.k.jiffies;
      const now = j.at(this.k.now);
      const expires = applySlack(now + delayJiffies, now);
      w.timer = this.k.sim.at(j.toNs(expires), this.evTimer, idx, 0);
      const tr = this.k.sim.trace;
      // include/trace/events/timer.h (v3.2): "timer=%p function=%pf expires=%lu [timeout=%ld]".
      if (tr.on[TP_TIMER_START] !== 0)
        tr.emit(
          TP_TIMER_START,
          `timer=${workStruct(idx)}.timer function=delayed_work_timer_fn expires=${expires} [timeout=${expires - now}]`,
        );
    }
    return true;
  }

  /**
   * mod_delayed_work(system_wq, dwork, delay) (include/linux/workqueue.h, kernel/workqueue.c, 3.7+):
   * try_to_grab_pending takes the work back from its timer or its worklist, then it is queued with
   * the new delay, so a pending work is brought forward or pushed back; an idle one is queued.
   * Returns whether it was pending. A running instance is not waited for (it may run again).
   */
  modDelayedWork(w: DelayedWork, delayJiffies: number): boolean {
    const was = this.grabPending(w);
    this.scheduleDelayedWork(w, delayJiffies);
    return was;
  }

  /**
   * cancel_delayed_work (kernel/workqueue.c, 3.7+: try_to_grab_pending, usable from softirq): a
   * pending work is taken back from its timer or its worklist; a running one is not waited for.
   * Returns whether it was pending.
   */
  cancelDelayedWork(w: DelayedWork): boolean {
    return this.grabPending(w);
  }

  private grabPending(w: DelayedWork): boolean {
    if (!w.pending) return false;
    if (w.timer >= 0) {
      this.k.sim.cancel(w.timer);
      w.timer = -1;
    } else {
      for (const pool of this.pools) listDel(pool.list, w);
    }
    w.pending = false;
    return true;
  }

  /**
   * __queue_work (kernel/workqueue.c, v3.2): workqueue_queue_work, then, system_wq's max_active
   * never being reached here, workqueue_activate_work as the work goes on the worklist.
   */
  private insert(w: DelayedWork, cpu: number): void {
    const pool = this.pools[cpu]!;
    const tr = this.k.sim.trace;
    if (tr.on[TP_WORKQUEUE_QUEUE_WORK] !== 0 || tr.on[TP_WORKQUEUE_ACTIVATE_WORK] !== 0)
      this.traceQueueWork(w, cpu);
    pool.list.push(w);
    this.k.wakeAll(pool.wait);
  }

  private traceQueueWork(w: DelayedWork, cpu: number): void {
    const tr = this.k.sim.trace;
    const ws = workStruct(this.works.indexOf(w));
    // include/trace/events/workqueue.h (v3.2): "work struct=%p function=%pf workqueue=%p req_cpu=%u
    // cpu=%u"; system_wq is the "events" workqueue. The timer's cpu is the one that queued it.
    if (tr.on[TP_WORKQUEUE_QUEUE_WORK] !== 0)
      tr.emit(
        TP_WORKQUEUE_QUEUE_WORK,
        `work struct=${ws} function=${w.name} workqueue=events req_cpu=${cpu} cpu=${cpu}`,
      );
    // workqueue_work class: "work struct %p".
    if (tr.on[TP_WORKQUEUE_ACTIVATE_WORK] !== 0) tr.emit(TP_WORKQUEUE_ACTIVATE_WORK, `work struct ${ws}`);
  }

  /**
   * delayed_work_timer_fn runs from run_timer_softirq on the CPU that armed the timer: its record
   * names that vCPU and the task it interrupted (the model runs it as a plain event).
   */
  private traceTimerExpire(idx: number): void {
    const k = this.k;
    // include/trace/events/timer.h (v3.2): "timer=%p function=%pf now=%lu".
    k.traceTimerSoftirq(
      k.cpus[this.timerCpu[idx]!]!,
      TP_TIMER_EXPIRE_ENTRY,
      `timer=${workStruct(idx)}.timer function=delayed_work_timer_fn now=${k.jiffies.at(k.now)}`,
    );
  }

  private *workerThread(pool: Pool): KernelCode {
    const k = this.k;
    for (;;) {
      const w = pool.list.shift();
      if (w === undefined) {
        yield k.waitOn(pool.wait);
        continue;
      }
      // process_one_work: work_clear_pending before calling the function.
      w.pending = false;
      w.running++;
      w.runs++;
      w.lastRun = k.now;
      const tr = k.sim.trace;
      // process_one_work (kernel/workqueue.c, v3.2); include/trace/events/workqueue.h:
      // execute_start "work struct %p: function %pf", execute_end "work struct %p".
      if (tr.on[TP_WORKQUEUE_EXECUTE_START] !== 0)
        tr.emit(
          TP_WORKQUEUE_EXECUTE_START,
          `work struct ${workStruct(this.works.indexOf(w))}: function ${w.name}`,
        );
      yield* w.fn();
      if (tr.on[TP_WORKQUEUE_EXECUTE_END] !== 0)
        tr.emit(TP_WORKQUEUE_EXECUTE_END, `work struct ${workStruct(this.works.indexOf(w))}`);
      w.running--;
      // process_one_work's own cost, then its cond_resched() after every item (kernel/workqueue.c,
      // v3.2: "prevents a kworker from hogging CPU on !PREEMPT kernels"): paying it ends a segment,
      // the thread's preemption point, so a work item that re-queues itself burns CPU as time passes
      // and CFS shares the vCPU, instead of re-running at one instant.
      yield k.cpu(k.costs.processOneWork, CAT_SCHED);
    }
  }
}

/** A work item's stand-in for its struct work_struct address in trace records (%p). */
function workStruct(idx: number): string {
  return `work${idx}`;
}
