import { describe, expect, it } from "vitest";
import { ms, sec } from "../../../../sim/time.ts";
import { BIG_PAGES, PAGE_SIZE, type RxMode } from "../constants.ts";
import { invariantRun, policyHarness } from "./policy-testing.ts";
import { RESERVE_POOL_BYTES, RESERVE_REFILL_AFTER_SHRINK, type ReservePool } from "./reserve_pool.ts";

/** Buffers posted from the squeeze (reclaimable page cache left) until refill_work first runs. */
function postedBeforeRefillWork(mode: RxMode, onEvent: (d: ReservePool) => void) {
  // Polls of 128 (3.2's weight) drain the pool within the test's second; at mainline's 64 the pool's
  // process-context refill keeps up in mergeable mode and refill_work is never needed. The squeeze
  // holds every freed skb until releaseHeld, which leaves refill_work's GFP_KERNEL allocation nothing
  // to reclaim and nothing to kill: 6.1's should_reclaim_retry would end in the OOM killer's panic,
  // 3.2's rule keeps it retrying until the memory comes back, which is what this test watches.
  const h = policyHarness("reserve-pool", mode, { set: ["guest.driver.napiWeight=128", "guest.kernel=3.2"] });
  h.sim.afterEvent = () => onEvent(h.driver as ReservePool);
  h.runTo(ms(100));
  h.squeeze(2048);
  const posted = h.driver.stats.buffersPosted;
  expect(h.runUntil(() => h.driver.refill.runs > 0, sec(1))).toBe(true);
  return { h, posted: h.driver.stats.buffersPosted - posted };
}

describe("reserve-pool", () => {
  it.each([
    { mode: "small", cap: 113 },
    { mode: "mergeable", cap: 64 },
  ] as const)(
    "fills the pool at probe and never holds more than RESERVE_POOL_BYTES ($mode)",
    ({ mode, cap }) => {
      let most = 0;
      const { h, posted } = postedBeforeRefillWork(mode, (pool) => {
        most = Math.max(most, pool.reserveCount);
      });
      const d = h.driver as ReservePool;
      expect(d.reserveCap).toBe(cap);
      expect(cap * d.bufferBytes).toBeLessThanOrEqual(RESERVE_POOL_BYTES);
      expect(most).toBe(cap);
      // Failed atomic allocations took buffers from the pool, and the driver fell back to
      // refill_work only once it was empty (mempool_alloc: the pool before failing).
      expect(d.reserveTaken).toBeGreaterThanOrEqual(cap);
      expect(posted).toBeGreaterThanOrEqual(d.reserveTaken);
      expect(d.reserveCount).toBe(0);
      h.runTo(ms(400));
      h.releaseHeld();
      h.runFor(ms(100));
      expect(most).toBe(cap);
      expect(d.reserveCount).toBe(cap);
      expect(d.heldBytes() - d.pagesCount * PAGE_SIZE).toBe(cap * d.bufferBytes);
    },
  );

  it("is not touched while allocations succeed", () => {
    const h = policyHarness("reserve-pool", "small");
    h.runTo(ms(300));
    const d = h.driver as ReservePool;
    expect(d.stats.rxPackets).toBeGreaterThan(1000);
    expect(d.reserveTaken).toBe(0);
    expect(d.reserveCount).toBe(d.reserveCap);
  });

  it("gives the pool back to reclaim through its shrinker, and refills it a second later", () => {
    const h = policyHarness("reserve-pool", "mergeable");
    h.runTo(ms(100));
    const d = h.driver as ReservePool;
    expect(d.reserveCount).toBe(d.reserveCap);
    const free = () => h.mm.nrFree + h.mm.pcp.total;
    // A DEFAULT_SEEKS shrinker of 64 buffers: nothing at DEF_PRIORITY, everything at priority 0.
    expect(h.mm.shrinkers.shrink(12)).toBe(0);
    const before = free();
    expect(h.mm.shrinkers.shrink(0)).toBe(d.reserveCap);
    expect(free() - before).toBe(d.reserveCap);
    expect(d.reserveShrunk).toBe(d.reserveCap);
    expect(d.reserveCount).toBe(0);
    expect(d.heldBytes()).toBe(d.pagesCount * PAGE_SIZE);
    h.runTo(ms(100) + sec(RESERVE_REFILL_AFTER_SHRINK) - ms(10));
    expect(d.reserveCount).toBe(0);
    h.runFor(ms(50));
    expect(d.reserveCount).toBe(d.reserveCap);
  });

  it.each(["small", "big", "mergeable"] as const)("keeps the page invariant (%s)", (mode) => {
    const pages = mode === "small" ? 0 : mode === "big" ? BIG_PAGES : 1;
    const h = invariantRun("reserve-pool", mode, (d) => (d as ReservePool).reserveCount * pages);
    expect((h.driver as ReservePool).reserveTaken).toBeGreaterThan(0);
  });
});
