/**
 * The guest kernel's execution model: vCPUs that run hardirq, softirq and process context with
 * strict priority, kernel and application threads scheduled by CFS (fair.ts), timers in jiffies and
 * the softirq machinery (kernel/softirq.c, kernel/sched.c of v3.2, reduced to what the receive path
 * needs).
 *
 * Process-context code is a generator: it runs instantaneously in simulated time between yields and
 * yields to pay for CPU time or to block:
 *
 *   function* refill_work() {
 *     k.charge(COST, CAT_DRIVER);          // accumulate CPU cost (never blocks)
 *     yield k.cpu();                       // pay what was charged: time passes, irqs may preempt
 *     yield k.sleepJiffies(2);             // msleep(1): schedule_timeout of 2 jiffies
 *   }
 *
 * Softirq and hardirq code are plain functions that charge cost; a softirq pass runs at one instant
 * and then keeps its vCPU busy for what it charged, pushing any process-context segment back.
 * Spinlocked sections are atomic in simulated time (the holder cannot yield inside them, which is
 * the kernel's own rule: no sleeping under a spinlock), so lock contention is never simulated; their
 * cost is paid at the next yield.
 */
import { ModelError, type Simulator } from "../../sim/simulator.ts";
import { Jiffies, type Ns } from "../../sim/time.ts";
import {
  CTX_TRACE_PROCESS,
  CTX_TRACE_SOFTIRQ,
  TP_IRQ_HANDLER_ENTRY,
  TP_IRQ_HANDLER_EXIT,
  TP_SCHED_SWITCH,
  TP_SCHED_WAKEUP,
  TP_SOFTIRQ_ENTRY,
  TP_SOFTIRQ_EXIT,
  TP_SOFTIRQ_RAISE,
  TP_TIMER_EXPIRE_ENTRY,
  TP_TIMER_START,
} from "../../sim/trace.ts";
import { CAT_COUNT, CAT_IRQ, CAT_SCHED } from "./costs.ts";
import { listClear, listDel } from "./list.ts";
import {
  CfsRq,
  type CfsTunables,
  cfsTunables,
  niceToWeight,
  type SchedEntity,
  calcDeltaFair,
} from "./fair.ts";

/** Values process-context generators yield. */
export const OP_CPU = 0;
export const OP_SLEEP = 1;
export const OP_WAIT = 2;
export type Op = typeof OP_CPU | typeof OP_SLEEP | typeof OP_WAIT;
export type KernelCode<T = void> = Generator<Op, T, void>;

/**
 * A KernelCode that has already returned `value` without yielding: what a sleeping call gives back
 * when its fast path succeeded, so that no generator is created for it (one per call would dominate
 * the allocations of process-context code). One instance is reused by its owner, call after call:
 * the caller must consume it at once (`yield*`, or a thread body's first next()), before the next
 * call of that owner overwrites the value.
 */
export class ReturnedCode<T> implements KernelCode<T> {
  readonly done = true;
  value!: T;

  /** This code, returning `value`. */
  of(value: T): this {
    this.value = value;
    return this;
  }
  next(): IteratorReturnResult<T> {
    return this;
  }
  return(value: T): IteratorReturnResult<T> {
    return { done: true, value };
  }
  throw(e: unknown): never {
    throw e;
  }
  [Symbol.iterator](): this {
    return this;
  }
}

export const CTX_PROCESS = 0;
export const CTX_SOFTIRQ = 1;
export const CTX_HARDIRQ = 2;

const TS_RUNNABLE = 0;
const TS_RUNNING = 1;
const TS_BLOCKED = 2;
const TS_DEAD = 3;
/** Internal op: the generator returned; exit after paying its last charges. */
const OP_EXIT = 3;

/** __do_softirq: MAX_SOFTIRQ_RESTART (kernel/softirq.c, v3.2). */
export const MAX_SOFTIRQ_RESTART = 10;

/**
 * The softirq vectors by number (include/linux/interrupt.h, v3.2: HI_SOFTIRQ = 0, TIMER_SOFTIRQ,
 * NET_TX_SOFTIRQ, NET_RX_SOFTIRQ, …), named as irq:softirq_* print them (show_softirq_name).
 */
export const SOFTIRQ_NAMES: readonly string[] = [
  "HI",
  "TIMER",
  "NET_TX",
  "NET_RX",
  "BLOCK",
  "BLOCK_IOPOLL",
  "TASKLET",
  "SCHED",
  "HRTIMER",
  "RCU",
];
/** TIMER_SOFTIRQ (include/linux/interrupt.h): run_timer_softirq, where timer callbacks run. */
export const TIMER_SOFTIRQ = 1;
/** interruptContext's irq argument for a timer callback: softirq context, no hardirq. */
const IRQ_TIMER_CALLBACK = -1;

/**
 * p->prio of a SCHED_NORMAL task, as sched tracepoints print it: NICE_TO_PRIO(nice) = MAX_RT_PRIO
 * + 20 + nice = 120 + nice (include/linux/sched.h, v3.2).
 */
export const nicePrio = (nice: number): number => 120 + nice;

/** Buckets of packets per __do_softirq: 0, 1, 2–3, 4–7, …, ≥ 1024 (netdev_budget × restarts ≤ 3000). */
export const SOFTIRQ_WORK_BUCKETS = 12;
export function softirqWorkBucket(work: number): number {
  return work <= 0 ? 0 : Math.min(SOFTIRQ_WORK_BUCKETS - 1, 32 - Math.clz32(work));
}

export interface SchedCosts {
  /** Hardirq entry + exit, including the VM's interrupt injection (ns). */
  irq: Ns;
  /** Entering __do_softirq once (ns). */
  softirqEntry: Ns;
  /** A context switch between threads (ns). */
  contextSwitch: Ns;
  /** A kworker's own work per item around the work function (process_one_work) (ns). */
  processOneWork: Ns;
}

