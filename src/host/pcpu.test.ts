import { describe, expect, it } from "vitest";
import { Kernel, type KernelCode } from "../guest/sched/kernel.ts";
import { resolveScenario, run } from "../run/run.ts";
import { System } from "../run/system.ts";
import { Simulator } from "../sim/simulator.ts";
import { ms, type Ns, us } from "../sim/time.ts";
import { type CoTenantSpec, HostCpus, type HostCpuOptions, STEAL_COTENANT } from "./pcpu.ts";

const NONE: HostCpuOptions = {
  vcpuPcpus: [0],
  vhostPcpu: -1,
  schedLatency: ms(24),
  coTenants: [],
  vcpuOutages: [],
};

function host(opts: Partial<HostCpuOptions>, seed = 1) {
  const sim = new Simulator({ seed });
  const k = new Kernel(sim, { vcpus: 1, hz: 250 });
  const h = new HostCpus(sim, k, { ...NONE, ...opts });
  return { sim, k, h };
}

/** Steal as a fraction of `seconds` of simulated time under one co-tenant load on vCPU 0's pCPU. */
function stealFraction(tenant: Partial<CoTenantSpec>, seconds: number, seed = 1) {
  const spec: CoTenantSpec = {
    pcpu: 0,
    utilisation: 0.4,
    burst: { distribution: "exponential", mean: ms(500), sigma: 1 },
    sharing: "cfs",
    ...tenant,
  };
  const { sim, k, h } = host({ coTenants: [spec] }, seed);
  sim.run(seconds * 1e9);
  const c = k.cpus[0]!;
  return { fraction: c.stealNs / (seconds * 1e9), cpu: c, h };
}

describe("co-tenant load", () => {
  it("steals u/2 of the vCPU under CFS sharing (two nice-0 threads), in slices of sched_latency/2", () => {
    const { fraction, cpu, h } = stealFraction({ sharing: "cfs" }, 4000);
    expect(fraction).toBeGreaterThan(0.2 - 0.015);
    expect(fraction).toBeLessThan(0.2 + 0.015);
    expect(cpu.longestDescheduledNs).toBeLessThanOrEqual(ms(12));
    expect(h.stealByCause[STEAL_COTENANT]).toBe(cpu.stealNs);
  });

  it("steals u when the burst holds the pCPU throughout", () => {
    const { fraction, cpu } = stealFraction({ sharing: "exclusive" }, 4000);
    expect(fraction).toBeGreaterThan(0.4 - 0.02);
    expect(fraction).toBeLessThan(0.4 + 0.02);
    // Whole bursts: exponential lengths of mean 500 ms reach seconds.
    expect(cpu.longestDescheduledNs).toBeGreaterThan(ms(1000));
  });

  it("keeps the busy fraction at u with lognormal bursts of the configured mean", () => {
    const burst = { distribution: "lognormal" as const, mean: ms(500), sigma: 1.5 };
    const { fraction } = stealFraction({ sharing: "exclusive", burst }, 4000);
    expect(fraction).toBeGreaterThan(0.4 - 0.04);
    expect(fraction).toBeLessThan(0.4 + 0.04);
  });

  it("draws from the run's seeded stream: the same seed gives the same steal, another seed another", () => {
    const a = stealFraction({}, 20, 5).cpu.stealNs;
    expect(stealFraction({}, 20, 5).cpu.stealNs).toBe(a);
    expect(stealFraction({}, 20, 6).cpu.stealNs).not.toBe(a);
  });
});

describe("vhost on the vCPU's pCPU", () => {
  it("slows a CPU-bound guest thread to 1 − f of the pCPU, f the worker's busy fraction", () => {
    const { sim, k, h } = host({ vhostPcpu: 0 });
    expect(h.vhostVcpu).toBe(0);
    // A worker pass of 30 µs every 100 µs: f = 0.3.
    const pass = sim.register("test.vhost_pass", () => {
      h.vhostRan(us(30));
      sim.after(us(100), pass);
    });
    sim.at(us(100), pass);
    let done = 0;
    k.spawn("spin", 0, function* (): KernelCode {
      for (;;) {
        yield k.cpu(us(10));
        done += us(10);
      }
    });
    const T: Ns = ms(100);
    sim.run(T);
    expect(done / T).toBeGreaterThan(0.7 - 0.005);
    expect(done / T).toBeLessThan(0.7 + 0.005);
  });
});

describe("in a whole system", () => {
  it("charges vhost's own CPU time to the vCPU it shares a pCPU with, and to none on its own pCPU", () => {
    const opts = { duration: "300ms", set: ["warmup=100ms"] };
    const shared = run({ raw: { host: { cpu: { vhostPcpu: 0 } } } }, opts);
    expect(shared.host.hostBusyMs).toBeGreaterThan(1);
    expect(shared.host.stealVhostMs).toBeCloseTo(shared.host.hostBusyMs!, 0);
    expect(shared.guest.stealNs).toBeCloseTo(shared.host.stealVhostMs! * 1e6, -3);
    const own = run({ raw: {} }, opts);
    expect(own.guest.stealNs).toBe(0);
    expect(own.guest.descheduledPeriods).toBe(0);
  });

  it("runs nothing of the guest inside an outage and drains the backlog in one softirq run after it", () => {
    const from = ms(500);
    const until = ms(700);
    const s = resolveScenario(
      { raw: { host: { cpu: { vcpuOutages: [{ at: "500ms", duration: "200ms" }] } } } },
      { duration: "1s", set: ["warmup=100ms"] },
    );
    const sys = new System(s);
    const k = sys.k;
    const cpu = k.cpus[0]!;
    const guestCpu = () => k.busyByCategory().reduce((a, x) => a + x, 0);
    let lastCpu = guestCpu();
    let lastRx = sys.driver.stats.rxPackets;
    let insideEvents = 0;
    let guestRanInside = false;
    let backlog = -1;
    let doneBefore = -1;
    let workBefore = 0;
    let drained = -1;
    sys.sim.afterEvent = () => {
      const now = sys.sim.now;
      const c = guestCpu();
      const rx = sys.driver.stats.rxPackets;
      if (now > from && now < until) {
        insideEvents++;
        if (c !== lastCpu || rx !== lastRx) guestRanInside = true;
        // Delivered to the ring but not yet taken by the guest.
        backlog = sys.host.rxPacketsCount - rx;
        doneBefore = cpu.softirqDone;
        workBefore = cpu.softirqWorkSum;
      } else if (now >= until && drained < 0 && cpu.softirqDone > doneBefore) {
        // The first __do_softirq to finish after the return.
        drained = cpu.softirqWorkSum - workBefore;
      }
      lastCpu = c;
      lastRx = rx;
    };
    sys.sim.run(s.duration);
    expect(insideEvents).toBeGreaterThan(100); // the host side kept running
    expect(guestRanInside).toBe(false);
    expect(backlog).toBeGreaterThan(100);
    expect(drained).toBeGreaterThanOrEqual(backlog);
    expect(cpu.softirqWorkMax).toBeGreaterThanOrEqual(backlog);
    expect(cpu.stealNs).toBe(until - from);
  });
});
