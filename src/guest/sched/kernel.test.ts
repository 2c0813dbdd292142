import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ModelError, Simulator } from "../../sim/simulator.ts";
import { ms, type Ns } from "../../sim/time.ts";
import { CAT_APP, CAT_COUNT, CAT_IRQ, CAT_SCHED } from "./costs.ts";
import { Kernel, type KernelCode, MAX_SOFTIRQ_RESTART, type SchedCosts, WaitQueue } from "./kernel.ts";
import { SpinLock } from "./lock.ts";

/** The softirq vector the tests own (NET_RX_SOFTIRQ = 3 belongs to napi.ts). */
const TIMER = 1;

/** Round costs so that expected times can be written down by hand. */
const COSTS: SchedCosts = { irq: 1_000, softirqEntry: 100, contextSwitch: 0, processOneWork: 0 };

interface Setup {
  vcpus?: number;
  hz?: number;
  costs?: Partial<SchedCosts>;
  permuteTies?: boolean;
  tieSeed?: number;
}

function setup(o: Setup = {}): { sim: Simulator; k: Kernel; at: (t: Ns, fn: () => void) => void } {
  const sim = new Simulator({ seed: 7, permuteTies: o.permuteTies ?? false, tieSeed: o.tieSeed ?? 7 });
  const k = new Kernel(sim, {
    vcpus: o.vcpus ?? 1,
    hz: o.hz ?? 250,
    costs: { ...COSTS, ...o.costs },
  });
  // Boot: ksoftirqd runs and goes to sleep before the test's threads exist, as it does long before
  // anything else runs in a real guest (CFS would otherwise pick a later, START_DEBIT-placed thread
  // first).
  sim.run(0);
  const at = (t: Ns, fn: () => void): void => {
    sim.at(t, sim.register("test.event", fn));
  };
  return { sim, k, at };
}