export const DEFAULT_SCHED_COSTS: SchedCosts = {
  // Assumption: a virtual interrupt (injection, VM entry, handler, EOI exit) costs a few µs on
  // 2012 KVM hosts without posted interrupts.
  irq: 3_000,
  softirqEntry: 200,
  contextSwitch: 1_500,
  // Assumption: process_one_work (kernel/workqueue.c, v3.2) takes and drops gcwq->lock twice with
  // irqs off, hashes the work into busy_hash, moves it between lists and updates nr_in_flight: a few
  // hundred cache-hot instructions, about 1 µs on a 2012 vCPU.
  processOneWork: 1_000,
};

export class WaitQueue {
  readonly waiters: KThread[] = [];
  constructor(readonly name: string) {}
}

/** A softirq vector's handler: runs in softirq context on `cpu`. */
export type SoftirqHandler = (cpu: Cpu) => void;

export class KThread implements SchedEntity {
  state = TS_BLOCKED;
  gen: KernelCode | null = null;
  /** Pending op to run after the current segment (a sleep after paying charged cost). */
  deferredOp = -1;
  /** Argument of the last yielded op (sleep end, wait timeout). */
  opArg = 0;
  waitingOn: WaitQueue | null = null;
  /** True when woken from a wait by wake(), false when the timeout ended it. */
  wokenByEvent = false;
  timeoutHandle = -1;
  segEndHandle = -1;
  segEnd = 0;
  /** CFS (fair.ts): se->load.weight from the nice value, vruntime, exec time, TIF_NEED_RESCHED. */
  weight: number;
  vruntime = 0;
  sumExecRuntime = 0;
  prevSumExecRuntime = 0;
  /** When curr's exec time was last accounted (update_curr's exec_start). */
  execStart = 0;
  /** The last scheduler tick (jiffy) whose check_preempt_tick this thread has seen while running. */
  tickJiffy = 0;
  needResched = false;
  /** spinlocks held and local_bh_disable depth: any >0 means atomic. */
  locksHeld = 0;
  bhDisabled = 0;
  runtimeNs = 0;
  /** PF_WQ_WORKER: a workqueue's kworker (set by Workqueues; read by the 6.1 allocator's retry). */
  pfWqWorker = false;
  constructor(
    readonly id: number,
    readonly name: string,
    readonly cpu: Cpu,
    readonly body: () => KernelCode,
    readonly nice: number,
  ) {
    this.weight = niceToWeight(nice);
  }
}

export class Cpu {
  /** Thread whose segment is on the CPU (or was last picked). */
  current: KThread | null = null;
  /** The runnable threads but current, and min_vruntime. */
  readonly cfs: CfsRq<KThread>;
  /** Until when hardirq/softirq work keeps this CPU. */
  busyUntil = 0;
  softirqPending = 0;
  softirqEventArmed = false;
  dispatchArmed = false;
  tickArmed = false;
  restarts = 0;
  ksoftirqd: KThread | null = null;
  readonly ksoftirqdWait: WaitQueue;
  /** ns charged per category. */
  readonly busyNs = new Float64Array(CAT_COUNT);
  /** Counters named like /proc/softirqs, /proc/net/softnet_stat. */
  softirqRuns = 0;
  timeSqueeze = 0;
  irqs = 0;
  // ---- the host's view (src/host/pcpu.ts): this vCPU is a host thread that can lose its pCPU ----
  /** Until when the host has descheduled this vCPU; no guest code runs before then. */
  offUntil = 0;
  /** Start of the descheduled period in progress (or last). */
  offSince = 0;
  /** Interrupts that arrived while descheduled, injected in order when the vCPU runs again. */
  readonly deferredIrqs: (() => void)[] = [];
  /** Their irq numbers (IRQ_TIMER_CALLBACK for a timer callback). */
  readonly deferredIrq: number[] = [];
  irqInjectArmed = false;
  /** /proc/stat `steal`, in ns: time descheduled by the host (the vCPU counted as runnable). */
  stealNs = 0;
  descheduledPeriods = 0;
  /** Interrupts (and timer callbacks) that found the vCPU descheduled and waited for its return. */
  irqsDeferred = 0;
  longestDescheduledNs = 0;
  /** Packets the softirq handlers processed in the __do_softirq in progress (restarts included). */
  softirqWork = 0;
  /**
   * sched_switch tracing only: the thread switched out and not yet replaced (null: the idle task),
   * with its prev_state letter; written only while sched:sched_switch is enabled.
   */
  switchPrev: KThread | null = null;
  switchPrevState = "R";
  /** Completed __do_softirq runs, their packets in all, the largest, and log2 buckets (softirqWorkBucket). */
  softirqDone = 0;
  softirqWorkSum = 0;
  softirqWorkMax = 0;
  readonly softirqWorkHist = new Float64Array(SOFTIRQ_WORK_BUCKETS);
  constructor(
    readonly index: number,
    tunables: CfsTunables,
  ) {
    this.cfs = new CfsRq(tunables);
    this.ksoftirqdWait = new WaitQueue(`ksoftirqd/${index}`);
  }
}

export interface KernelOptions {
  vcpus: number;
  hz: number;
  costs?: Partial<SchedCosts>;
}

export class Kernel {
  readonly jiffies: Jiffies;
  readonly cpus: Cpu[];
  readonly costs: SchedCosts;
  private readonly threads: KThread[] = [];
  /** The execution context right now. */
  ctx = CTX_PROCESS;
  /** The CPU executing right now (hardirq/softirq/thread). */
  cpuNow: Cpu;
  /** The thread whose generator is executing, if any. */
  current: KThread | null = null;
  /** CPU cost charged by the code executing now, not yet paid. */
  private accum = 0;
  private readonly accumCat = new Float64Array(CAT_COUNT);
  private readonly savedCat = new Float64Array(CAT_COUNT);
  /** wakeAll's batches, one per nesting level of wake-ups running woken threads. */
  private readonly wakeBatches: KThread[][] = [];
  private wakeDepth = 0;
  private readonly softirqHandlers: (SoftirqHandler | null)[] = [null, null, null, null];
  /** request_irq names by irq number, for irq:irq_handler_entry. */
  private readonly irqNames: string[] = [];
  private readonly evSegEnd: number;
  private readonly evTimeout: number;
  private readonly evSoftirq: number;
  private readonly evTick: number;
  private readonly evDispatch: number;
  /** Registered on first use, so a guest never descheduled keeps its event numbering (fingerprint). */
  private evIrqInject = -1;

