/**
 * refill_work under pressure that reclaim can relieve (clean page cache): whose allocations enter
 * direct reclaim (patch 1 in small mode; v3.2 already in mergeable mode, kernel-facts §1.4), and
 * whether packets are processed while the worker sleeps there (seed patch 2).
 */
import { describe, expect, it } from "vitest";
import { EV_ALLOCSTALL, EV_PGSCAN_DIRECT } from "../../mm/events.ts";
import { SWAP_CLUSTER_MAX } from "../../mm/mm.ts";
import { ms, sec } from "../../../sim/time.ts";
import { DriverHarness, type RefillRun, SMALL_GUEST, type TraceEntry } from "./testing.ts";

/** 32 MiB of clean page cache: plenty to reclaim. */
const RECLAIMABLE = 8192;
/**
 * Mergeable buffers with four flows: under pressure page_to_skb's GFP_ATOMIC head skb fails and
 * drops packets, stalling a lone flow on retransmission timeouts; four keep the ring draining.
 */
const MERGEABLE = ["guest.driver.features.mrgRxbuf=true", "network.senders[0].count=4"];

/** Squeezes at 100 ms and runs until the first refill_work that entered direct reclaim has ended. */
function firstReclaimingRefill(h: DriverHarness): RefillRun {
  h.runTo(ms(100));
  h.squeeze(RECLAIMABLE);
  const ev = h.mm.ev;
  const done = h.runUntil(() => ev[EV_ALLOCSTALL]! > 0 && h.driver.refill.running === 0, sec(1));
  expect(done).toBe(true);
  return h.refillRuns().find((r) => r.end !== null && r.end.allocstall > r.start.allocstall)!;
}

const fns = (entries: TraceEntry[]) => entries.map((e) => e.fn);

describe("patch1 with clean page cache to reclaim", () => {
  it("refills the whole ring in one refill_work run after direct reclaim, taking simulated time", () => {
    const h = new DriverHarness(SMALL_GUEST, { driver: "patch1" });
    const run = firstReclaimingRefill(h);
    const end = run.end!;
    expect(h.mm.ev[EV_PGSCAN_DIRECT]).toBeGreaterThan(0);
    expect(fns(run.during)).toContain("kmem_cache_alloc(GFP_KERNEL) sleeps in the slow path");
    expect(fns(run.during)).toContain("try_fill_recv(GFP_KERNEL) = ok");
    // The ring is full again and nothing is re-armed.
    expect(end.free).toBe(0);
    expect(end.num).toBe(h.driver.max);
    expect(run.during.filter((e) => e.fn.startsWith("schedule_delayed_work"))).toEqual([]);
    // The worker paid at least one SWAP_CLUSTER_MAX batch of reclaim scanning.
    const scanCost = h.sys.scenario.guest.costs.reclaimPerPage;
    expect(end.t - run.start.t).toBeGreaterThanOrEqual(SWAP_CLUSTER_MAX * scanCost);
  });
});

describe("v3.2 in the same state", () => {
  it("small mode: the skbs stay GFP_ATOMIC, so refill_work never reclaims and re-arms HZ/2 later", () => {
    const h = new DriverHarness(SMALL_GUEST);
    h.runTo(ms(100));
    h.squeeze(RECLAIMABLE);
    expect(h.runUntil(() => h.driver.refill.runs >= 3, sec(2))).toBe(true);
    expect(h.mm.ev[EV_PGSCAN_DIRECT]).toBe(0);
    expect(h.mm.ev[EV_ALLOCSTALL]).toBe(0);
    const runs = h.refillRuns();
    const rearmed = runs.findIndex((r) =>
      fns(r.during).includes("schedule_delayed_work(refill, 125) queued"),
    );
    expect(rearmed).toBeGreaterThanOrEqual(0);
    expect(fns(runs[rearmed]!.during)).toContain("try_fill_recv(GFP_KERNEL) = oom");
    const j = h.k.jiffies;
    const arm = runs[rearmed]!.during.find((e) => e.fn.startsWith("schedule_delayed_work"))!;
    expect(j.at(runs[rearmed + 1]!.start.t) - j.at(arm.t)).toBe(125);
  });

  it("mergeable mode: refill_work's pages are GFP_KERNEL and reclaim, filling the ring in one run", () => {
    const h = new DriverHarness(SMALL_GUEST, { set: MERGEABLE });
    const run = firstReclaimingRefill(h);
    expect(fns(run.during)).toContain("alloc_page(GFP_KERNEL) sleeps in the slow path");
    expect(run.end!.free).toBe(0);
    expect(run.during.filter((e) => e.fn.startsWith("schedule_delayed_work"))).toEqual([]);
  });
});

describe("packets during a refill_work sleeping in reclaim (mergeable mode)", () => {
  // Reclaim slow enough (20 µs per page scanned, as for mapped pages) that one refill lasts
  // milliseconds: several packets reach the ring while the worker reclaims.
  const set = [...MERGEABLE, "guest.costs.reclaimPerPage=20us"];

  it("rfc-v1 keeps receiving: NAPI polls while the worker sleeps in the allocator", () => {
    const h = new DriverHarness(SMALL_GUEST, { driver: "rfc-v1", set });
    const run = firstReclaimingRefill(h);
    const d = run.during;
    const sleep = d.findIndex((e) => e.fn === "alloc_page(GFP_KERNEL) sleeps in the slow path");
    const woke = d.findIndex((e, i) => i > sleep && e.fn.startsWith("alloc_page returned"));
    expect(sleep).toBeGreaterThanOrEqual(0);
    expect(d[woke]!.allocstall).toBeGreaterThan(d[sleep]!.allocstall);
    const polls = d.slice(sleep, woke).filter((e) => e.fn.startsWith("virtnet_poll"));
    expect(polls.length).toBeGreaterThan(0);
    expect(d[woke]!.rx).toBeGreaterThan(d[sleep]!.rx);
  });

  it("v3.2 does not: NAPI is disabled, received buffers wait until virtnet_napi_enable", () => {
    const h = new DriverHarness(SMALL_GUEST, { set });
    const run = firstReclaimingRefill(h);
    const end = run.end!;
    const disabled = run.during.find((e) => e.fn === "napi_disable done")!;
    const enabled = run.during.find((e) => e.fn === "virtnet_napi_enable")!;
    expect(run.during.filter((e) => e.fn.startsWith("virtnet_poll"))).toEqual([]);
    // The host filled buffers meanwhile; none was received until NAPI came back.
    expect(enabled.hostRx).toBeGreaterThan(disabled.hostRx);
    expect(enabled.rx).toBe(disabled.rx);
    h.runFor(ms(20));
    const next = h.trace.find((e) => e.t >= end.t && e.fn.startsWith("virtnet_poll"))!;
    expect(next.rx).toBeGreaterThan(end.rx);
  });
});
