/**
 * Workqueues (kernel/workqueue.c, v3.2) reduced to what virtio_net needs: one kworker per CPU
 * draining that CPU's worklist (system_wq is per-CPU and, in v3.2, not non-reentrant), and
 * delayed work whose queueing is a no-op while the work is pending (WORK_STRUCT_PENDING_BIT).
 */
import { CAT_SCHED } from "./costs.ts";
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
      return pool;
    });
    this.evTimer = k.sim.register("workqueue.delayed_work_timer_fn", (w) => {
      const work = this.works[w]!;
      work.timer = -1;
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
      w.timer = this.k.sim.at(j.toNs(applySlack(now + delayJiffies, now)), this.evTimer, idx, 0);
    }
    return true;
  }

  private insert(w: DelayedWork, cpu: number): void {
    const pool = this.pools[cpu]!;
    pool.list.push(w);
    this.k.wakeAll(pool.wait);
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
      yield* w.fn();
      w.running--;
      // process_one_work's own cost, then its cond_resched() after every item (kernel/workqueue.c,
      // v3.2: "prevents a kworker from hogging CPU on !PREEMPT kernels"): paying it ends a segment,
      // the thread's preemption point, so a work item that re-queues itself burns CPU as time passes
      // and CFS shares the vCPU, instead of re-running at one instant.
      yield k.cpu(k.costs.processOneWork, CAT_SCHED);
    }
  }
}
