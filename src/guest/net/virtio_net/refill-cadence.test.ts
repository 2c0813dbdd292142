/**
 * When refill_work runs: the HZ/2 retry of v3.2 under allocation failures that nothing can relieve
 * (model.md §1 steps 3–5, "memory polled every half second"), and rfc-v1's uninitialised `oom`.
 */
import { describe, expect, it } from "vitest";
import { ms, sec } from "../../../sim/time.ts";
import { DriverHarness, type RefillRun, SMALL_GUEST } from "./testing.ts";

/**
 * For each run that re-armed itself with schedule_delayed_work(refill, d > 0): the re-arm's delay
 * in jiffies and the jiffies from the re-arm to the start of the next run.
 */
function retries(h: DriverHarness, runs: RefillRun[]): { delay: number; jiffies: number }[] {
  const j = h.k.jiffies;
  const out: { delay: number; jiffies: number }[] = [];
  runs.forEach((run, i) => {
    const next = runs[i + 1];
    const arm = run.during.find((e) => /^schedule_delayed_work\(refill, [1-9]/.test(e.fn));
    if (arm === undefined || next === undefined) return;
    out.push({ delay: Number(/, (\d+)\)/.exec(arm.fn)![1]), jiffies: j.at(next.start.t) - j.at(arm.t) });
  });
  return out;
}

describe("v3.2 with GFP_ATOMIC failing and nothing reclaimable", () => {
  // refill_work re-arms with schedule_delayed_work(&vi->refill, HZ/2). queue_delayed_work_on arms
  // the timer through add_timer → mod_timer → apply_slack (kernel/timer.c, v3.2): a timer with the
  // default slack that is ≥ 256 jiffies away may expire up to delta/256 jiffies late, rounded to
  // clear low bits, so HZ/2 = 500 jiffies at HZ=1000 becomes 501; at HZ 100 and 250 (50 and 125
  // jiffies) it is exact.
  it.each([
    { hz: 100, jiffies: 50, spacing: ms(500) },
    { hz: 250, jiffies: 125, spacing: ms(500) },
    { hz: 1000, jiffies: 501, spacing: ms(501) },
  ])(
    "HZ=$hz: refill_work retries every $jiffies jiffies and the driver delivers nothing in between",
    ({ hz, jiffies, spacing }) => {
      const h = new DriverHarness(SMALL_GUEST, { set: [`guest.hz=${hz}`] });
      h.runTo(ms(100));
      h.squeeze();
      // Free memory sits at the GFP_ATOMIC floor, about 3/8 of WMARK_MIN, with nothing to reclaim
      // (buddy pages: the last allocation's pcp refill may have taken it up to batch - 1 below).
      expect(h.mm.nrFree).toBeLessThanOrEqual(h.atomicFloor);
      expect(h.mm.nrFree).toBeGreaterThan(h.atomicFloor - h.mm.pcp.batch);
      expect(h.atomicFloor - 2).toBe((h.mm.wmark.min * 3) / 8);
      const posted = h.driver.stats.buffersPosted;
      expect(h.runUntil(() => h.driver.refill.runs >= 4, sec(3))).toBe(true);
      h.runFor(ms(100));

      const runs = h.refillRuns();
      for (const run of runs) {
        expect(run.during.map((e) => e.fn)).toContain("try_fill_recv(GFP_KERNEL) = oom");
      }
      expect(retries(h, runs)).toEqual(runs.slice(1).map(() => ({ delay: hz / 2, jiffies })));
      // From the second run on the ring is dry and the vCPU idle: each run starts on its timer tick.
      const starts = runs.map((r) => r.start.t);
      expect(starts.slice(2).map((t, i) => t - starts[i + 1]!)).toEqual(starts.slice(2).map(() => spacing));

      // Nothing is posted after the squeeze and, once the ring is dry, nothing is received, while the
      // host holds packets for the guest.
      expect(h.driver.stats.buffersPosted).toBe(posted);
      const dry = runs[1]!.start;
      expect(dry.num).toBe(0);
      expect(h.driver.stats.rxPackets).toBe(dry.rx);
      expect(h.host.tap.queued).toBeGreaterThan(0);
      expect(h.host.noRxAvailBuffer).toBeGreaterThan(0);
    },
  );
});

describe("v3.2 refill_work's failed allocation", () => {
  it("pays warn_alloc_failed with NAPI still disabled", () => {
    // The harness turns the warning's console time off; this test needs it.
    const h = new DriverHarness(SMALL_GUEST, { set: ["guest.hz=1000", "guest.costs.allocFailWarning=25ms"] });
    h.runTo(ms(100));
    h.squeeze();
    // NAPI's disabled span in each finished refill_work run, and the warnings printed within it
    // (nopage_rs allows 10 per 5 s: the softirq's failed refills may have used them up for a while).
    const spans = () =>
      h.refillRuns().flatMap((run) => {
        const all = [run.start, ...run.during];
        const off = all.find((e) => e.fn === "napi_disable done");
        const on = all.find((e) => e.fn === "virtnet_napi_enable");
        return off === undefined || on === undefined
          ? []
          : [{ ns: on.t - off.t, warned: on.warned - off.warned }];
      });
    expect(h.runUntil(() => spans().some((s) => s.warned > 0), sec(12))).toBe(true);
    // add_recvbuf_small's skb is GFP_ATOMIC: no show_mem page walk, the printed text only.
    const warning = h.sys.scenario.guest.costs.allocFailWarning;
    expect(warning).toBe(ms(25));
    for (const s of spans()) expect(s.ns).toBeGreaterThanOrEqual(s.warned * warning);
  });
});

describe("rfc-v1's uninitialised `bool oom`", () => {
  // A slow flow: only the refills matter here, and memory is plentiful.
  const set = ["network.senders[0].rate=20Mbit/s", "guest.driver.version=rfc-v1"];

  it("read as true: every fill reports OOM, so refill_work re-arms itself every HZ/2 with a full ring", () => {
    const h = new DriverHarness(SMALL_GUEST, { set: [...set, "guest.driver.rfcOomInit=true"] });
    expect(h.runUntil(() => h.driver.refill.runs >= 4, sec(3))).toBe(true);
    const runs = h.refillRuns().filter((r) => r.end !== null);
    expect(runs.length).toBeGreaterThanOrEqual(3);
    for (const run of runs) {
      expect(run.during.map((e) => e.fn)).toContain("try_fill_recv(GFP_KERNEL) = oom");
      expect(run.end!.free).toBe(0);
    }
    expect(retries(h, runs)).toEqual(runs.slice(1).map(() => ({ delay: 125, jiffies: 125 })));
    expect(h.mm.failuresByGfp.size).toBe(0);
  });

  it("read as false: no allocation fails, so refill_work never runs", () => {
    const h = new DriverHarness(SMALL_GUEST, { set: [...set, "guest.driver.rfcOomInit=false"] });
    h.runTo(sec(1.5));
    expect(h.driver.stats.tryFillCalls.GFP_ATOMIC).toBeGreaterThan(3);
    expect(h.driver.stats.tryFillOom).toEqual({});
    expect(h.driver.refill.runs).toBe(0);
  });
});
