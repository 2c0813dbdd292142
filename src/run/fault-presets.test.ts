/**
 * The fault-injection presets pin mechanisms, not numbers: who keeps the ring filled when only
 * atomic allocations fail, how each driver waits while every allocation fails, and try_fill_recv
 * stopping at its first -ENOMEM. The refill mechanisms of 6.1's refill rules are pinned on
 * `mainline-3.2buf`, where the receive path's allocations are the refill's; `mainline`'s 6.1 buffers
 * also allocate at receive (build_skb), which the last fault-atomic test pins.
 */
import { describe, expect, it } from "vitest";
import type { KernelCode } from "../guest/sched/kernel.ts";
import { ENOMEM } from "../guest/net/virtio_net/virtnet.ts";
import { ms, sec } from "../sim/time.ts";
import { resolveScenario, run } from "./run.ts";
import { System } from "./system.ts";

/** The retry refill_work arms after a failed fill: HZ/2 jiffies at the presets' HZ 250. */
const HALF_SECOND = ms(500);
/** One jiffy at HZ 250: the timer fires on a tick, the worker starts a little after its wake-up. */
const JIFFY = ms(4);

/** Each gap is HZ/2, give or take the jiffy the timer and the worker's wake-up round it by. */
function expectHalfSecondRetries(times: readonly number[]): void {
  expect(times.length).toBeGreaterThanOrEqual(3);
  for (const gap of spacings(times)) {
    expect(gap).toBeGreaterThan(HALF_SECOND - JIFFY);
    expect(gap).toBeLessThan(HALF_SECOND + JIFFY);
  }
}