describe("strict priority: hardirq > softirq > process", () => {
  it("pushes a process segment back by exactly the hardirq + softirq cost that lands in it", () => {
    const { sim, k, at } = setup();
    let softirqAt = -1;
    let end = -1;
    k.openSoftirq(TIMER, () => {
      softirqAt = k.now;
      k.charge(5_000, CAT_APP);
    });
    k.spawn("worker", 0, function* (): KernelCode {
      yield k.cpu(ms(1));
      end = k.now;
    });
    at(200_000, () =>
      k.hardirq(0, () => {
        k.charge(2_000, CAT_IRQ);
        k.raiseSoftirq(TIMER);
      }),
    );
    sim.run(ms(10));
    // The softirq ran at irq exit, at the instant of the interrupt, not after the thread.
    expect(softirqAt).toBe(200_000);
    expect(end).toBe(ms(1) + COSTS.irq + 2_000 + COSTS.softirqEntry + 5_000);
  });

  it("leaves a segment alone when the interrupt hits another vCPU", () => {
    const { sim, k, at } = setup({ vcpus: 2 });
    let end = -1;
    k.spawn("worker", 0, function* (): KernelCode {
      yield k.cpu(ms(1));
      end = k.now;
    });
    at(200_000, () => k.hardirq(1, () => k.charge(50_000, CAT_IRQ)));
    sim.run(ms(10));
    expect(end).toBe(ms(1));
    expect(k.cpus[1]!.busyNs[CAT_IRQ]).toBe(COSTS.irq + 50_000);
  });

  it("runs softirq work raised while the CPU is busy once the CPU frees", () => {
    const { sim, k, at } = setup();
    const runs: Ns[] = [];
    k.openSoftirq(TIMER, () => {
      runs.push(k.now);
      k.charge(50_000, CAT_APP);
    });
    const irq = (): void => k.hardirq(0, () => k.raiseSoftirq(TIMER));
    at(0, irq);
    at(10_000, irq);
    sim.run(ms(1));
    // Pass 1 keeps the CPU until 1 000 + 100 + 50 000; the second irq queues behind it.
    const busy1 = COSTS.irq + COSTS.softirqEntry + 50_000;
    expect(runs).toEqual([0, busy1 + COSTS.irq]);
    expect(k.cpus[0]!.busyUntil).toBe(busy1 + COSTS.irq + COSTS.softirqEntry + 50_000);
  });

  it("shares one CPU between two nice-0 threads in CFS slices, switching at the tick", () => {
    const { sim, k } = setup();
    const done: Record<string, Ns[]> = { a: [], b: [] };
    for (const name of ["a", "b"] as const) {
      k.spawn(name, 0, function* (): KernelCode {
        for (let i = 0; i < 6; i++) {
          yield k.cpu(ms(1));
          // When this CPU slice ended (the thread itself resumes later if it was switched out).
          done[name]!.push(k.current!.segEnd / ms(1));
        }
      });
    }
    sim.run(ms(20));
    // After boot min_vruntime is 6 ms (ksoftirqd's START_DEBIT placement); a is placed at 6 + 6 ms,
    // b (one more on the rq: a 3 ms vslice) at 6 + 3 ms, so b runs first. sched_slice is 3 ms each;
    // the HZ=250 tick at 4 ms finds b past it, and a is leftmost (12 < 13); a's slice ends at 8 ms.
    expect(done.b).toEqual([1, 2, 3, 4, 9, 10]);
    expect(done.a).toEqual([5, 6, 7, 8, 11, 12]);
  });

  it("charges a context switch on every dispatch", () => {
    const { sim, k } = setup({ costs: { contextSwitch: 1_500 } });
    const done: Ns[] = [];
    for (const name of ["a", "b"]) {
      k.spawn(name, 0, function* (): KernelCode {
        yield k.cpu(ms(1));
        done.push(k.now);
      });
    }
    sim.run(ms(20));
    // ksoftirqd/0 was spawned first and pays one switch before it sleeps.
    expect(done).toEqual([2 * 1_500 + ms(1), 3 * 1_500 + ms(2)]);
  });

  it("runs threads on different vCPUs in parallel", () => {
    const { sim, k } = setup({ vcpus: 3 });
    const done: Ns[] = [];
    for (let c = 0; c < 3; c++) {
      k.spawn(`t${c}`, c, function* (): KernelCode {
        for (let i = 0; i < 5; i++) yield k.cpu(ms(1));
        done.push(k.now);
      });
    }
    sim.run(ms(20));
    expect(done).toEqual([ms(5), ms(5), ms(5)]);
  });

  it("rejects a thread on a vCPU that does not exist, and zero vCPUs", () => {
    const { k } = setup({ vcpus: 2 });
    expect(() => k.spawn("x", 2, function* (): KernelCode {})).toThrow(ModelError);
    expect(() => new Kernel(new Simulator({ seed: 1 }), { vcpus: 0, hz: 250 })).toThrow(ModelError);
  });

  it("refuses a hardirq delivered from inside another context", () => {
    const { sim, k } = setup();
    k.spawn("bad", 0, function* (): KernelCode {
      k.hardirq(0, () => {});
    });
    expect(() => sim.run(ms(1))).toThrow(/must come from an event/);
  });
});

