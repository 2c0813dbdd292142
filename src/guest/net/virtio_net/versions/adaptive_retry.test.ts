import { describe, expect, it } from "vitest";
import { EV_ALLOCFAIL_ATOMIC, EV_ALLOCFAIL_PROCESS, EV_ALLOCFAIL_WARNED } from "../../../mm/events.ts";
import { gfpName } from "../../../mm/gfp.ts";
import { ms, sec } from "../../../../sim/time.ts";
import { ADAPTIVE_GFP, type AdaptiveRetry } from "./adaptive_retry.ts";
import { invariantRun, policyHarness } from "./policy-testing.ts";

/** `driver` with memory squeezed (nothing reclaimable by default) once traffic runs. */
function squeezed(hz: number, driver = "adaptive-retry", reclaimable = 0, kernel = "auto") {
  const h = policyHarness(driver, "small", { set: [`guest.hz=${hz}`, `guest.kernel=${kernel}`] });
  h.runTo(ms(100));
  h.squeeze(reclaimable);
  return { h, d: h.driver as AdaptiveRetry };
}

/**
 * Squeezed until the ring is empty and the retry backed off, then pages up to 64 above WMARK_MIN
 * come back: the retry's GFP_KERNEL fill posts buffers, and runs until buffers are posted (packets,
 * so polls) while a retry of at least 4 jiffies is armed.
 */
function backedOffWithBuffers() {
  // On 3.2's watermark test (2 pages held back) the 64 pages returned below let the poll's atomic
  // refill add some buffers and then fail; 6.1's pcp lists keep more of them from the buddy check.
  const { h, d } = squeezed(250, "adaptive-retry", 0, "3.2");
  expect(h.runUntil(() => d.delayJiffies >= 32 && d.refill.pending, sec(2))).toBe(true);
  h.releasePages(h.mm.wmark.min + 64 - h.mm.nrFree);
  expect(h.runUntil(() => d.num > 0 && d.delayJiffies >= 4 && d.refill.pending, h.now + sec(1))).toBe(true);
  return { h, d };
}

describe("adaptive-retry", () => {
  it.each([
    { hz: 250, gaps: [1, 2, 4, 8, 16, 32, 64, 125, 125] },
    // mod_delayed_work arms its timer with add_timer, whose slack makes 256 and 500 jiffies 257 and 501.
    { hz: 1000, gaps: [1, 2, 4, 8, 16, 32, 64, 128, 257, 501, 501] },
  ])("HZ=$hz: retries after 1, 2, 4, … jiffies, backing off to HZ/2", ({ hz, gaps }) => {
    const { h, d } = squeezed(hz);
    expect(h.runUntil(() => d.refill.runs > gaps.length, sec(5))).toBe(true);
    const j = h.k.jiffies;
    const starts = d.stats.refillRunTimes.map((t) => j.at(t));
    expect(starts.slice(1).map((t, i) => t - starts[i]!)).toEqual(gaps);
    // Each finished fill (the last run has just started) stopped at its first allocation, which
    // reclaimed once and failed (__GFP_NORETRY): no OOM kill to make room.
    expect(d.stats.tryFillOom[gfpName(ADAPTIVE_GFP)]).toBe(gaps.length);
    expect(h.mm.ev[EV_ALLOCFAIL_PROCESS]).toBe(gaps.length);
    expect(h.mm.oomKills).toHaveLength(0);
  });

  it("starts again at one jiffy after a fill that succeeds", () => {
    const { h, d } = squeezed(250);
    expect(h.runUntil(() => d.delayJiffies >= 16 && d.refill.pending, sec(2))).toBe(true);
    h.releaseHeld();
    h.runFor(ms(300));
    expect(d.delayJiffies).toBe(0);
    expect(d.num).toBeGreaterThan(d.max / 2);
    h.squeeze();
    const runs = d.refill.runs;
    expect(h.runUntil(() => d.refill.runs >= runs + 3, sec(1))).toBe(true);
    const j = h.k.jiffies;
    const starts = d.stats.refillRunTimes.slice(runs).map((t) => j.at(t));
    expect(starts.slice(1).map((t, i) => t - starts[i]!)).toEqual([1, 2]);
  });

  it("a poll whose atomic refill makes progress brings a backed-off retry forward to one jiffy", () => {
    const { h, d } = backedOffWithBuffers();
    // A few pages come back: the next poll's GFP_ATOMIC refill adds some buffers, then fails.
    h.releasePages(16);
    expect(h.runUntil(() => d.retriesBroughtForward > 0, h.now + ms(100))).toBe(true);
    const j = h.k.jiffies;
    const broughtAt = j.at(h.now);
    const runs = d.refill.runs;
    expect(h.runUntil(() => d.refill.runs > runs, h.now + sec(1))).toBe(true);
    expect(j.at(d.stats.refillRunTimes[runs]!) - broughtAt).toBe(1);
    expect(d.retriesBroughtForward).toBe(1);
  });

  it("a poll that fills the ring cancels the pending retry", () => {
    const { h, d } = backedOffWithBuffers();
    const runs = d.refill.runs;
    const cancelled = d.retriesCancelled;
    h.releaseHeld();
    expect(h.runUntil(() => d.retriesCancelled > cancelled, h.now + ms(100))).toBe(true);
    expect(d.refill.pending).toBe(false);
    expect(d.delayJiffies).toBe(0);
    h.runFor(ms(600));
    expect(d.refill.runs).toBe(runs);
    expect(d.num).toBeGreaterThan(d.max / 2);
  });

  it("its failed allocations never print warn_alloc_failed, where plain GFP_ATOMIC ones do (v3.2)", () => {
    const warned = (driver: string) => {
      // Reclaimable page cache, so mainline's GFP_KERNEL refill_work finds memory without the OOM killer.
      const { h } = squeezed(250, driver, 2048);
      h.runFor(ms(500));
      expect(h.mm.ev[EV_ALLOCFAIL_ATOMIC]).toBeGreaterThan(0);
      return h.mm.ev[EV_ALLOCFAIL_WARNED];
    };
    expect(warned("adaptive-retry")).toBe(0);
    expect(warned("v3.2")).toBeGreaterThan(0);
  });

  it.each(["small", "big", "mergeable"] as const)("keeps the page invariant (%s)", (mode) => {
    const h = invariantRun("adaptive-retry", mode);
    expect(h.mm.ev[EV_ALLOCFAIL_ATOMIC]).toBeGreaterThan(0);
  });
});
