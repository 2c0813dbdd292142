/**
 * Kernel.deschedule: the host takes the vCPU's pCPU for a window (src/host/pcpu.ts). Nothing of the
 * guest runs inside it; work already placed in time is stretched by it; interrupts wait for it.
 */
import { describe, expect, it } from "vitest";
import { Simulator } from "../../sim/simulator.ts";
import { type Ns, us } from "../../sim/time.ts";
import { CAT_APP, CAT_IRQ } from "./costs.ts";
import { Kernel, type KernelCode, type SchedCosts, softirqWorkBucket } from "./kernel.ts";

const TIMER = 1;
const COSTS: SchedCosts = { irq: 1_000, softirqEntry: 100, contextSwitch: 0, processOneWork: 0 };

function setup() {
  const sim = new Simulator({ seed: 7 });
  const k = new Kernel(sim, { vcpus: 1, hz: 250, costs: COSTS });
  const at = (t: Ns, fn: () => void): void => {
    sim.at(t, sim.register("test.event", fn));
  };
  const window = (from: Ns, until: Ns): void => at(from, () => k.deschedule(0, until));
  return { sim, k, at, window };
}

describe("a descheduled vCPU", () => {
  it("stretches a thread's CPU segment by the window that falls inside it", () => {
    const { sim, k, window } = setup();
    let end = -1;
    k.spawn("hog", 0, function* (): KernelCode {
      yield k.cpu(us(1000));
      end = k.now;
    });
    window(us(500), us(2500));
    sim.run(us(10_000));
    expect(end).toBe(us(3000));
  });

  it("holds a thread whose segment ends as the window starts until the window ends", () => {
    const { sim, k, window } = setup();
    const steps: Ns[] = [];
    // The window's event is queued before the segment end at the same instant.
    window(us(500), us(1500));
    k.spawn("t", 0, function* (): KernelCode {
      yield k.cpu(us(500));
      steps.push(k.now);
      yield k.cpu(us(100));
      steps.push(k.now);
    });
    sim.run(us(10_000));
    expect(steps).toEqual([us(1500), us(1600)]);
  });

  it("keeps an interrupt pending until the window ends, then runs it and its softirq", () => {
    const { sim, k, at, window } = setup();
    let irqAt = -1;
    let softirqAt = -1;
    k.openSoftirq(TIMER, () => {
      softirqAt = k.now;
    });
    window(us(100), us(900));
    at(us(300), () =>
      k.hardirq(0, () => {
        irqAt = k.now;
        k.charge(2_000, CAT_IRQ);
        k.raiseSoftirq(TIMER);
      }),
    );
    sim.run(us(10_000));
    expect(irqAt).toBe(us(900));
    expect(softirqAt).toBe(us(900));
    expect(k.cpus[0]!.irqs).toBe(1);
  });

  it("injects one interrupt per source however often it fired, and timer callbacks at the return", () => {
    const { sim, k, at, window } = setup();
    const runs: [string, Ns][] = [];
    const handler = () => runs.push(["irq", k.now]);
    const timer = () => runs.push(["timer", k.now]);
    window(us(100), us(900));
    at(us(200), () => k.hardirq(0, handler));
    at(us(300), () => k.timerSoftirq(0, timer));
    at(us(400), () => k.hardirq(0, handler));
    sim.run(us(10_000));
    expect(runs).toEqual([
      ["irq", us(900)],
      ["timer", us(900)],
    ]);
    expect(k.cpus[0]!.irqsDeferred).toBe(3);
  });

  it("stretches softirq work in progress and lets a sleeping thread wake only after the window", () => {
    const { sim, k, at, window } = setup();
    const woke: Ns[] = [];
    k.openSoftirq(TIMER, () => k.charge(us(200), CAT_APP));
    k.spawn("sleeper", 0, function* (): KernelCode {
      // One jiffy at HZ 250: the timer fires at 4 ms, inside the window.
      yield k.sleepJiffies(1);
      woke.push(k.now);
    });
    at(us(3_900), () => k.hardirq(0, () => k.raiseSoftirq(TIMER)));
    window(us(4_000), us(7_000));
    sim.run(us(20_000));
    // The softirq occupied 3.9 ms + 1 µs irq + 0.1 µs entry + 200 µs; 3 ms of window fall inside it.
    expect(k.cpus[0]!.busyUntil).toBe(us(3_900) + 1_000 + 100 + us(200) + us(3_000));
    expect(woke).toEqual([k.cpus[0]!.busyUntil]);
  });

  it("merges overlapping windows into one period and counts steal once", () => {
    const { sim, k, window } = setup();
    window(us(100), us(600));
    window(us(300), us(1000));
    window(us(2000), us(2100));
    sim.run(us(5000));
    const c = k.cpus[0]!;
    expect(c.stealNs).toBe(us(900) + us(100));
    expect(c.descheduledPeriods).toBe(2);
    expect(c.longestDescheduledNs).toBe(us(900));
  });
});

describe("softirqWorkBucket", () => {
  it("puts 0, 1, 2–3, 4–7, … in successive buckets and caps the last", () => {
    expect([0, 1, 2, 3, 4, 7, 8, 1023, 1024, 3000].map(softirqWorkBucket)).toEqual([
      0, 1, 2, 2, 3, 3, 4, 10, 11, 11,
    ]);
  });
});