  constructor(
    readonly sim: Simulator,
    opts: KernelOptions,
  ) {
    if (!Number.isInteger(opts.vcpus) || opts.vcpus < 1)
      throw new ModelError(`vcpus must be ≥ 1, got ${opts.vcpus}`);
    this.jiffies = new Jiffies(opts.hz);
    this.costs = { ...DEFAULT_SCHED_COSTS, ...opts.costs };
    // The CFS tunables scale with the vCPU count (update_sysctl).
    const tunables = cfsTunables(opts.vcpus);
    this.cpus = Array.from({ length: opts.vcpus }, (_, i) => new Cpu(i, tunables));
    this.cpuNow = this.cpus[0]!;
    this.evSegEnd = sim.register("sched.segment_end", (id) => this.segmentEnd(this.threads[id]!));
    this.evTimeout = sim.register("sched.timeout", (id) => this.timeout(this.threads[id]!));
    this.evSoftirq = sim.register("sched.softirq", (c) => this.softirqEvent(this.cpus[c]!));
    this.evTick = sim.register("sched.tick", (c) => this.tick(this.cpus[c]!));
    this.evDispatch = sim.register("sched.dispatch", (c) => this.dispatch(this.cpus[c]!));
    for (const cpu of this.cpus) {
      cpu.ksoftirqd = this.spawn(`ksoftirqd/${cpu.index}`, cpu.index, () => this.ksoftirqd(cpu));
    }
  }

  get now(): Ns {
    return this.sim.now;
  }

  // ---- cost accounting -------------------------------------------------------------------

  /** Charges CPU time to the executing context; paid at the next yield or softirq end. */
  charge(ns: Ns, cat: number): void {
    this.accum += ns;
    this.accumCat[cat]! += ns;
  }

  /** CPU time charged by the executing context and not yet paid (its elapsed time so far). */
  pendingCharge(): Ns {
    return this.accum;
  }

  /** in_atomic(): hardirq, softirq, or process context holding a spinlock / bh disabled. */
  inAtomic(): boolean {
    if (this.ctx !== CTX_PROCESS) return true;
    const t = this.current;
    return t !== null && (t.locksHeld > 0 || t.bhDisabled > 0);
  }

  inInterrupt(): boolean {
    return this.ctx !== CTX_PROCESS || (this.current !== null && this.current.bhDisabled > 0);
  }

  private settle(cpu: Cpu): Ns {
    const c = this.accum;
    if (c === 0) return 0;
    for (let i = 0; i < CAT_COUNT; i++) {
      cpu.busyNs[i]! += this.accumCat[i]!;
      this.accumCat[i] = 0;
    }
    this.accum = 0;
    // Costs may be fractional (per-byte rates); time stays in integer ns.
    return Math.round(c);
  }

  // ---- ops for generators ------------------------------------------------------------------

  /** Pay the CPU time charged so far (plus `ns`). */
  cpu(ns: Ns = 0, cat = CAT_SCHED): Op {
    if (ns > 0) this.charge(ns, cat);
    return OP_CPU;
  }

  /** schedule_timeout(j): sleep until the timer wheel fires j jiffies from now. */
  sleepJiffies(j: number): Op {
    this.current!.opArg = j;
    return OP_SLEEP;
  }

  /** Sleep on a wait queue until woken, or for at most `timeoutJiffies` (-1: no timeout). */
  waitOn(wq: WaitQueue, timeoutJiffies = -1): Op {
    const t = this.current!;
    t.waitingOn = wq;
    t.opArg = timeoutJiffies;
    return OP_WAIT;
  }

  // ---- threads -----------------------------------------------------------------------------

  /**
   * Creates a thread on a CPU at a nice value; it starts runnable. Kthreads run at nice 0 in 3.2:
   * kthread_create_on_node resets them to SCHED_NORMAL at kthreadd's nice 0 (kernel/kthread.c), and
   * neither ksoftirqd (kernel/softirq.c; 2.6 kernels' ksoftirqd() did set_user_nice(current, 19)),
   * kswapd (mm/vmscan.c) nor the kworkers (kernel/workqueue.c; only the rescuer is at -20) change it.
   */
  spawn(name: string, cpuIndex: number, body: () => KernelCode, nice = 0): KThread {
    const cpu = this.cpus[cpuIndex];
    if (cpu === undefined)
      throw new ModelError(`thread ${name}: no vCPU ${cpuIndex} (have ${this.cpus.length})`);
    const t = new KThread(this.threads.length, name, cpu, body, nice);
    this.threads.push(t);
    this.makeRunnable(t, true);
    return t;
  }

  /** Wakes every thread waiting on wq (wake_up_all). */
  wakeAll(wq: WaitQueue): void {
    const w = wq.waiters;
    if (w.length === 0) return;
    // A woken thread runs at once and may wake others (or wait on wq again): the waiters of this
    // call are taken into a batch of their own nesting level, reused from call to call.
    const batch = (this.wakeBatches[this.wakeDepth] ??= []);
    for (let i = 0; i < w.length; i++) batch.push(w[i]!);
    listClear(w);
    this.wakeDepth++;
    try {
      for (let i = 0; i < batch.length; i++) this.wakeThread(batch[i]!);
    } finally {
      listClear(batch);
      this.wakeDepth--;
    }
  }

