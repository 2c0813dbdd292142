import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ModelError, Simulator } from "../../sim/simulator.ts";
import { ms, type Ns, us } from "../../sim/time.ts";
import { CAT_APP } from "./costs.ts";
import {
  CfsRq,
  calcDeltaFair,
  cfsTunables,
  NICE_0_LOAD,
  niceToWeight,
  type SchedEntity,
  sysctlFactor,
} from "./fair.ts";
import { Kernel, type KernelCode, type KThread, WaitQueue } from "./kernel.ts";

/**
 * Hand-computed orderings. After boot (ksoftirqd placed at 0 + a 6 ms vslice, then asleep)
 * min_vruntime is 6 ms on vCPU 0, so the first thread spawned is placed at 12 ms and the second,
 * with one thread already on the rq (sched_slice 6 ms × 1024/2048), at 9 ms.
 */
function setup(hz = 250): { sim: Simulator; k: Kernel; at: (t: Ns, fn: () => void) => void } {
  const sim = new Simulator({ seed: 7, permuteTies: false, tieSeed: 7 });
  const k = new Kernel(sim, { vcpus: 1, hz, costs: { irq: 1_000, softirqEntry: 100, contextSwitch: 0 } });
  sim.run(0);
  const at = (t: Ns, fn: () => void): void => {
    sim.at(t, sim.register("test.event", fn));
  };
  return { sim, k, at };
}

/** A CPU-bound thread: 100 µs segments forever. */
function hog(k: Kernel, name: string, nice = 0): KThread {
  return k.spawn(
    name,
    0,
    function* (): KernelCode {
      for (;;) yield k.cpu(us(100), CAT_APP);
    },
    nice,
  );
}

describe("CFS constants (kernel/sched_fair.c, kernel/sched.c v3.2)", () => {
  it("weights nice values by prio_to_weight", () => {
    expect([niceToWeight(-20), niceToWeight(0), niceToWeight(5), niceToWeight(19)]).toEqual([
      88761, 1024, 335, 15,
    ]);
    expect(() => niceToWeight(20)).toThrow(ModelError);
    expect(() => niceToWeight(0.5)).toThrow(/nice must be an integer in \[-20, 19\], got 0.5/);
  });

  it("scales the tunables by 1 + ilog2(min(cpus, 8))", () => {
    expect([1, 2, 3, 4, 8, 64].map(sysctlFactor)).toEqual([1, 2, 2, 3, 4, 4]);
    expect(cfsTunables(2)).toEqual({
      latency: ms(12),
      minGranularity: us(1500),
      wakeupGranularity: ms(2),
      nrLatency: 8,
    });
  });

  it("converts real time to vruntime at NICE_0_LOAD / weight", () => {
    expect(calcDeltaFair(ms(1), NICE_0_LOAD)).toBe(ms(1));
    expect(calcDeltaFair(ms(1), 15)).toBe(Math.round((ms(1) * 1024) / 15));
  });

  it("keeps the queue sorted by vruntime, first come first on ties", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 40 }), (vrs) => {
        const rq = new CfsRq<SchedEntity & { id: number }>(cfsTunables(1));
        vrs.forEach((v, id) =>
          rq.insert({ id, vruntime: v, weight: 1024, sumExecRuntime: 0, prevSumExecRuntime: 0 }),
        );
        const out: number[] = [];
        for (let se = rq.popFirst(); se !== undefined; se = rq.popFirst()) out.push(se.id);
        const expected = vrs.map((v, id) => ({ v, id })).sort((a, b) => a.v - b.v || a.id - b.id);
        expect(out).toEqual(expected.map((e) => e.id));
      }),
    );
  });
});

