import { describe, expect, it } from "vitest";
import { ModelError, Simulator } from "../../sim/simulator.ts";
import { ms, type Ns } from "../../sim/time.ts";
import { CAT_DRIVER } from "./costs.ts";
import { Kernel, type KernelCode, MAX_SOFTIRQ_RESTART, type SchedCosts } from "./kernel.ts";
import { NETDEV_BUDGET, Napi, NapiSubsystem } from "./napi.ts";

const COSTS: SchedCosts = { irq: 1_000, softirqEntry: 100, contextSwitch: 0, processOneWork: 0 };

interface Poll {
  dev: string;
  t: Ns;
  budget: number;
  work: number;
  /** Executing thread (ksoftirqd) or null for softirq at irq exit / restart. */
  thread: string | null;
  cpu: number;
}

/** A device with a backlog of received packets and a per-packet cost, polled like virtnet_poll. */
class Dev {
  readonly napi: Napi;
  constructor(
    readonly k: Kernel,
    readonly napis: NapiSubsystem,
    readonly log: Poll[],
    readonly name: string,
    public backlog: number,
    readonly perPacket: Ns,
    weight = 64,
  ) {
    this.napi = new Napi(name, (budget) => this.poll(budget), weight);
  }

  private poll(budget: number): number {
    const work = Math.min(budget, this.backlog);
    this.backlog -= work;
    this.k.charge(work * this.perPacket, CAT_DRIVER);
    this.log.push({
      dev: this.name,
      t: this.k.now,
      budget,
      work,
      thread: this.k.current?.name ?? null,
      cpu: this.k.cpuNow.index,
    });
    if (work < budget) this.napis.complete(this.napi);
    return work;
  }

  /** skb_recv_done: an interrupt that schedules the NAPI. */
  interrupt(at: Ns, cpu = 0): void {
    irq(this.k, at, cpu, () => this.napis.schedule(this.napi));
  }
}

/** Delivers a hardirq running `handler` at `at` on `cpu`. */
function irq(k: Kernel, at: Ns, cpu: number, handler: () => void): void {
  k.sim.at(
    at,
    k.sim.register("test.irq", () => k.hardirq(cpu, handler)),
  );
}

function setup(hz = 250, vcpus = 1, costs: Partial<SchedCosts> = {}) {
  const sim = new Simulator({ seed: 3 });
  const k = new Kernel(sim, { vcpus, hz, costs: { ...COSTS, ...costs } });
  const napis = new NapiSubsystem(k);
  const log: Poll[] = [];
  const dev = (name: string, backlog: number, perPacket: Ns, weight = 64): Dev =>
    new Dev(k, napis, log, name, backlog, perPacket, weight);
  return { sim, k, napis, log, dev };
}

/** Groups polls into softirq passes: polls of one pass happen at one instant. */
function passes(log: Poll[]): Poll[][] {
  const out: Poll[][] = [];
  for (const p of log) {
    const last = out[out.length - 1];
    if (last !== undefined && last[0]!.t === p.t && last[0]!.cpu === p.cpu) last.push(p);
    else out.push([p]);
  }
  return out;
}

