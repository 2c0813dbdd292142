/**
 * The page invariant (model.md §6: every page in exactly one place at every event) through a short
 * mixed run of every driver version in every receive mode: probe, traffic, sustained pressure with
 * reclaimable page cache (atomic failures, refill_work, drops, give_pages), then relief.
 */
import { describe, expect, it } from "vitest";
import { EV_ALLOCFAIL_ATOMIC } from "../../mm/events.ts";
import { OWNER_DRIVER_LIST } from "../../mm/page-table.ts";
import { ms } from "../../../sim/time.ts";
import { DriverHarness, SMALL_GUEST } from "./testing.ts";
import { KERNEL_DRIVERS } from "./versions/index.ts";

const MODES = {
  small: [],
  big: ["guest.driver.features.guestTso4=true"],
  mergeable: ["guest.driver.features.mrgRxbuf=true"],
} as const;

const cases = Object.keys(KERNEL_DRIVERS).flatMap((driver) =>
  Object.entries(MODES).map(([mode, features]) => ({ driver, mode, features })),
);

describe("page invariant after every event", () => {
  it.each(cases)("$driver, $mode mode", ({ driver, features }) => {
    // A 32-descriptor ring keeps big mode's pinned pages (19 per buffer) and the run short.
    const set = [
      ...features,
      "guest.driver.ringSize=32",
      "network.senders[0].count=2",
      "network.senders[0].rate=100Mbit/s",
    ];
    const h = new DriverHarness(SMALL_GUEST, { driver, set, checkInvariants: true });
    const sim = h.sim;
    const mmInvariant = sim.afterEvent;
    expect(mmInvariant).not.toBeNull();
    let checked = 0;
    // The driver's own share: vi->pages holds exactly the pages owned by the driver list.
    sim.afterEvent = () => {
      mmInvariant!();
      if (h.driver.pagesCount !== h.mm.ownerCount(OWNER_DRIVER_LIST)) {
        throw new Error(
          `vi->pages counts ${h.driver.pagesCount}, ${h.mm.ownerCount(OWNER_DRIVER_LIST)} owned`,
        );
      }
      checked++;
    };
    h.runTo(ms(10));
    h.squeeze(2048);
    h.runTo(ms(25));
    h.releaseHeld();
    h.runTo(ms(35));
    expect(checked).toBe(sim.events);
    expect(h.mm.ev[EV_ALLOCFAIL_ATOMIC]).toBeGreaterThan(0);
    expect(h.driver.stats.rxPackets).toBeGreaterThan(0);
  });
});