  /** Wakes the first waiter (wake_up with exclusive waiters). */
  wakeOne(wq: WaitQueue): void {
    const t = wq.waiters.shift();
    if (t !== undefined) this.wakeThread(t);
  }

  private wakeThread(t: KThread): void {
    // Fix (sched tests): a thread that yielded waitOn() with unpaid cost is still running; like a
    // wake between prepare_to_wait() and schedule(), this wake cancels the sleep (it was lost).
    if (t.state === TS_RUNNING && t.deferredOp === OP_WAIT) {
      t.deferredOp = -1;
      t.waitingOn = null;
      t.wokenByEvent = true;
      return;
    }
    if (t.state !== TS_BLOCKED) return;
    if (t.timeoutHandle >= 0) this.sim.cancel(t.timeoutHandle);
    t.timeoutHandle = -1;
    t.waitingOn = null;
    t.wokenByEvent = true;
    this.makeRunnable(t, false);
    const tr = this.sim.trace;
    // try_to_wake_up → ttwu_do_wakeup, in the waker's context.
    if (tr.on[TP_SCHED_WAKEUP] !== 0) tr.emit(TP_SCHED_WAKEUP, wakeupFields(t));
  }

  /**
   * enqueue_entity for a new thread (wake_up_new_task after task_fork_fair: it starts from the
   * vruntime of the CPU's current thread, its parent when it forks there) or a waking one, then
   * check_preempt_wakeup: the running thread is marked to reschedule at its next preemption point.
   */
  private makeRunnable(t: KThread, initial: boolean): void {
    t.state = TS_RUNNABLE;
    const cpu = t.cpu;
    const rq = cpu.cfs;
    const curr = cpu.current;
    this.updateCurr(cpu);
    if (initial && curr !== null) t.vruntime = curr.vruntime;
    rq.placeEntity(t, initial);
    rq.account(t, 1);
    rq.insert(t);
    if (curr === null) this.armDispatch(cpu);
    else if (!curr.needResched && rq.wakeupPreempts(curr, t)) curr.needResched = true;
  }

  /**
   * update_curr: the running thread's exec time since it was last accounted, interrupt time
   * included (3.2 without CONFIG_IRQ_TIME_ACCOUNTING), advances its vruntime at its weight.
   */
  private updateCurr(cpu: Cpu, until: Ns = this.now): void {
    const t = cpu.current;
    if (t === null) return;
    const delta = until - t.execStart;
    if (delta <= 0) return;
    t.execStart = until;
    t.sumExecRuntime += delta;
    t.vruntime += calcDeltaFair(delta, t.weight);
    cpu.cfs.updateMinVruntime(t);
  }

  private armDispatch(cpu: Cpu): void {
    if (cpu.dispatchArmed) return;
    cpu.dispatchArmed = true;
    this.sim.post(Math.max(this.now, cpu.busyUntil), this.evDispatch, cpu.index, 0);
  }

  private dispatch(cpu: Cpu): void {
    cpu.dispatchArmed = false;
    if (cpu.current !== null) return;
    if (cpu.busyUntil > this.now) {
      this.armDispatch(cpu);
      return;
    }
    // pick_next_task_fair → set_next_entity: the leftmost; its slice starts now.
    const t = cpu.cfs.popFirst();
    if (this.sim.trace.on[TP_SCHED_SWITCH] !== 0) this.traceSwitch(cpu, t ?? null);
    if (t === undefined) return;
    cpu.current = t;
    t.state = TS_RUNNING;
    t.needResched = false;
    t.execStart = this.now;
    t.tickJiffy = this.jiffies.at(this.now);
    t.prevSumExecRuntime = t.sumExecRuntime;
    this.resume(t, this.costs.contextSwitch);
  }

  private timeout(t: KThread): void {
    t.timeoutHandle = -1;
    if (t.state !== TS_BLOCKED) return;
    const tr = this.sim.trace;
    if (tr.on[TP_TIMER_EXPIRE_ENTRY] !== 0 || tr.on[TP_SCHED_WAKEUP] !== 0) this.traceTimeout(t);
    if (t.waitingOn !== null) {
      listDel(t.waitingOn.waiters, t);
      t.waitingOn = null;
    }
    t.wokenByEvent = false;
    this.makeRunnable(t, false);
  }

  private segmentEnd(t: KThread): void {
    t.segEndHandle = -1;
    const cpu = t.cpu;
    if (cpu.offUntil > this.now) {
      // The host took the pCPU as this segment ended: the thread's next step waits for the vCPU
      // (and for the irq/softirq work that was stretched with it).
      t.segEnd = cpu.busyUntil;
      t.segEndHandle = this.sim.at(t.segEnd, this.evSegEnd, t.id, 0);
      return;
    }
    // Steal time is charged to the thread as it ran: 3.2's default (CONFIG_PARAVIRT_TIME_ACCOUNTING
    // is "if in doubt, say N") leaves it in rq->clock_task, so update_curr sees it.
    const tickPreempts = this.schedulerTick(cpu, t);
    this.updateCurr(cpu);
    if (t.deferredOp >= 0) {
      const op = t.deferredOp;
      t.deferredOp = -1;
      this.block(t, op, true);
      return;
    }
    // A segment end is the thread's preemption point (cond_resched on a !CONFIG_PREEMPT kernel) for
    // a wake-up preemption or a tick's. put_prev_entity re-queues it; it runs on if still leftmost.
    const rq = cpu.cfs;
    if (t.needResched || tickPreempts) {
      t.needResched = false;
      const left = rq.first();
      if (left !== undefined && left.vruntime <= t.vruntime) {
        t.state = TS_RUNNABLE;
        rq.insert(t);
        cpu.current = null;
        if (this.sim.trace.on[TP_SCHED_SWITCH] !== 0) {
          cpu.switchPrev = t;
          cpu.switchPrevState = "R";
        }
        this.armDispatch(cpu);
        return;
      }
      t.prevSumExecRuntime = t.sumExecRuntime;
    }
    this.resume(t, 0);
  }