describe("net_rx_action", () => {
  it("polls with at most the weight per call and ends a pass once netdev_budget is spent", () => {
    const { sim, k, log, dev } = setup();
    const d = dev("eth0", 1_000, 1_000);
    d.interrupt(0);
    sim.run(ms(50));
    expect(NETDEV_BUDGET).toBe(300);
    expect(log.every((p) => p.budget === 64)).toBe(true);
    // 5 × 64 = 320: the budget is checked before each poll, so the last poll may overshoot it.
    const ps = passes(log);
    expect(ps.map((p) => p.reduce((s, x) => s + x.work, 0))).toEqual([320, 320, 320, 40]);
    expect(k.cpus[0]!.timeSqueeze).toBe(3);
    // Each re-raised pass starts as soon as the previous one's cost is paid (irq 1 000 first).
    const pass = COSTS.softirqEntry + 320 * 1_000;
    expect(ps.map((p) => p[0]!.t)).toEqual([0, 1_000 + pass, 1_000 + 2 * pass, 1_000 + 3 * pass]);
    expect(d.backlog).toBe(0);
    expect(d.napi.sched).toBe(false);
    expect(d.napi.polls).toBe(16);
  });

  it("moves an instance that used its whole weight to the tail of the poll list", () => {
    const { sim, k, napis, log, dev } = setup();
    const a = dev("A", 1_000, 100);
    const b = dev("B", 1_000, 100);
    irq(k, 0, 0, () => {
      napis.schedule(a.napi);
      napis.schedule(b.napi);
    });
    sim.run(ms(50));
    const order = passes(log).map((p) => p.map((x) => x.dev).join(""));
    expect(order.slice(0, 3)).toEqual(["ABABA", "BABAB", "ABABA"]);
  });

  it("ends a pass after 2 jiffies even with budget left, counts time_squeeze and re-raises", () => {
    // HZ=1000: one poll of 64 packets costs exactly one jiffy.
    const { sim, k, log, dev } = setup(1000, 1, { irq: 0, softirqEntry: 0 });
    const d = dev("eth0", 10_000, 15_625);
    d.interrupt(0);
    sim.run(ms(4));
    const ps = passes(log);
    // time_after(jiffies, start + 2) is first true before the 4th poll: 192 < 300 packets.
    expect(ps[0]!.map((p) => p.work)).toEqual([64, 64, 64]);
    expect(ps[1]![0]!.t).toBe(ms(3));
    expect(k.cpus[0]!.timeSqueeze).toBeGreaterThanOrEqual(1);
  });

  it("moves net_rx_action to ksoftirqd after MAX_SOFTIRQ_RESTART passes", () => {
    const { sim, log, dev } = setup();
    const d = dev("eth0", 20_000, 100);
    d.interrupt(0);
    sim.run(ms(50));
    const ps = passes(log);
    const firstThreaded = ps.findIndex((p) => p[0]!.thread !== null);
    expect(firstThreaded).toBe(MAX_SOFTIRQ_RESTART);
    expect(ps.slice(firstThreaded).every((p) => p.every((x) => x.thread === "ksoftirqd/0"))).toBe(true);
    expect(d.backlog).toBe(0);
  });

  it("polls a NAPI scheduled twice before its poll only once", () => {
    const { sim, k, napis, log, dev } = setup();
    const d = dev("eth0", 10, 100);
    irq(k, 0, 0, () => {
      napis.schedule(d.napi);
      napis.schedule(d.napi);
    });
    sim.run(ms(10));
    expect(log).toHaveLength(1);
  });

  it("reports a poll that returns more than its weight", () => {
    const { sim, k, napis } = setup();
    const n = new Napi("greedy", () => 65, 64);
    irq(k, 0, 0, () => napis.schedule(n));
    expect(() => sim.run(ms(1))).toThrow(/returned 65 > weight 64/);
  });
});

describe("napi_disable / napi_enable", () => {
  it("blocks scheduling while disabled; enable + schedule gives one poll; disabled time is accounted", () => {
    const { sim, k, napis, log, dev } = setup(250);
    const d = dev("eth0", 10, 100);
    let disabledAt = -1;
    let enabledAt = -1;
    k.spawn("refill_work", 0, function* (): KernelCode {
      yield* napis.disableNapi(d.napi);
      disabledAt = k.now;
      yield k.sleepJiffies(5);
      napis.enable(d.napi);
      enabledAt = k.now;
      // virtnet_napi_enable (v3.2): schedule from process context, without local_bh_disable.
      napis.schedule(d.napi);
    });
    d.interrupt(ms(10));
    sim.run(ms(100));
    expect(disabledAt).toBe(0);
    expect(enabledAt).toBe(ms(20));
    // The interrupt at 10 ms found NAPI disabled: no poll, no softirq left pending.
    expect(log).toHaveLength(1);
    expect(log[0]!.t).toBe(ms(24)); // the next tick after the enable
    expect(d.napi.disabledNs).toBe(ms(20));
    expect(napis.isDisabled(d.napi)).toBe(false);
    expect(k.cpus[0]!.softirqPending).toBe(0);
  });

  for (const [hz, returns] of [
    [100, 60],
    [250, 32],
    [1000, 26],
  ] as const) {
    it(`waits in 2-jiffy msleep steps while a busy poll holds SCHED (HZ=${hz})`, () => {
      // One poll of 64 packets costs 25 ms on vCPU 0; napi_disable runs on vCPU 1.
      const { sim, k, napis, log, dev } = setup(hz, 2);
      const d = dev("eth0", 100_000, 390_625);
      let returned = -1;
      k.spawn("refill_work", 1, function* (): KernelCode {
        yield k.cpu(1_000);
        yield* napis.disableNapi(d.napi);
        returned = k.now;
        yield k.sleepJiffies(1);
        napis.enable(d.napi);
      });
      d.interrupt(0, 0);
      // An interrupt after the poll released SCHED but before napi_disable took it: DISABLE is
      // pending, so napi_schedule_prep fails.
      irq(k, ms(returns) - 100, 0, () => napis.schedule(d.napi));
      sim.run(ms(returns + 1));
      // The pass after the disable polled once (work == weight, disable pending → napi_complete).
      const released = log[log.length - 1]!.t;
      expect(returned).toBe(ms(returns));
      expect(returned % (2 * k.jiffies.tickNs)).toBe(0);
      expect(returned - released).toBeGreaterThan(0);
      expect(returned - released).toBeLessThan(2 * k.jiffies.tickNs);
      expect(log.every((p) => p.t <= released)).toBe(true);
      expect(d.backlog).toBeGreaterThan(0);
    });
  }

  it("rejects napi_enable without napi_disable", () => {
    const { napis, dev } = setup();
    const d = dev("eth0", 0, 100);
    expect(() => napis.enable(d.napi)).toThrow(ModelError);
  });
});
