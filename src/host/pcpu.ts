/**
 * The host's physical CPUs as the guest sees them. A KVM vCPU is a host thread (QEMU's vcpu thread
 * in KVM_RUN) scheduled by the host's CFS on a physical CPU it may share with the vhost worker
 * (vhost-<qemu pid>, a kernel thread) and with other tenants' threads. When the host runs something
 * else there, the guest is descheduled: nothing of it runs, while the host side (vhost, tun, links,
 * senders) carries on. This module decides when that happens and tells the guest kernel
 * (Kernel.deschedule), which holds guest execution until the vCPU returns.
 *
 * Three sources, merged into one descheduled window per vCPU:
 * - vhost sharing the vCPU's pCPU: each handle_rx pass takes the pCPU for its CPU time. The worker
 *   sleeps between passes, so CFS places it `sched_latency/2` behind min_vruntime when it wakes
 *   (place_entity, GENTLE_FAIR_SLEEPERS) and check_preempt_wakeup preempts the vCPU at once; a pass
 *   is short (VHOST_NET_WEIGHT bytes at most), so it runs to its end. vhost itself is not slowed.
 * - co-tenant load on the vCPU's pCPU: an on/off process whose bursts (the co-tenant runnable) last
 *   a drawn length and whose gaps are exponential with mean burst × (1 − u)/u, so the long-run busy
 *   fraction is u. During a burst, "cfs" sharing alternates sched_slice = sched_latency × w/Σw between
 *   the co-tenant and the vCPU, co-tenant first (it wakes and preempts like vhost); both threads are
 *   nice 0 (prio_to_weight[20] = 1024), so each gets sched_latency/2 and steal ≈ u/2 over a long run
 *   with bursts ≫ sched_latency. "exclusive" gives the co-tenant the pCPU for the whole burst (a
 *   higher-weight tenant or a host kernel thread), so steal ≈ u.
 * - vcpuOutages: fixed windows, for experiments and tests.
 * Assumptions: the vCPU thread is treated as always runnable, so every window counts as steal and
 * delays the guest; a halted vCPU woken by an interrupt would in reality preempt the co-tenant with
 * its sleeper credit, so an idle guest sees shorter delays than this model gives it. The host's own
 * CFS slices are fixed by schedLatency (sched_latency 6 ms × (1 + ilog2(min(ncpus, 8))) in
 * kernel/sched.c update_sysctl: 24 ms on an 8-CPU host); other host threads (QEMU's iothread) are
 * not modelled.
 */
import type { Kernel } from "../guest/sched/kernel.ts";
import { ModelError, type Simulator } from "../sim/simulator.ts";
import type { Rng } from "../sim/rng.ts";
import type { Ns } from "../sim/time.ts";

export interface CoTenantSpec {
  pcpu: number;
  /** Long-run fraction of time the co-tenant is runnable, 0 ≤ u < 1. */
  utilisation: number;
  burst: { distribution: "exponential" | "lognormal"; mean: Ns; sigma: number };
  sharing: "cfs" | "exclusive";
}

export interface HostCpuOptions {
  /** pCPU of each vCPU thread (index = vCPU). */
  vcpuPcpus: readonly number[];
  /** pCPU of the vhost worker, or -1 for one no vCPU uses. */
  vhostPcpu: number;
  /** The host's sysctl_sched_latency (ns). */
  schedLatency: Ns;
  coTenants: readonly CoTenantSpec[];
  vcpuOutages: readonly { vcpu: number; at: Ns; duration: Ns }[];
}

/** Causes of steal, for the run summary. */
export const STEAL_VHOST = 0;
export const STEAL_COTENANT = 1;
export const STEAL_OUTAGE = 2;

const PHASE_GAP = 0;
const PHASE_COTENANT = 1;
const PHASE_VCPU = 2;

/** prio_to_weight[20] (kernel/sched.c): a nice-0 thread's load weight. */
const NICE_0_LOAD = 1024;

export class HostCpus {
  /** The vCPU whose pCPU the vhost worker shares, or -1. */
  readonly vhostVcpu: number;
  /** Steal by cause (STEAL_*), ns; overlapping windows count once, for the cause that extended them. */
  readonly stealByCause = new Float64Array(3);
  /** Co-tenant bursts started. */
  coTenantBursts = 0;
  private readonly tenantVcpu: Int32Array;
  private readonly phase: Int8Array;
  private readonly burstEnd: Float64Array;
  private readonly rngs: Rng[];
  private readonly tenantSlice: Float64Array;
  private readonly vcpuSlice: Float64Array;
  private readonly evTenant: number = -1;