  /**
   * scheduler_tick → entity_tick for the running thread, evaluated at its segment end for the last
   * tick inside the segment (ticks are not events): update_curr up to the tick, check_preempt_tick.
   */
  private schedulerTick(cpu: Cpu, t: KThread): boolean {
    const j = this.jiffies.at(this.now);
    if (j <= t.tickJiffy) return false;
    t.tickJiffy = j;
    this.updateCurr(cpu, this.jiffies.toNs(j));
    return cpu.cfs.tickPreempts(t);
  }

  /** Runs a thread's generator until it yields something that takes time. */
  private resume(t: KThread, switchCost: Ns): void {
    const cpu = t.cpu;
    if (t.gen === null) t.gen = t.body();
    const prevCtx = this.ctx;
    const prevCpu = this.cpuNow;
    this.ctx = CTX_PROCESS;
    this.cpuNow = cpu;
    this.current = t;
    if (switchCost > 0) this.charge(switchCost, CAT_SCHED);
    try {
      for (;;) {
        const r = t.gen.next();
        let op: number;
        if (r.done === true) {
          if (t.locksHeld > 0 || t.bhDisabled > 0) throw new ModelError(`${t.name} exited holding a lock`);
          op = OP_EXIT;
        } else {
          op = r.value;
          if (t.locksHeld > 0 || t.bhDisabled > 0) {
            throw new ModelError(
              `${t.name} yielded (${op === OP_CPU ? "cpu" : "sleep"}) holding a spinlock or with bottom halves ` +
                "disabled: sleeping in atomic context",
            );
          }
        }
        const cost = this.settle(cpu);
        if (cost > 0) {
          t.runtimeNs += cost;
          if (op !== OP_CPU) t.deferredOp = op;
          // prepare_to_wait: on the queue now, so a wake while the cost is paid is seen.
          if (op === OP_WAIT) t.waitingOn!.waiters.push(t);
          t.segEnd = Math.max(this.now, cpu.busyUntil) + cost;
          t.segEndHandle = this.sim.at(t.segEnd, this.evSegEnd, t.id, 0);
          return;
        }
        if (op === OP_CPU) continue;
        this.block(t, op);
        return;
      }
    } finally {
      this.ctx = prevCtx;
      this.cpuNow = prevCpu;
      this.current = null;
    }
  }

  private block(t: KThread, op: number, queued = false): void {
    const cpu = t.cpu;
    // dequeue_entity (DEQUEUE_SLEEP): the vruntime stays for place_entity at the wake-up.
    this.updateCurr(cpu);
    cpu.cfs.account(t, -1);
    cpu.cfs.updateMinVruntime(t);
    t.state = op === OP_EXIT ? TS_DEAD : TS_BLOCKED;
    t.wokenByEvent = false;
    if (op === OP_EXIT) {
      t.gen = null;
    } else if (op === OP_SLEEP) {
      t.timeoutHandle = this.sim.at(this.jiffies.timerExpiry(this.now, t.opArg), this.evTimeout, t.id, 0);
    } else {
      if (!queued) t.waitingOn!.waiters.push(t);
      if (t.opArg >= 0) {
        t.timeoutHandle = this.sim.at(this.jiffies.timerExpiry(this.now, t.opArg), this.evTimeout, t.id, 0);
      }
    }
    cpu.current = null;
    const tr = this.sim.trace;
    if (tr.on[TP_TIMER_START] !== 0 && t.timeoutHandle >= 0) this.traceTimerStart(t);
    if (tr.on[TP_SCHED_SWITCH] !== 0) {
      // schedule() from a sleep: TASK_UNINTERRUPTIBLE for schedule_timeout_uninterruptible and
      // msleep, TASK_INTERRUPTIBLE for the wait queues, TASK_DEAD ("x") for an exit.
      cpu.switchPrev = t;
      cpu.switchPrevState = op === OP_EXIT ? "x" : op === OP_SLEEP ? "D" : "S";
      // Nothing else runnable: the switch to the idle task is now.
      if (cpu.cfs.queue.length === 0) this.traceSwitch(cpu, null);
    }
    if (cpu.cfs.queue.length > 0) this.armDispatch(cpu);
  }

  // ---- tracing (only called when the tracepoint is enabled) ------------------------------------

  /** sched:sched_switch on `cpu` from the thread switched out (or idle) to `next` (null: idle). */
  private traceSwitch(cpu: Cpu, next: KThread | null): void {
    const prev = cpu.switchPrev;
    cpu.switchPrev = next;
    if (prev === next) return;
    const state = prev === null ? "R" : cpu.switchPrevState;
    const idle = `swapper/${cpu.index}`;
    // include/trace/events/sched.h (v3.2) TP_printk of sched_switch.
    this.sim.trace.emitOn(
      TP_SCHED_SWITCH,
      cpu.index,
      traceComm(prev),
      tracePid(prev),
      CTX_TRACE_PROCESS,
      `prev_comm=${prev === null ? idle : prev.name} prev_pid=${tracePid(prev)} ` +
        `prev_prio=${prev === null ? 120 : nicePrio(prev.nice)} prev_state=${state} ==> ` +
        `next_comm=${next === null ? idle : next.name} next_pid=${tracePid(next)} ` +
        `next_prio=${next === null ? 120 : nicePrio(next.nice)}`,
    );
  }

  /** timer:timer_start for schedule_timeout's on-stack timer (kernel/timer.c debug_activate). */
  private traceTimerStart(t: KThread): void {
    const expires = this.jiffies.at(this.sim.queue.timeOf(t.timeoutHandle));
    const now = this.jiffies.at(this.now);
    // include/trace/events/timer.h (v3.2): "timer=%p function=%pf expires=%lu [timeout=%ld]".
    this.sim.trace.emitOn(
      TP_TIMER_START,
      t.cpu.index,
      traceComm(t),
      tracePid(t),
      CTX_TRACE_PROCESS,
      `timer=${t.name}.timeout function=process_timeout expires=${expires} [timeout=${expires - now}]`,
    );
  }