describe("atomic context", () => {
  it("reports a thread that yields while holding a spinlock", () => {
    const { sim, k } = setup();
    const lock = new SpinLock(k, "l");
    k.spawn("holder", 0, function* (): KernelCode {
      lock.lock();
      yield k.cpu(1_000);
    });
    expect(() => sim.run(ms(1))).toThrow(/sleeping in atomic context/);
  });

  it("reports a thread that sleeps with bottom halves disabled", () => {
    const { sim, k } = setup();
    k.spawn("bh", 0, function* (): KernelCode {
      k.localBhDisable();
      yield k.sleepJiffies(1);
    });
    expect(() => sim.run(ms(1))).toThrow(/sleeping in atomic context/);
  });

  it("reports a thread that exits holding a lock", () => {
    const { sim, k } = setup();
    const lock = new SpinLock(k, "l");
    // biome-ignore lint/correctness/useYield: the thread must end without a yield, lock held
    k.spawn("leaky", 0, function* (): KernelCode {
      lock.lockBh();
    });
    expect(() => sim.run(ms(1))).toThrow(/exited holding a lock/);
  });

  it("knows in_atomic() and in_interrupt() in every context", () => {
    const { sim, k, at } = setup();
    const seen: string[] = [];
    const probe = (where: string): void => {
      seen.push(`${where}:${k.inAtomic() ? "A" : "-"}${k.inInterrupt() ? "I" : "-"}`);
    };
    const lock = new SpinLock(k, "l");
    k.openSoftirq(TIMER, () => probe("softirq"));
    k.spawn("t", 0, function* (): KernelCode {
      probe("process");
      lock.lock();
      probe("spinlock");
      lock.unlock();
      lock.lockBh();
      probe("spin_lock_bh");
      lock.unlockBh();
      yield k.cpu(1_000);
    });
    at(ms(1), () =>
      k.hardirq(0, () => {
        probe("hardirq");
        k.raiseSoftirq(TIMER);
      }),
    );
    sim.run(ms(2));
    expect(seen).toEqual(["process:--", "spinlock:A-", "spin_lock_bh:AI", "hardirq:AI", "softirq:AI"]);
  });
});