describe("CFS on a vCPU", () => {
  it("runs a kworker woken after a long sleep before the kswapd that is running (GENTLE_FAIR_SLEEPERS)", () => {
    const { sim, k, at } = setup(100);
    const wq = new WaitQueue("refill");
    hog(k, "kswapd0"); // vruntime 12 ms
    let ranAt = -1;
    let placedAt = -1;
    const kworker = k.spawn("kworker/0:0", 0, function* (): KernelCode {
      // vruntime 9 ms: runs first, then sleeps until the event below.
      yield k.waitOn(wq);
      ranAt = k.now;
      placedAt = kworker.vruntime;
      yield k.cpu(us(50));
      yield k.waitOn(wq);
    });
    at(us(12_050), () => k.wakeAll(wq));
    sim.run(ms(13));
    // At 12.05 ms kswapd's vruntime is 12 + 12.05 ms; the kworker is placed sched_latency/2 behind
    // (21.05 ms), 3 ms > the 1 ms wake-up granularity: it preempts at kswapd's next segment end,
    // not at the next HZ=100 tick (20 ms).
    expect(placedAt).toBe(us(21_050));
    expect(ranAt).toBe(us(12_100));
  });

  it("lets a waking thread preempt only when it is behind by more than the wake-up granularity", () => {
    for (const [wakeAt, expected] of [
      // kswapd is 12.55 ms, the sleeper 12.5 ms (it ran 3.5 ms): 0.05 ms < 1 ms, no preemption; the
      // HZ=100 tick at 10 ms finds kswapd 6.5 ms into a 3 ms slice and the sleeper leftmost.
      [us(4_050), ms(10)],
      // kswapd is 14.15 ms: 1.65 ms > 1 ms, the sleeper preempts at kswapd's next segment end.
      [us(5_650), us(5_700)],
    ] as const) {
      const { sim, k, at } = setup(100);
      const wq = new WaitQueue("w");
      hog(k, "kswapd0");
      let ranAt = -1;
      k.spawn("sleeper", 0, function* (): KernelCode {
        yield k.cpu(us(3_500));
        yield k.waitOn(wq);
        ranAt = k.now;
        yield k.waitOn(wq);
      });
      at(wakeAt, () => k.wakeAll(wq));
      sim.run(ms(11));
      expect(ranAt).toBe(expected);
    }
  });

  it("places a new thread one vslice after min_vruntime (START_DEBIT)", () => {
    const { sim, k, at } = setup(1000);
    hog(k, "hog"); // vruntime 12 ms, alone from 0
    let child: KThread | null = null;
    let ranAt = -1;
    at(us(10_050), () => {
      child = k.spawn("child", 0, function* (): KernelCode {
        ranAt = k.now;
        yield k.waitOn(new WaitQueue("never"));
      });
    });
    sim.run(ms(20));
    // min_vruntime = the hog's 22.05 ms; vslice = 6 ms × 1024/2048. The tick at 11 ms re-picks the
    // hog (23 < 25.05) and starts its slice again; at 15 ms it is 4 ms into a 3 ms slice.
    expect(child!.vruntime).toBe(us(25_050));
    expect(ranAt).toBe(ms(15));
  });

  it("shares the CPU between nice 0 and nice 5 as 1024:335", () => {
    const { sim, k } = setup(250);
    const a = hog(k, "nice0");
    const b = hog(k, "nice5", 5);
    sim.run(ms(3000));
    // Equal vruntime ⇒ runtime in proportion to weight: 3 s × 335/1359 = 739.5 ms for nice 5. The
    // lag is at most one slice rounded up to the 4 ms tick.
    expect(a.sumExecRuntime + b.sumExecRuntime).toBe(ms(3000));
    expect(Math.abs(b.sumExecRuntime - (ms(3000) * 335) / 1359)).toBeLessThanOrEqual(ms(4));
    expect(Math.abs(a.vruntime - b.vruntime)).toBeLessThanOrEqual(ms(6) + ms(4));
  });

  it("gives a nice 19 thread its 15/1039 share", () => {
    const { sim, k } = setup(250);
    hog(k, "nice0");
    const low = hog(k, "nice19", 19);
    sim.run(ms(3000));
    // 3 s × 15/1039 = 43.3 ms; it runs one 4 ms tick at a time, each worth 273 ms of vruntime.
    expect(Math.abs(low.sumExecRuntime - (ms(3000) * 15) / 1039)).toBeLessThanOrEqual(ms(4));
  });
});