  /**
   * schedule_timeout's timer fires: run_timer_softirq on the sleeper's CPU calls process_timeout,
   * which wakes it (timer:timer_expire_entry, then sched:sched_wakeup from that softirq).
   */
  private traceTimeout(t: KThread): void {
    const tr = this.sim.trace;
    // include/trace/events/timer.h (v3.2): "timer=%p function=%pf now=%lu".
    if (tr.on[TP_TIMER_EXPIRE_ENTRY] !== 0)
      this.traceTimerSoftirq(
        t.cpu,
        TP_TIMER_EXPIRE_ENTRY,
        `timer=${t.name}.timeout function=process_timeout now=${this.jiffies.at(this.now)}`,
      );
    if (tr.on[TP_SCHED_WAKEUP] !== 0) this.traceTimerSoftirq(t.cpu, TP_SCHED_WAKEUP, wakeupFields(t));
  }

  /**
   * A record from run_timer_softirq on `cpu`, for timer callbacks the model runs as a plain event:
   * it names the vCPU and the task the softirq interrupted (call only when `on[tp]` is set).
   */
  traceTimerSoftirq(cpu: Cpu, tp: number, fields: string): void {
    const cur = cpu.current;
    this.sim.trace.emitOn(tp, cpu.index, traceComm(cur), tracePid(cur), CTX_TRACE_SOFTIRQ, fields);
  }

  /** Pushes the running process segment on `cpu` back by `ns` (preemption by irq/softirq). */
  private preempt(cpu: Cpu, ns: Ns): void {
    const t = cpu.current;
    // The handle is -1 from the moment the segment-end event runs and nothing cancels it, so a
    // handle is a pending event (reschedule checks that again).
    if (t === null || t.segEndHandle < 0) return;
    if (t.segEnd <= this.now) return;
    t.segEnd += ns;
    t.segEndHandle = this.sim.queue.reschedule(t.segEndHandle, t.segEnd);
  }

  // ---- the host's CPU (src/host/pcpu.ts) ---------------------------------------------------------

  /**
   * The host takes vCPU `cpuIndex`'s physical CPU from now until `until`. Guest work already placed
   * in time (irq/softirq work up to busyUntil, the running thread's segment) is stretched by the
   * time lost; dispatch, softirq and tick events find busyUntil ahead and wait; interrupts that
   * arrive meanwhile are injected when the vCPU runs again. Jiffies are sim time, so they have
   * caught up when it returns. Timer callbacks that only wake a thread or queue work (schedule_
   * timeout, delayed work, the bdi timer) still fire at their time, but what they wake runs only
   * after the return. Returns the time added to the descheduled period (0 if already covered).
   */
  deschedule(cpuIndex: number, until: Ns): Ns {
    const cpu = this.cpus[cpuIndex]!;
    const now = this.now;
    const ns = until - Math.max(now, cpu.offUntil);
    if (ns <= 0) return 0;
    if (now > cpu.offUntil || cpu.descheduledPeriods === 0) {
      cpu.descheduledPeriods++;
      cpu.offSince = now;
    }
    cpu.offUntil = until;
    cpu.stealNs += ns;
    cpu.longestDescheduledNs = Math.max(cpu.longestDescheduledNs, until - cpu.offSince);
    cpu.busyUntil = Math.max(now, cpu.busyUntil) + ns;
    this.preempt(cpu, ns);
    return ns;
  }

  /** An interrupt for a descheduled vCPU stays pending (one per source, like an IRR bit). */
  private deferInterrupt(cpu: Cpu, irq: number, fn: () => void): void {
    cpu.irqsDeferred++;
    if (!cpu.deferredIrqs.includes(fn)) {
      cpu.deferredIrqs.push(fn);
      cpu.deferredIrq.push(irq);
    }
    if (cpu.irqInjectArmed) return;
    cpu.irqInjectArmed = true;
    if (this.evIrqInject < 0) {
      this.evIrqInject = this.sim.register("sched.inject_deferred_irqs", (c) =>
        this.injectDeferred(this.cpus[c]!),
      );
    }
    this.sim.post(cpu.offUntil, this.evIrqInject, cpu.index, 0);
  }

  /** VM entry after a deschedule: inject what arrived meanwhile, in arrival order. */
  private injectDeferred(cpu: Cpu): void {
    cpu.irqInjectArmed = false;
    if (cpu.offUntil > this.now) {
      cpu.irqInjectArmed = true;
      this.sim.post(cpu.offUntil, this.evIrqInject, cpu.index, 0);
      return;
    }
    const fns = cpu.deferredIrqs;
    const irqs = cpu.deferredIrq;
    for (let i = 0; i < fns.length; i++) this.interruptContext(cpu, irqs[i]!, fns[i]!);
    listClear(fns);
    listClear(irqs);
  }

  // ---- interrupts and softirqs ------------------------------------------------------------------

  /** Registers the handler of softirq vector `nr` (NET_RX_SOFTIRQ = 3). */
  openSoftirq(nr: number, fn: SoftirqHandler): void {
    this.softirqHandlers[nr] = fn;
  }

  /**
   * Delivers a hardirq on `cpu`: runs `handler` in hardirq context, then irq_exit runs pending
   * softirqs unless the CPU is already inside softirq work (in_interrupt()). `irq` is its number
   * for irq:irq_handler_* (named by requestIrq; 0 for callers that name none).
   */
  hardirq(cpuIndex: number, handler: () => void, irq = 0): void {
    this.interruptContext(this.cpus[cpuIndex]!, irq, handler);
  }