  constructor(
    private readonly sim: Simulator,
    private readonly k: Kernel,
    private readonly opts: HostCpuOptions,
  ) {
    const byPcpu = new Map<number, number>();
    opts.vcpuPcpus.forEach((p, v) => {
      if (byPcpu.has(p))
        throw new ModelError(`vCPUs ${byPcpu.get(p)} and ${v} on one pCPU ${p}: not modelled`);
      byPcpu.set(p, v);
    });
    this.vhostVcpu = opts.vhostPcpu >= 0 ? (byPcpu.get(opts.vhostPcpu) ?? -1) : -1;
    const n = opts.coTenants.length;
    this.tenantVcpu = new Int32Array(n);
    this.phase = new Int8Array(n);
    this.burstEnd = new Float64Array(n);
    this.tenantSlice = new Float64Array(n);
    this.vcpuSlice = new Float64Array(n);
    this.rngs = opts.coTenants.map((_, i) => sim.rng(`host.cotenant${i}`));
    // Event types are registered only when used, so a host with nothing to deschedule leaves the
    // event numbering (and the trace fingerprint) as it was.
    if (n > 0) {
      this.evTenant = sim.register("host.cotenant", (i) => this.tenantEvent(i));
      opts.coTenants.forEach((c, i) => {
        const v = byPcpu.get(c.pcpu);
        if (v === undefined) throw new ModelError(`co-tenant ${i}: no vCPU on pCPU ${c.pcpu}`);
        this.tenantVcpu[i] = v;
        // sched_slice (kernel/sched_fair.c): period × se.weight / cfs_rq.load.weight, both nice 0.
        const share = c.sharing === "cfs" ? NICE_0_LOAD / (NICE_0_LOAD + NICE_0_LOAD) : 1;
        this.tenantSlice[i] = share === 1 ? Number.POSITIVE_INFINITY : Math.round(opts.schedLatency * share);
        this.vcpuSlice[i] = opts.schedLatency - this.tenantSlice[i]!;
        if (c.utilisation > 0) this.sim.at(this.gap(i), this.evTenant, i, 0);
      });
    }
    if (opts.vcpuOutages.length > 0) {
      const evOutage = sim.register("host.vcpu_outage", (i) => {
        const o = opts.vcpuOutages[i]!;
        this.stealByCause[STEAL_OUTAGE]! += k.deschedule(o.vcpu, o.at + o.duration);
      });
      opts.vcpuOutages.forEach((o, i) => sim.at(o.at, evOutage, i, 0));
    }
  }

  /** A vhost handle_rx pass took `ns` of CPU from now: it preempts the vCPU on its pCPU, if any. */
  vhostRan(ns: Ns): void {
    this.stealByCause[STEAL_VHOST]! += this.k.deschedule(this.vhostVcpu, this.sim.now + ns);
  }

  private tenantEvent(i: number): void {
    const now = this.sim.now;
    switch (this.phase[i]) {
      case PHASE_GAP:
        this.coTenantBursts++;
        this.burstEnd[i] = now + this.burstLength(i);
        this.tenantRuns(i);
        return;
      case PHASE_COTENANT:
        if (now >= this.burstEnd[i]!) this.endBurst(i);
        else {
          this.phase[i] = PHASE_VCPU;
          this.sim.at(Math.min(now + this.vcpuSlice[i]!, this.burstEnd[i]!), this.evTenant, i, 0);
        }
        return;
      default:
        if (now >= this.burstEnd[i]!) this.endBurst(i);
        else this.tenantRuns(i);
    }
  }

  /** The co-tenant holds the pCPU for its slice (or what is left of its burst). */
  private tenantRuns(i: number): void {
    const end = Math.min(this.sim.now + this.tenantSlice[i]!, this.burstEnd[i]!);
    this.phase[i] = PHASE_COTENANT;
    this.stealByCause[STEAL_COTENANT]! += this.k.deschedule(this.tenantVcpu[i]!, end);
    this.sim.at(end, this.evTenant, i, 0);
  }

  private endBurst(i: number): void {
    this.phase[i] = PHASE_GAP;
    this.sim.at(this.gap(i), this.evTenant, i, 0);
  }

  /** When the next burst starts: an exponential gap keeping the busy fraction at u. */
  private gap(i: number): Ns {
    const c = this.opts.coTenants[i]!;
    const mean = (c.burst.mean * (1 - c.utilisation)) / c.utilisation;
    return this.sim.now + Math.max(1, Math.round(this.rngs[i]!.exponential(mean)));
  }

  private burstLength(i: number): Ns {
    const b = this.opts.coTenants[i]!.burst;
    const rng = this.rngs[i]!;
    // A lognormal with mean m and shape σ has μ = ln m − σ²/2.
    const x =
      b.distribution === "exponential"
        ? rng.exponential(b.mean)
        : rng.lognormal(Math.log(b.mean) - (b.sigma * b.sigma) / 2, b.sigma);
    return Math.max(1, Math.round(x));
  }
}
