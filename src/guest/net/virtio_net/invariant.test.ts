/**
 * The page invariant (model.md §6: every page in exactly one place at every event) through a short
 * mixed run of every driver version in every receive mode: probe, traffic, sustained pressure with
 * reclaimable page cache (atomic failures, refill_work, drops, give_pages), then relief. For
 * page_frag buffers (mainline's 6.1 small and mergeable modes) every counted page's page_count is
 * the references the driver and the stack hold: the frag cache's, one per posted slice, one per skb
 * fragment or build_skb head; a page with no reference left is free (mm's own check counts them).
 */
import { describe, expect, it } from "vitest";
import { EV_ALLOCFAIL_ATOMIC } from "../../mm/events.ts";
import { OWNER_DRIVER_LIST } from "../../mm/page-table.ts";
import { ms } from "../../../sim/time.ts";
import { DriverHarness, RX_MODES, SMALL_GUEST } from "./testing.ts";
import { KERNEL_DRIVERS } from "./versions/index.ts";
import { Mainline61 } from "./versions/mainline_6_1.ts";

/** Throws unless page_count of every page_frag page equals the references held on it. */
function checkPageFragRefs(h: DriverHarness): number {
  const d = h.driver;
  if (!(d instanceof Mainline61)) return 0;
  const refs = new Map<number, number>();
  const add = (p: number) => refs.set(p, (refs.get(p) ?? 0) + 1);
  if (d.frag.page >= 0) add(d.frag.page);
  d.forEachPostedSlice(add);
  const skbs = h.sys.skbs;
  skbs.forEachLive((skb) => skbs.forEachRefPage(skb, add));
  for (const [p, n] of refs) {
    if (h.mm.pageCount(p) !== n)
      throw new Error(`page_frag page ${p}: page_count ${h.mm.pageCount(p)}, ${n} references held`);
  }
  return refs.size;
}

const cases = Object.keys(KERNEL_DRIVERS).flatMap((driver) =>
  Object.entries(RX_MODES).map(([mode, features]) => ({ driver, mode, features })),
);

describe("page invariant after every event", () => {
  it.each(cases)("$driver, $mode mode", ({ driver, mode, features }) => {
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
    let fragPages = 0;
    // The driver's own share: vi->pages holds exactly the pages owned by the driver list.
    sim.afterEvent = () => {
      mmInvariant!();
      if (h.driver.pagesCount !== h.mm.ownerCount(OWNER_DRIVER_LIST)) {
        throw new Error(
          `vi->pages counts ${h.driver.pagesCount}, ${h.mm.ownerCount(OWNER_DRIVER_LIST)} owned`,
        );
      }
      fragPages = Math.max(fragPages, checkPageFragRefs(h));
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
    if (driver === "mainline" && mode !== "big") expect(fragPages).toBeGreaterThan(0);
  });
});
