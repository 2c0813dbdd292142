import { describe, expect, it } from "vitest";
import { EV_ALLOCFAIL_PROCESS } from "../../../mm/events.ts";
import { gfpName } from "../../../mm/gfp.ts";
import { ms, sec } from "../../../../sim/time.ts";
import { ADAPTIVE_GFP, type AdaptiveRetry } from "./adaptive_retry.ts";
import { invariantRun, policyHarness } from "./policy-testing.ts";

/** adaptive-retry with memory squeezed (nothing reclaimable) once traffic runs. */
function squeezed(hz: number) {
  const h = policyHarness("adaptive-retry", "small", { set: [`guest.hz=${hz}`] });
  h.runTo(ms(100));
  h.squeeze();
  return { h, d: h.driver as AdaptiveRetry };
}

describe("adaptive-retry", () => {
  it.each([
    { hz: 250, gaps: [1, 2, 4, 8, 16, 32, 64, 125, 125] },
    { hz: 1000, gaps: [1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 500] },
  ])("HZ=$hz: retries after 1, 2, 4, … jiffies, backing off to HZ/2", ({ hz, gaps }) => {
    const { h, d } = squeezed(hz);
    expect(h.runUntil(() => d.refill.runs > gaps.length, sec(5))).toBe(true);
    const j = h.k.jiffies;
    const starts = d.stats.refillRunTimes.map((t) => j.at(t));
    expect(starts.slice(1).map((t, i) => t - starts[i]!)).toEqual(gaps);
    expect(d.timerRetries).toBe(gaps.length);
    // Each finished fill (the last run has just started) stopped at its first allocation, which
    // reclaimed once and failed (__GFP_NORETRY): no OOM kill to make room.
    expect(d.stats.tryFillOom[gfpName(ADAPTIVE_GFP)]).toBe(gaps.length);
    expect(h.mm.ev[EV_ALLOCFAIL_PROCESS]).toBe(gaps.length);
    expect(h.mm.oomKills).toHaveLength(0);
  });

  it("starts again at one jiffy after a fill that succeeds", () => {
    const { h, d } = squeezed(250);
    expect(h.runUntil(() => d.delayJiffies >= 16 && d.retryArmed, sec(2))).toBe(true);
    h.releaseHeld();
    h.runFor(ms(50));
    expect(d.delayJiffies).toBe(0);
    expect(d.num).toBeGreaterThan(d.max / 2);
    h.squeeze();
    const runs = d.refill.runs;
    expect(h.runUntil(() => d.refill.runs >= runs + 3, sec(1))).toBe(true);
    const j = h.k.jiffies;
    const starts = d.stats.refillRunTimes.slice(runs).map((t) => j.at(t));
    expect(starts.slice(1).map((t, i) => t - starts[i]!)).toEqual([1, 2]);
  });

  it.each([true, false])(
    "memory back above WMARK_LOW runs the armed retry at once (notifications wired: %s)",
    (wired) => {
      const { h, d } = squeezed(250);
      if (!wired) delete h.driver.env.freePages;
      expect(h.runUntil(() => d.delayJiffies >= 32 && d.retryArmed, sec(2))).toBe(true);
      const deadline = h.sim.timerDeadlineOf((d as unknown as { retryTimer: number }).retryTimer);
      const released = h.now;
      const runs = d.refill.runs;
      h.releaseHeld();
      expect(h.runUntil(() => d.refill.runs > runs, sec(2))).toBe(true);
      const started = d.stats.refillRunTimes[runs]!;
      if (wired) {
        expect(started - released).toBeLessThan(ms(1));
        expect(d.memoryRetries).toBe(1);
      } else {
        expect(started).toBeGreaterThanOrEqual(deadline);
        expect(d.memoryRetries).toBe(0);
      }
      h.runFor(ms(20));
      expect(d.num).toBeGreaterThan(d.max / 2);
    },
  );

  it.each(["small", "big", "mergeable"] as const)("keeps the page invariant (%s)", (mode) => {
    const h = invariantRun("adaptive-retry", mode);
    expect(h.driver.stats.refillRunTimes.length).toBeGreaterThan(0);
  });
});