describe("softirqs and bottom-half sections", () => {
  it("runs softirqs raised under spin_lock_bh at spin_unlock_bh, before the thread continues", () => {
    const { sim, k } = setup();
    const lock = new SpinLock(k, "rx_fill_lock");
    const log: string[] = [];
    let end = -1;
    k.openSoftirq(TIMER, () => {
      log.push(`softirq@${k.now}`);
      k.charge(10_000, CAT_APP);
    });
    k.spawn("t", 0, function* (): KernelCode {
      lock.lockBh();
      k.raiseSoftirq(TIMER);
      log.push("raised");
      lock.unlockBh();
      log.push("unlocked");
      yield k.cpu(1_000);
      end = k.now;
    });
    sim.run(ms(10));
    expect(log).toEqual(["raised", "softirq@0", "unlocked"]);
    // The softirq's cost delays the thread's next segment.
    expect(end).toBe(COSTS.softirqEntry + 10_000 + 1_000);
  });

  it("sets the thread's unpaid charges aside while softirqs run at local_bh_enable; they stay its own", () => {
    const { sim, k } = setup();
    k.openSoftirq(TIMER, () => k.charge(10_000, CAT_IRQ));
    let end = -1;
    const t = k.spawn("t", 0, function* (): KernelCode {
      k.charge(2_000, CAT_APP);
      k.localBhDisable();
      k.raiseSoftirq(TIMER);
      k.localBhEnable();
      yield k.cpu(1_000);
      end = k.now;
    });
    sim.run(ms(10));
    expect(end).toBe(COSTS.softirqEntry + 10_000 + 2_000 + 1_000);
    expect(t.runtimeNs).toBe(3_000);
    const busy = k.busyByCategory();
    expect(busy[CAT_APP]).toBe(2_000);
    expect(busy[CAT_IRQ]).toBe(10_000);
  });

  it("defers softirqs to the outermost local_bh_enable", () => {
    const { sim, k } = setup();
    const lock = new SpinLock(k, "l");
    const log: string[] = [];
    k.openSoftirq(TIMER, () => log.push("softirq"));
    k.spawn("t", 0, function* (): KernelCode {
      k.localBhDisable();
      lock.lockBh();
      k.raiseSoftirq(TIMER);
      lock.unlockBh();
      log.push("inner unlock");
      k.localBhEnable();
      log.push("outer enable");
      yield k.cpu(1_000);
    });
    sim.run(ms(10));
    expect(log).toEqual(["inner unlock", "softirq", "outer enable"]);
  });

  it("runs pending softirqs at local_bh_enable even while a plain spinlock is held", () => {
    // _local_bh_enable_ip tests !in_interrupt(): spinlocks raise only the preempt count.
    const { sim, k } = setup();
    const plain = new SpinLock(k, "plain");
    const bh = new SpinLock(k, "bh");
    const log: string[] = [];
    k.openSoftirq(TIMER, () => log.push("softirq"));
    k.spawn("t", 0, function* (): KernelCode {
      plain.lock();
      bh.lockBh();
      k.raiseSoftirq(TIMER);
      bh.unlockBh();
      log.push("unlock_bh");
      plain.unlock();
      yield k.cpu(1_000);
    });
    sim.run(ms(100));
    expect(log).toEqual(["softirq", "unlock_bh"]);
  });

  it("rejects local_bh_enable without local_bh_disable", () => {
    const { sim, k } = setup();
    k.spawn("t", 0, function* (): KernelCode {
      k.localBhEnable();
      yield k.cpu();
    });
    expect(() => sim.run(ms(1))).toThrow(/without local_bh_disable/);
  });

  for (const hz of [100, 250, 1000]) {
    it(`runs a softirq raised from process context at the next tick (HZ=${hz}), at once with local_bh_enable`, () => {
      for (const bracket of [false, true]) {
        const { sim, k } = setup({ hz });
        let ranAt = -1;
        k.openSoftirq(TIMER, () => {
          ranAt = k.now;
        });
        const raiseAt = k.jiffies.tickNs / 4;
        k.spawn("virtnet_napi_enable", 0, function* (): KernelCode {
          yield k.cpu(raiseAt);
          if (bracket) k.localBhDisable();
          k.raiseSoftirq(TIMER);
          if (bracket) k.localBhEnable();
          yield k.sleepJiffies(5);
        });
        sim.run(ms(100));
        expect(ranAt).toBe(bracket ? raiseAt : k.jiffies.tickNs);
      }
    });
  }

  it("runs a softirq raised outside any thread (a plain event) at the next tick", () => {
    const { sim, k, at } = setup();
    let ranAt = -1;
    k.openSoftirq(TIMER, () => {
      ranAt = k.now;
    });
    at(ms(1), () => k.raiseSoftirq(TIMER));
    sim.run(ms(100));
    expect(ranAt).toBe(ms(4));
  });

  it("restarts a busy softirq back to back, then hands it to ksoftirqd after MAX_SOFTIRQ_RESTART passes", () => {
    const { sim, k, at } = setup();
    const passes: { t: Ns; thread: string | null }[] = [];
    const total = 25;
    k.openSoftirq(TIMER, () => {
      passes.push({ t: k.now, thread: k.current?.name ?? null });
      k.charge(1_000, CAT_APP);
      if (passes.length < total) k.raiseSoftirq(TIMER);
    });
    at(ms(1), () => k.hardirq(0, () => k.raiseSoftirq(TIMER)));
    sim.run(ms(10));
    expect(passes).toHaveLength(total);
    const inIrq = passes.filter((p) => p.thread === null);
    expect(MAX_SOFTIRQ_RESTART).toBe(10);
    expect(inIrq).toHaveLength(MAX_SOFTIRQ_RESTART);
    expect(passes.slice(MAX_SOFTIRQ_RESTART).every((p) => p.thread === "ksoftirqd/0")).toBe(true);
    // Pass 1 runs at the interrupt's instant (its cost is queued behind the irq's); __do_softirq
    // restarts at once, so each later pass starts when the previous one's cost is paid.
    const pass = COSTS.softirqEntry + 1_000;
    expect(inIrq.map((p) => p.t)).toEqual(
      inIrq.map((_, i) => (i === 0 ? ms(1) : ms(1) + COSTS.irq + i * pass)),
    );
    expect(k.cpus[0]!.softirqRuns).toBe(total);
    expect(k.cpus[0]!.softirqPending).toBe(0);
  });

  it("makes ksoftirqd compete with other threads on its CPU", () => {
    const { sim, k, at } = setup();
    let hog = 0;
    k.openSoftirq(TIMER, () => {
      k.charge(100_000, CAT_APP);
      k.raiseSoftirq(TIMER); // a softirq storm that never ends
    });
    const app = k.spawn("app", 0, function* (): KernelCode {
      for (;;) {
        yield k.cpu(ms(1));
        hog++;
      }
    });
    at(ms(1), () => k.hardirq(0, () => k.raiseSoftirq(TIMER)));
    sim.run(ms(61));
    const ksoftirqd = k.cpus[0]!.ksoftirqd!;
    // After 10 passes in irq context the storm runs in ksoftirqd, which time-shares with the app.
    expect(ksoftirqd.runtimeNs).toBeGreaterThan(ms(25));
    expect(app.runtimeNs).toBeGreaterThan(ms(25));
    expect(hog).toBeGreaterThan(25);
  });

  it("does not re-enter softirq processing from a bh section inside ksoftirqd", () => {
    const { sim, k, at } = setup();
    const lock = new SpinLock(k, "rx_fill_lock");
    let depth = 0;
    let maxDepth = 0;
    let passes = 0;
    k.openSoftirq(TIMER, () => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      passes++;
      k.charge(1_000, CAT_APP);
      if (passes < 20) k.raiseSoftirq(TIMER);
      // A softirq handler that takes a _bh lock (virtnet_poll in rfc-v1): in softirq context
      // local_bh_enable must not run the pending softirq recursively.
      lock.lockBh();
      lock.unlockBh();
      depth--;
    });
    at(0, () => k.hardirq(0, () => k.raiseSoftirq(TIMER)));
    sim.run(ms(10));
    expect(passes).toBe(20);
    expect(maxDepth).toBe(1);
  });
});