  /** request_irq: the name irq:irq_handler_entry prints for `irq` (e.g. "virtio0-input"). */
  requestIrq(irq: number, name: string): void {
    if (!Number.isInteger(irq) || irq < 0) throw new ModelError(`request_irq ${name}: bad irq ${irq}`);
    this.irqNames[irq] = name;
  }

  /**
   * A timer-wheel callback (run_timer_softirq at the tick's irq exit) on `cpu`, e.g. TCP's
   * delayed-ACK timer: it runs in softirq context and its cost occupies the CPU like any softirq.
   */
  timerSoftirq(cpuIndex: number, fn: () => void): void {
    this.interruptContext(this.cpus[cpuIndex]!, IRQ_TIMER_CALLBACK, fn);
  }

  /** Runs `fn` as hardirq `irq` (≥ 0), or as a timer callback in softirq context (IRQ_TIMER_CALLBACK). */
  private interruptContext(cpu: Cpu, irq: number, fn: () => void): void {
    if (cpu.offUntil > this.now) {
      this.deferInterrupt(cpu, irq, fn);
      return;
    }
    const ctx = irq === IRQ_TIMER_CALLBACK ? CTX_SOFTIRQ : CTX_HARDIRQ;
    if (ctx === CTX_HARDIRQ) cpu.irqs++;
    const prevCtx = this.ctx;
    const prevCpu = this.cpuNow;
    if (this.accum !== 0 || this.current !== null) {
      throw new ModelError(
        "an interrupt was delivered while another context is executing (must come from an event)",
      );
    }
    this.ctx = ctx;
    this.cpuNow = cpu;
    const tr = this.sim.trace;
    try {
      if (ctx === CTX_HARDIRQ) {
        // handle_irq_event_percpu (kernel/irq/handle.c, v3.2); the handlers here all handle theirs.
        if (tr.on[TP_IRQ_HANDLER_ENTRY] !== 0)
          tr.emit(TP_IRQ_HANDLER_ENTRY, `irq=${irq} name=${this.irqNames[irq] ?? "unknown"}`);
        this.charge(this.costs.irq, CAT_IRQ);
        fn();
        if (tr.on[TP_IRQ_HANDLER_EXIT] !== 0) tr.emit(TP_IRQ_HANDLER_EXIT, `irq=${irq} ret=handled`);
      } else {
        // __do_softirq around run_timer_softirq, which calls the timer function.
        if (tr.on[TP_SOFTIRQ_ENTRY] !== 0) tr.emit(TP_SOFTIRQ_ENTRY, TIMER_SOFTIRQ_FIELDS);
        fn();
        if (tr.on[TP_SOFTIRQ_EXIT] !== 0) tr.emit(TP_SOFTIRQ_EXIT, TIMER_SOFTIRQ_FIELDS);
      }
    } finally {
      this.ctx = prevCtx;
      this.cpuNow = prevCpu;
    }
    const cost = this.settle(cpu);
    const start = Math.max(this.now, cpu.busyUntil);
    const wasBusy = cpu.busyUntil > this.now;
    cpu.busyUntil = start + cost;
    this.preempt(cpu, cost);
    // irq_exit → invoke_softirq, unless we interrupted softirq work that will see the pending bit.
    if (cpu.softirqPending !== 0) {
      if (wasBusy) this.armSoftirq(cpu);
      else this.doSoftirq(cpu);
    }
  }

  /**
   * __raise_softirq_irqoff: marks a vector pending on the executing CPU. From hardirq or softirq
   * context it runs at irq exit / restart; from process context it waits for the next softirq
   * point — local_bh_enable, the next timer tick's irq exit, or ksoftirqd.
   */
  raiseSoftirq(nr: number): void {
    const cpu = this.cpuNow;
    const tr = this.sim.trace;
    if (tr.on[TP_SOFTIRQ_RAISE] !== 0) tr.emit(TP_SOFTIRQ_RAISE, softirqFields(nr));
    cpu.softirqPending |= 1 << nr;
    // Fix (sched tests): code run from a plain event (setup, device models) is process context too;
    // without the tick its softirq stayed pending until some unrelated interrupt.
    if (this.ctx === CTX_PROCESS && (this.current === null || this.current.bhDisabled === 0))
      this.armTick(cpu);
  }

  /**
   * Runs a softirq pass on cpu now, in softirq context (__do_softirq, one restart). Charges of a
   * process context it interrupts (local_bh_enable) are set aside and restored afterwards.
   */
  private doSoftirq(cpu: Cpu): void {
    const prevCtx = this.ctx;
    const prevCpu = this.cpuNow;
    const prevCurrent = this.current;
    const savedAccum = this.accum;
    const savedCat = this.savedCat;
    // Charges are never negative: nothing charged (the usual case: an irq exit or a softirq event)
    // leaves every category at 0, as the settle below does, so there is nothing to set aside.
    if (savedAccum !== 0) {
      savedCat.set(this.accumCat);
      this.accum = 0;
      this.accumCat.fill(0);
    }
    this.ctx = CTX_SOFTIRQ;
    this.cpuNow = cpu;
    this.current = null;
    cpu.softirqRuns++;
    let cost: Ns;
    try {
      this.charge(this.costs.softirqEntry, CAT_SCHED);
      this.runPendingVectors(cpu);
    } finally {
      cost = this.settle(cpu);
      this.ctx = prevCtx;
      this.cpuNow = prevCpu;
      this.current = prevCurrent;
      if (savedAccum !== 0) {
        this.accum = savedAccum;
        this.accumCat.set(savedCat);
      }
    }
    cpu.busyUntil = Math.max(this.now, cpu.busyUntil) + cost;
    this.preempt(cpu, cost);
    if (cpu.softirqPending !== 0) {
      // __do_softirq: restart while pending, at most MAX_SOFTIRQ_RESTART times, then ksoftirqd.
      if (++cpu.restarts < MAX_SOFTIRQ_RESTART) {
        this.armSoftirq(cpu);
      } else {
        cpu.restarts = 0;
        this.endSoftirq(cpu);
        this.wakeAll(cpu.ksoftirqdWait);
      }
    } else {
      cpu.restarts = 0;
      this.endSoftirq(cpu);
    }
  }

