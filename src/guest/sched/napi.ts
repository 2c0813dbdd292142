/**
 * NAPI (include/linux/netdevice.h, net/core/dev.c of v3.2): the SCHED/DISABLE state bits, the
 * per-CPU poll list and net_rx_action with netdev_budget and its 2-jiffy limit.
 */
import type { Ns } from "../../sim/time.ts";
import { ModelError } from "../../sim/simulator.ts";
import type { Cpu, Kernel, KernelCode } from "./kernel.ts";
import { listDel } from "./list.ts";
import { TP_NAPI_DISABLE, TP_NAPI_ENABLE, TP_NAPI_POLL } from "../../sim/trace.ts";

/** NET_RX_SOFTIRQ (include/linux/interrupt.h). */
export const NET_RX_SOFTIRQ = 3;
/** netdev_budget (net/core/dev.c). */
export const NETDEV_BUDGET = 300;
/** NAPI_POLL_WEIGHT (include/linux/netdevice.h, later kernels; v3.2 virtio_net used 128). */
export const NAPI_POLL_WEIGHT = 64;

export type PollFn = (budget: number) => number;

export class Napi {
  /** NAPI_STATE_SCHED: owned by the poll list or by a disabler. */
  sched = false;
  /** NAPI_STATE_DISABLE: napi_disable is waiting for SCHED. */
  disable = false;
  onList: Cpu | null = null;
  polls = 0;
  /** Time NAPI spent disabled (napi_disable → napi_enable), and when it began. */
  disabledNs: Ns = 0;
  disabledSince = -1;
  constructor(
    readonly name: string,
    readonly poll: PollFn,
    readonly weight: number,
  ) {}
}

export class NapiSubsystem {
  private readonly lists: Napi[][];
  constructor(private readonly k: Kernel) {
    this.lists = k.cpus.map(() => []);
    k.openSoftirq(NET_RX_SOFTIRQ, (cpu) => this.netRxAction(cpu));
  }

  /** netif_napi_add. */
  register(name: string, poll: PollFn, weight: number): Napi {
    return new Napi(name, poll, weight);
  }

  /** napi_schedule_prep: !napi_disable_pending(n) && !test_and_set_bit(NAPI_STATE_SCHED). */
  schedulePrep(n: Napi): boolean {
    if (n.disable || n.sched) return false;
    n.sched = true;
    return true;
  }

  /** __napi_schedule: put n on this CPU's poll list and raise NET_RX_SOFTIRQ. */
  scheduleLocked(n: Napi): void {
    const cpu = this.k.cpuNow;
    if (n.onList === null) {
      n.onList = cpu;
      this.lists[cpu.index]!.push(n);
    }
    this.k.raiseSoftirq(NET_RX_SOFTIRQ);
  }

  /** napi_schedule. */
  schedule(n: Napi): void {
    if (this.schedulePrep(n)) this.scheduleLocked(n);
  }

  /** napi_complete → __napi_complete: off the poll list, clear SCHED. */
  complete(n: Napi): void {
    this.removeFromList(n);
    n.sched = false;
  }

  private removeFromList(n: Napi): void {
    if (n.onList === null) return;
    listDel(this.lists[n.onList.index]!, n);
    n.onList = null;
  }

  /**
   * napi_disable: set DISABLE, then `while (test_and_set_bit(NAPI_STATE_SCHED)) msleep(1);`, then
   * clear DISABLE. msleep(1) is schedule_timeout(msecs_to_jiffies(1) + 1): two jiffies at any HZ
   * ≥ 100 (kernel/timer.c msleep).
   */
  *disableNapi(n: Napi): KernelCode {
    const k = this.k;
    n.disable = true;
    const tr = k.sim.trace;
    if (tr.on[TP_NAPI_DISABLE] !== 0)
      tr.emit(TP_NAPI_DISABLE, `napi=${n.name} state=${n.sched ? "wait" : "idle"}`);
    while (n.sched) yield k.sleepJiffies(k.jiffies.msecsToJiffies(1) + 1);
    n.sched = true;
    n.disable = false;
    n.disabledSince = k.now;
  }

  /** napi_enable: BUG_ON(!SCHED); clear SCHED. */
  enable(n: Napi): void {
    if (!n.sched) throw new ModelError(`napi_enable(${n.name}) without a prior napi_disable`);
    n.sched = false;
    const tr = this.k.sim.trace;
    if (tr.on[TP_NAPI_ENABLE] !== 0) {
      const ms = n.disabledSince >= 0 ? ((this.k.now - n.disabledSince) / 1e6).toFixed(3) : "0";
      tr.emit(TP_NAPI_ENABLE, `napi=${n.name} disabled_ms=${ms}`);
    }
    if (n.disabledSince >= 0) {
      n.disabledNs += this.k.now - n.disabledSince;
      n.disabledSince = -1;
    }
  }

  isDisabled(n: Napi): boolean {
    return n.disabledSince >= 0;
  }

  /**
   * net_rx_action (net/core/dev.c, v3.2): polls each scheduled NAPI with its weight until the
   * list empties, netdev_budget packets were handled, or more than 2 jiffies passed — then
   * time_squeeze++ and re-raise. An instance that used its whole weight goes to the tail of the
   * list, or is completed when a disable is pending.
   */
  private netRxAction(cpu: Cpu): void {
    const k = this.k;
    const list = this.lists[cpu.index]!;
    let budget = NETDEV_BUDGET;
    const startJiffy = k.jiffies.at(k.now);
    while (list.length > 0) {
      // The pass is instantaneous in the model; its elapsed time is the cost charged so far.
      if (budget <= 0 || k.jiffies.at(k.now + k.pendingCharge()) > startJiffy + 2) {
        cpu.timeSqueeze++;
        k.raiseSoftirq(NET_RX_SOFTIRQ);
        return;
      }
      const n = list[0]!;
      let work = 0;
      if (n.sched) {
        n.polls++;
        work = n.poll(n.weight);
        const tr = k.sim.trace;
        // include/trace/events/napi.h (the work/budget fields are 4.x's; 3.2 printed the device only).
        if (tr.on[TP_NAPI_POLL] !== 0)
          tr.emit(
            TP_NAPI_POLL,
            `napi poll on napi struct ${n.name} for device eth0 work ${work} budget ${n.weight}`,
          );
      }
      if (work > n.weight) throw new ModelError(`${n.name} poll returned ${work} > weight ${n.weight}`);
      budget -= work;
      cpu.softirqWork += work;
      if (work === n.weight && n.onList === cpu && list[0] === n) {
        if (n.disable) this.complete(n);
        else list.push(list.shift()!);
      }
    }
  }
}