describe("sleeping and waiting", () => {
  it("expires sleepJiffies on jiffy boundaries", () => {
    const starts = [0, 1_500_000, 3_999_999, ms(4)];
    // One vCPU per sleeper, so nobody waits for a CPU after its timer fires.
    const { sim, k } = setup({ hz: 250, vcpus: starts.length });
    const woke: Ns[] = [];
    starts.forEach((start, i) => {
      k.spawn(`s${i}`, i, function* (): KernelCode {
        if (start > 0) yield k.cpu(start);
        yield k.sleepJiffies(2);
        woke[i] = k.now;
      });
    });
    sim.run(ms(100));
    expect(woke).toEqual([ms(8), ms(8), ms(8), ms(12)]);
  });

  it("ends waitOn by the timeout (wokenByEvent false) or by a wake (true), and cancels the timeout", () => {
    const { sim, k, at } = setup({ vcpus: 2 });
    const wq = new WaitQueue("wq");
    const other = new WaitQueue("other");
    const log: string[] = [];
    k.spawn("timeout", 0, function* (): KernelCode {
      yield k.waitOn(wq, 3);
      log.push(`timeout@${k.now}:${k.current!.wokenByEvent}`);
    });
    k.spawn("woken", 1, function* (): KernelCode {
      yield k.sleepJiffies(5);
      yield k.waitOn(wq, 3);
      log.push(`woken@${k.now}:${k.current!.wokenByEvent}`);
      // The cancelled timeout (due at 32 ms) must not end this later wait.
      yield k.waitOn(other);
      log.push(`other@${k.now}:${k.current!.wokenByEvent}`);
    });
    at(ms(25), () => k.wakeAll(wq));
    at(ms(50), () => k.wakeAll(other));
    sim.run(ms(100));
    expect(log).toEqual(["timeout@12000000:false", "woken@25000000:true", "other@50000000:true"]);
    expect(wq.waiters).toHaveLength(0);
  });

  it("wakes every waiter with wakeAll and only the first with wakeOne", () => {
    const { sim, k, at } = setup({ vcpus: 4 });
    const wq = new WaitQueue("wq");
    const woke: string[] = [];
    for (let i = 0; i < 4; i++) {
      k.spawn(`w${i}`, i, function* (): KernelCode {
        yield k.waitOn(wq);
        woke.push(`w${i}@${k.now}`);
      });
    }
    at(ms(1), () => k.wakeOne(wq));
    at(ms(2), () => k.wakeAll(wq));
    sim.run(ms(10));
    expect(woke).toEqual(["w0@1000000", "w1@2000000", "w2@2000000", "w3@2000000"]);
  });

  it("does not lose a wake-up that arrives while the waiter still pays its last charge", () => {
    // prepare_to_wait + schedule(): a wake between them leaves the task running.
    const { sim, k, at } = setup();
    const wq = new WaitQueue("wq");
    let ready = false;
    const log: string[] = [];
    k.spawn("waiter", 0, function* (): KernelCode {
      while (!ready) {
        k.charge(10_000, CAT_APP);
        yield k.waitOn(wq);
      }
      log.push(`done@${k.now}:${k.current!.wokenByEvent}`);
    });
    at(5_000, () => {
      ready = true;
      k.wakeAll(wq);
    });
    sim.run(ms(10));
    expect(log).toEqual(["done@10000:true"]);
  });
});