function spacings(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

describe("fault-atomic: only GFP_ATOMIC receive allocations fail (from 4 s)", () => {
  it.each(["patch1", "rfc-v1", "mainline-3.2buf"])("%s keeps delivering through refill_work", (driver) => {
    const r = run("fault-atomic", { driver, duration: "6s" });
    expect(r.faults.alloc.reduce((n, a) => n + a.injected, 0)).toBeGreaterThan(100);
    const oom = r.guest.tryFillOom as Record<string, number>;
    expect(oom.GFP_ATOMIC).toBeGreaterThan(10);
    expect(oom.GFP_KERNEL).toBeUndefined();
    const after = r.refillRunTimes.filter((t) => t >= sec(4));
    expect(after.length).toBeGreaterThan(20);
    // Every 100 ms sample after the ring would have drained delivers data.
    r.series.t.forEach((t, i) => {
      if (t > ms(4_500)) expect(r.series.goodputBps[i]).toBeGreaterThan(1e6);
    });
    expect(r.stalls.count).toBe(0);
  });

  it("v3.2 (small mode) stops and retries refill_work every HZ/2, its GFP_ATOMIC skb failing there too", () => {
    const r = run("fault-atomic", { driver: "v3.2", duration: "6s" });
    expect(r.scenarioConfig).toMatchObject({ guest: { driver: { rxMode: "small" } } });
    const oom = r.guest.tryFillOom as Record<string, number>;
    expect(oom.GFP_KERNEL).toBeGreaterThanOrEqual(3);
    expectHalfSecondRetries(r.refillRunTimes.filter((t) => t >= sec(4)));
    r.series.t.forEach((t, i) => {
      if (t > ms(4_500)) expect(r.series.goodputBps[i]).toBe(0);
    });
    expect(r.stalls.count).toBe(1);
  });

  it("mainline (6.1 buffers) drops every packet after 4 s: build_skb allocates its head GFP_ATOMIC at receive", () => {
    const r = run("fault-atomic", { driver: "mainline", duration: "6s" });
    expect(r.guest.rxSkbAllocFailures).toBeGreaterThan(100);
    expect((r.guest.tryFillOom as Record<string, number>).GFP_KERNEL).toBeUndefined();
    r.series.t.forEach((t, i) => {
      if (t > ms(4_500)) expect(r.series.goodputBps[i]).toBe(0);
    });
  });
});

describe("fault-window: every receive allocation fails from 6 s to 8 s", () => {
  it("v3.2 retries refill_work every HZ/2", () => {
    const r = run("fault-window", { driver: "v3.2", duration: "8500ms" });
    expectHalfSecondRetries(r.refillRunTimes.filter((t) => t >= sec(6) && t < sec(8)));
  });

  // The worker pays process_one_work and the work's CPU time before the next item, so the spin
  // advances time (workqueue.ts).
  it("mainline-3.2buf re-runs refill_work back to back: its poll re-queues it from virtnet_napi_enable", () => {
    const r = run("fault-window", { driver: "mainline-3.2buf", duration: "8500ms" });
    // The first 500 ms of the window.
    const inWindow = r.refillRunTimes.filter((t) => t >= sec(6) && t < sec(6) + ms(500));
    // Far more often than HZ/2, with time advancing between runs.
    expect(inWindow.length).toBeGreaterThan(100);
    expect(inWindow.at(-1)! - inWindow[0]!).toBeGreaterThan(ms(400));
    for (const gap of spacings(inWindow)) expect(gap).toBeLessThan(JIFFY);
  });
});

describe("fault-partial: 5 % of receive allocations fail", () => {
  /** Per try_fill_recv call: the add_recvbuf results in order, and the free descriptors left. */
  function fills(driver: string) {
    const sys = new System(resolveScenario("fault-partial", { driver, duration: "5s" }));
    // Each step has a generator (process context) and a plain NoWait form (the poll's GFP_ATOMIC).
    const d = sys.driver as unknown as {
      addRecvbuf(gfp: number): KernelCode<number>;
      tryFillRecv(gfp: number): KernelCode<boolean>;
      addRecvbufNoWait(gfp: number): number;
      tryFillRecvNoWait(gfp: number): boolean;
    };
    const out: { results: number[]; numFree: number }[] = [];
    let cur: number[] = [];
    const added = (err: number) => {
      cur.push(err);
      return err;
    };
    const filled = (ok: boolean) => {
      out.push({ results: cur, numFree: sys.vq.numFree });
      return ok;
    };
    const { addRecvbuf, tryFillRecv, addRecvbufNoWait, tryFillRecvNoWait } = d;
    d.addRecvbuf = function* (gfp) {
      return added(yield* addRecvbuf.call(this, gfp));
    };
    d.addRecvbufNoWait = (gfp) => added(addRecvbufNoWait.call(d, gfp));
    d.tryFillRecv = function* (gfp) {
      cur = [];
      return filled(yield* tryFillRecv.call(this, gfp));
    };
    d.tryFillRecvNoWait = (gfp) => {
      cur = [];
      return filled(tryFillRecvNoWait.call(d, gfp));
    };
    sys.sim.run(sec(5));
    return out;
  }

  it.each(["v3.2", "mainline-3.2buf"])("%s: try_fill_recv stops at the first -ENOMEM", (driver) => {
    const all = fills(driver);
    const failed = all.filter((f) => f.results.includes(-ENOMEM));
    expect(failed.length).toBeGreaterThan(10);
    for (const f of failed) expect(f.results.indexOf(-ENOMEM)).toBe(f.results.length - 1);
    // Stopped with room left in the ring: the failure, not the ring, ended the fill.
    expect(failed.filter((f) => f.numFree > 0).length).toBe(failed.length);
  });
});

describe("fault injection and the seed", () => {
  // fault-partial's injectors moved to 1 s so that a 2 s run sees a second of failures.
  const early = ["warmup=200ms", "faults.alloc[0].at=1s", "faults.alloc[1].at=1s"];
  const summary = (seed: number, set: string[] = []) => {
    const {
      wallMs: _w,
      eventsPerSecond: _e,
      ...rest
    } = run("fault-partial", {
      seed,
      duration: "2s",
      set: [...early, ...set],
    });
    return rest;
  };

  it("draws from each injector's own stream: same seed, same run; another seed, other failures", () => {
    const a = summary(3);
    expect(a.faults.alloc[1]!.injected).toBeGreaterThan(10);
    expect(JSON.stringify(summary(3))).toBe(JSON.stringify(a));
    expect(summary(4).faults.injectedBySite).not.toEqual(a.faults.injectedBySite);
    // A third injector that never fails draws only from its own stream: nothing else moves.
    const quiet = summary(3, [
      "faults.alloc[2]={type: failslab, probability: 0, times: -1, ignoreGfpWait: false}",
    ]);
    expect(quiet.fingerprint).toBe(a.fingerprint);
    expect(quiet.faults.alloc[2]!.calls).toBeGreaterThan(0);
  });
});
