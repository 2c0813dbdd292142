import { describe, expect, it } from "vitest";
import { EV_ALLOCFAIL_ATOMIC } from "../../../mm/events.ts";
import { ms } from "../../../../sim/time.ts";
import type { RxMode } from "../constants.ts";
import type { DropRecycle } from "./drop_recycle.ts";
import { invariantRun, policyHarness } from "./policy-testing.ts";

const MODES: RxMode[] = ["small", "mergeable"];

/**
 * Squeezes memory (atomic allocations fail, nothing reclaimable, freed skbs held) once traffic
 * runs and returns vi->num before the first failed allocation and its lowest value after it.
 */
function ringUnderPressure(driver: string, mode: RxMode) {
  const h = policyHarness(driver, mode);
  h.runTo(ms(100));
  h.squeeze();
  let before = h.driver.num;
  let lowest = Number.POSITIVE_INFINITY;
  const prev = h.sim.afterEvent;
  h.sim.afterEvent = () => {
    prev?.();
    if (h.mm.ev[EV_ALLOCFAIL_ATOMIC] === 0) before = h.driver.num;
    else lowest = Math.min(lowest, h.driver.num);
  };
  h.runTo(ms(400));
  return { h, before, lowest };
}

describe("drop-recycle", () => {
  it.each(MODES)("never lets vi->num fall below its level before the first failure (%s)", (mode) => {
    const { h, before, lowest } = ringUnderPressure("drop-recycle", mode);
    const s = h.driver.stats;
    expect(h.mm.ev[EV_ALLOCFAIL_ATOMIC]).toBeGreaterThan(5);
    expect(s.rxDroppedNoMem).toBeGreaterThan(5);
    expect(lowest).toBeGreaterThanOrEqual(before);
    expect(h.driver.num).toBe(h.driver.max);
    // The host's queue stayed short (the ring never emptied): every drop lost a packet it could have queued.
    expect((h.driver as DropRecycle).droppedHostCouldQueue).toBe(s.rxDroppedNoMem);
    // Nothing needed refill_work: no sleeping allocation, no OOM kill.
    expect(h.driver.refill.runs).toBe(0);
    expect(h.mm.oomKills).toHaveLength(0);
    // Every used buffer was delivered or dropped, and every buffer is accounted for.
    expect(s.rxPackets + s.rxDroppedNoMem + s.rxLengthErrors).toBe(s.buffersConsumed);
    expect(s.buffersPosted - s.buffersConsumed).toBe(h.driver.num);
  });

  it("counts only drops made while the host's queue had room", () => {
    const h = policyHarness("drop-recycle", "small");
    h.driver.env.hostQueueHasRoom = () => false;
    h.runTo(ms(100));
    h.squeeze();
    h.runTo(ms(200));
    expect(h.driver.stats.rxDroppedNoMem).toBeGreaterThan(5);
    expect((h.driver as DropRecycle).droppedHostCouldQueue).toBe(0);
  });

  it("where v3.2's ring drains in the same squeeze", () => {
    const { before, lowest } = ringUnderPressure("v3.2", "small");
    expect(before).toBeGreaterThan(100);
    expect(lowest).toBe(0);
  });

  it("delivers again once memory is back, on the buffers it kept posted", () => {
    const h = policyHarness("drop-recycle", "small");
    h.runTo(ms(100));
    h.squeeze();
    h.runTo(ms(150));
    const dropped = h.driver.stats.rxDroppedNoMem;
    expect(dropped).toBeGreaterThan(0);
    h.releaseHeld();
    const rx = h.driver.stats.rxPackets;
    h.runTo(ms(1500));
    expect(h.driver.stats.rxPackets - rx).toBeGreaterThan(1000);
    expect(h.driver.stats.rxDroppedNoMem).toBe(dropped);
    expect(h.driver.refill.runs).toBe(0);
  });

  it.each(["small", "big", "mergeable"] as const)("keeps the page invariant (%s)", (mode) => {
    const h = invariantRun("drop-recycle", mode);
    expect(h.driver.stats.rxDroppedNoMem).toBeGreaterThan(0);
  });
});