/** A random workload: threads on random vCPUs, interrupts that raise softirqs, waits and wakes. */
interface Workload {
  vcpus: number;
  threads: { cpu: number; ops: { kind: "cpu" | "sleep" | "wait"; n: number }[] }[];
  irqs: { t: number; cpu: number; cost: number }[];
  wakes: number[];
}

const workload: fc.Arbitrary<Workload> = fc.integer({ min: 1, max: 3 }).chain((vcpus) =>
  fc.record({
    vcpus: fc.constant(vcpus),
    threads: fc.array(
      fc.record({
        cpu: fc.integer({ min: 0, max: vcpus - 1 }),
        ops: fc.array(
          fc.record({
            kind: fc.constantFrom("cpu" as const, "sleep" as const, "wait" as const),
            n: fc.integer({ min: 1, max: 8 }),
          }),
          { maxLength: 8 },
        ),
      }),
      { minLength: 1, maxLength: 5 },
    ),
    // Times on a 1 ms grid, so that many events tie with each other and with ticks.
    irqs: fc.array(
      fc.record({
        t: fc.integer({ min: 0, max: 40 }).map((x) => x * ms(1)),
        cpu: fc.integer({ min: 0, max: vcpus - 1 }),
        cost: fc.integer({ min: 0, max: 400 }).map((x) => x * 1_000),
      }),
      { maxLength: 12 },
    ),
    // Wakes on a 0.1 ms grid, fine enough to land inside a waiter's unpaid cost.
    wakes: fc.array(
      fc.integer({ min: 0, max: 400 }).map((x) => x * 100_000),
      { maxLength: 10 },
    ),
  }),
);

interface Outcome {
  fingerprint: string;
  trace: string[];
}