  /** A __do_softirq (all its restarts) or a ksoftirqd pass is over: record the packets it handled. */
  private endSoftirq(cpu: Cpu): void {
    const w = cpu.softirqWork;
    cpu.softirqWork = 0;
    cpu.softirqDone++;
    cpu.softirqWorkSum += w;
    if (w > cpu.softirqWorkMax) cpu.softirqWorkMax = w;
    cpu.softirqWorkHist[softirqWorkBucket(w)]!++;
  }

  private runPendingVectors(cpu: Cpu): void {
    const pending = cpu.softirqPending;
    cpu.softirqPending = 0;
    const tr = this.sim.trace;
    for (let nr = 0; nr < this.softirqHandlers.length; nr++) {
      if ((pending & (1 << nr)) === 0) continue;
      const h = this.softirqHandlers[nr];
      if (h === null || h === undefined) continue;
      // __do_softirq (kernel/softirq.c, v3.2) traces each vector it runs.
      if (tr.on[TP_SOFTIRQ_ENTRY] !== 0) tr.emit(TP_SOFTIRQ_ENTRY, softirqFields(nr));
      h(cpu);
      if (tr.on[TP_SOFTIRQ_EXIT] !== 0) tr.emit(TP_SOFTIRQ_EXIT, softirqFields(nr));
    }
  }

  private armSoftirq(cpu: Cpu): void {
    if (cpu.softirqEventArmed) return;
    cpu.softirqEventArmed = true;
    this.sim.post(Math.max(this.now, cpu.busyUntil), this.evSoftirq, cpu.index, 0);
  }

  private softirqEvent(cpu: Cpu): void {
    cpu.softirqEventArmed = false;
    if (cpu.softirqPending === 0) return;
    if (cpu.busyUntil > this.now) {
      this.armSoftirq(cpu);
      return;
    }
    this.doSoftirq(cpu);
  }

  /** The next timer interrupt: its irq exit runs softirqs raised from process context. */
  private armTick(cpu: Cpu): void {
    if (cpu.tickArmed) return;
    cpu.tickArmed = true;
    this.sim.post(this.jiffies.timerExpiry(this.now, 1), this.evTick, cpu.index, 0);
  }

  private tick(cpu: Cpu): void {
    cpu.tickArmed = false;
    if (cpu.softirqPending === 0) return;
    if (cpu.busyUntil > this.now) this.armSoftirq(cpu);
    else this.doSoftirq(cpu);
  }

  /**
   * local_bh_disable / local_bh_enable for process context. Enabling at depth 0 runs pending
   * softirqs right there, on this CPU, before the caller continues (do_softirq from
   * _local_bh_enable_ip); their cost delays the caller.
   */
  localBhDisable(): void {
    const t = this.current;
    // Already atomic in irq/softirq context. Fix (sched tests): ksoftirqd runs softirqs with
    // current set, so test ctx too, else its bh sections re-entered __do_softirq.
    if (t === null || this.ctx !== CTX_PROCESS) return;
    t.bhDisabled++;
  }

  localBhEnable(): void {
    const t = this.current;
    if (t === null || this.ctx !== CTX_PROCESS) return;
    if (t.bhDisabled <= 0) throw new ModelError(`${t.name}: local_bh_enable without local_bh_disable`);
    // Fix (sched tests): _local_bh_enable_ip runs softirqs when !in_interrupt(); a plain spinlock
    // held here only raises the preempt count, so it must not keep them pending (they were lost).
    if (--t.bhDisabled > 0) return;
    if (t.cpu.softirqPending !== 0) this.doSoftirq(t.cpu);
  }

  private *ksoftirqd(cpu: Cpu): KernelCode {
    for (;;) {
      while (cpu.softirqPending === 0) yield this.waitOn(cpu.ksoftirqdWait);
      // run_ksoftirqd: __do_softirq in the thread; its time is this thread's runtime.
      const prevCtx = this.ctx;
      this.ctx = CTX_SOFTIRQ;
      try {
        this.charge(this.costs.softirqEntry, CAT_SCHED);
        cpu.softirqRuns++;
        this.runPendingVectors(cpu);
        this.endSoftirq(cpu);
      } finally {
        this.ctx = prevCtx;
      }
      yield this.cpu();
    }
  }

  /** CPU time per category over all vCPUs. */
  busyByCategory(): Float64Array {
    const out = new Float64Array(CAT_COUNT);
    for (const c of this.cpus) for (let i = 0; i < CAT_COUNT; i++) out[i]! += c.busyNs[i]!;
    return out;
  }

  threadList(): readonly KThread[] {
    return this.threads;
  }
}

/** include/trace/events/irq.h (v3.2) softirq class: "vec=%u [action=%s]". */
function softirqFields(nr: number): string {
  return `vec=${nr} [action=${SOFTIRQ_NAMES[nr] ?? nr}]`;
}
const TIMER_SOFTIRQ_FIELDS = softirqFields(TIMER_SOFTIRQ);

/**
 * The task name and pid a trace record gives a thread, as ftrace does: `<idle>` and pid 0 for the idle
 * task (null); pids are the model's thread ids plus one, so pid 0 stays the idle task's.
 */
export const traceComm = (t: KThread | null): string => (t === null ? "<idle>" : t.name);
export const tracePid = (t: KThread | null): number => (t === null ? 0 : t.id + 1);

/** include/trace/events/sched.h (v3.2) sched_wakeup_template: "comm=%s pid=%d prio=%d success=%d target_cpu=%03d". */
function wakeupFields(t: KThread): string {
  return `comm=${t.name} pid=${tracePid(t)} prio=${nicePrio(t.nice)} success=1 target_cpu=${String(t.cpu.index).padStart(3, "0")}`;
}