/** Runs a workload and checks the scheduler's invariants; returns its trace. */
function runWorkload(w: Workload, permuteTies: boolean, tieSeed: number): Outcome {
  const { sim, k, at } = setup({ vcpus: w.vcpus, permuteTies, tieSeed, costs: { contextSwitch: 0 } });
  const wq = new WaitQueue("wq");
  const trace: string[] = [];
  let charged = 0;
  /** Per vCPU: interrupt work raised and not yet seen by a softirq pass. */
  const owed = new Array<number>(w.vcpus).fill(0);
  const segments: { cpu: number; from: Ns; to: Ns }[] = [];
  let finished = 0;
  k.openSoftirq(TIMER, (cpu) => {
    k.charge(owed[cpu.index]!, CAT_APP);
    charged += owed[cpu.index]!;
    owed[cpu.index] = 0;
    trace.push(`softirq/${cpu.index}@${k.now}`);
  });
  w.threads.forEach((th, i) => {
    const ownCharges = th.ops.reduce(
      (s, o) => s + o.n * (o.kind === "cpu" ? 100_000 : o.kind === "wait" ? 50_000 : 0),
      0,
    );
    k.spawn(`t${i}`, th.cpu, function* (): KernelCode {
      for (const op of th.ops) {
        if (op.kind === "cpu") {
          const cost = op.n * 100_000;
          charged += cost;
          yield k.cpu(cost, CAT_APP);
          segments.push({ cpu: th.cpu, from: k.current!.segEnd - cost, to: k.current!.segEnd });
        } else if (op.kind === "sleep") {
          const expiry = k.jiffies.timerExpiry(k.now, op.n);
          yield k.sleepJiffies(op.n);
          expect(k.now).toBeGreaterThanOrEqual(expiry);
        } else {
          // Work, then sleep: the wait starts with cost still to pay.
          charged += op.n * 50_000;
          k.charge(op.n * 50_000, CAT_APP);
          const from = k.now;
          yield k.waitOn(wq, op.n);
          const me = k.current!;
          if (me.wokenByEvent) {
            expect(w.wakes.some((x) => x >= from && x <= k.now)).toBe(true);
          } else {
            // Timed out: no wake may have come between the yield and the timer's expiry.
            const expiry = k.jiffies.timerExpiry(me.segEnd, op.n);
            expect(k.now).toBeGreaterThanOrEqual(expiry);
            expect(w.wakes.some((x) => x > from && x < expiry)).toBe(false);
          }
        }
        trace.push(`t${i}:${op.kind}@${k.now}`);
      }
      finished++;
      expect(k.current!.runtimeNs).toBe(ownCharges);
    });
  });
  for (const irq of w.irqs) {
    at(irq.t, () =>
      k.hardirq(irq.cpu, () => {
        owed[irq.cpu]! += irq.cost;
        k.raiseSoftirq(TIMER);
      }),
    );
  }
  for (const t of w.wakes) at(t, () => k.wakeAll(wq));
  sim.run(ms(2_000));

  // Every thread ran to its end; no softirq work was lost.
  expect(finished).toBe(w.threads.length);
  expect(owed.every((x) => x === 0)).toBe(true);
  expect(k.cpus.every((c) => c.softirqPending === 0)).toBe(true);
  // Conservation: every ns charged is accounted to exactly one vCPU.
  const busy = k.busyByCategory();
  let total = 0;
  for (let c = 0; c < CAT_COUNT; c++) total += busy[c]!;
  const runs = k.cpus.reduce((s, c) => s + c.softirqRuns, 0);
  const irqs = k.cpus.reduce((s, c) => s + c.irqs, 0);
  expect(total).toBe(charged + irqs * COSTS.irq + runs * COSTS.softirqEntry);
  expect(busy[CAT_SCHED]).toBe(runs * COSTS.softirqEntry);
  // One vCPU executes one process segment at a time.
  for (let c = 0; c < w.vcpus; c++) {
    const mine = segments.filter((s) => s.cpu === c).sort((x, y) => x.to - y.to);
    for (let i = 1; i < mine.length; i++) expect(mine[i]!.from).toBeGreaterThanOrEqual(mine[i - 1]!.to);
  }
  return { fingerprint: sim.fingerprint.digest(), trace };
}

describe("determinism", () => {
  it("gives the same fingerprint and trace for the same workload, and holds every invariant", () => {
    fc.assert(
      fc.property(workload, (w) => {
        const a = runWorkload(w, false, 0);
        const b = runWorkload(w, false, 0);
        expect(b).toEqual(a);
      }),
      { numRuns: 60 },
    );
  });

  it("keeps every invariant when same-time events run in a permuted order", () => {
    fc.assert(
      fc.property(workload, fc.integer({ min: 1, max: 1_000_000 }), (w, tieSeed) => {
        const a = runWorkload(w, true, tieSeed);
        expect(runWorkload(w, true, tieSeed)).toEqual(a);
      }),
      { numRuns: 60 },
    );
  });

  it("lets the tie seed change the order of same-time events", () => {
    const orders = new Set<string>();
    const prints = new Set<string>();
    for (let seed = 1; seed <= 8; seed++) {
      const { sim, k } = setup({ vcpus: 4, permuteTies: true, tieSeed: seed });
      const order: string[] = [];
      for (let c = 0; c < 4; c++) {
        k.spawn(`s${c}`, c, function* (): KernelCode {
          yield k.sleepJiffies(1);
          order.push(`s${c}`);
        });
      }
      sim.run(ms(10));
      expect(order).toHaveLength(4);
      orders.add(order.join(","));
      prints.add(sim.fingerprint.digest());
    }
    expect(orders.size).toBeGreaterThan(1);
    expect(prints.size).toBeGreaterThan(1);
  });
});
