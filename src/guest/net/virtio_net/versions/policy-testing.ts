/**
 * Test helpers shared by the tests of our refill policies (tests only): the receive modes as
 * scenario overrides, a harness, and a run that checks the
 * page-ownership invariant after every event, the memory model's and the driver's own share.
 */
import { expect } from "vitest";
import { OWNER_DRIVER_LIST, OWNER_RX_RING } from "../../../mm/page-table.ts";
import { ms } from "../../../../sim/time.ts";
import type { RxMode } from "../constants.ts";
import { DriverHarness, type HarnessOptions, SMALL_GUEST } from "../testing.ts";
import type { VirtnetDriver } from "../virtnet.ts";

/** Feature overrides that make virtnet_probe pick each receive mode. */
export const MODE_SET: Readonly<Record<RxMode, readonly string[]>> = {
  small: [],
  big: ["guest.driver.features.guestTso4=true"],
  mergeable: ["guest.driver.features.mrgRxbuf=true"],
};

/** SMALL_GUEST with `driver` in `mode`. */
export function policyHarness(
  driver: string,
  mode: RxMode,
  opts: HarnessOptions & { raw?: Record<string, unknown> } = {},
): DriverHarness {
  return new DriverHarness(opts.raw ?? SMALL_GUEST, {
    ...opts,
    driver,
    set: [...MODE_SET[mode], ...(opts.set ?? [])],
  });
}

/**
 * Probe, traffic, sustained pressure with reclaimable page cache (atomic failures, refills, drops),
 * then relief, on a 32-descriptor ring (big mode pins 19 pages a buffer), checking after every
 * event the memory model's invariant and that the pages the model says the driver owns are the
 * ones it accounts for: driver_list = vi->pages + `poolPages(driver)` (pages a policy keeps elsewhere),
 * and rx_ring = the posted buffers' pages (mergeable: one each; big mode's GFP_KERNEL fill holds a
 * partial chain across a sleep, so only the first check applies there). Returns the harness for
 * checks of what the policy did during the run.
 */
export function invariantRun(
  driver: string,
  mode: RxMode,
  poolPages: (d: VirtnetDriver) => number = () => 0,
): DriverHarness {
  const h = policyHarness(driver, mode, {
    checkInvariants: true,
    set: ["guest.driver.ringSize=32", "network.senders[0].count=2", "network.senders[0].rate=100Mbit/s"],
  });
  const sim = h.sim;
  const mmInvariant = sim.afterEvent;
  expect(mmInvariant).not.toBeNull();
  const d = h.driver;
  let checked = 0;
  sim.afterEvent = () => {
    mmInvariant!();
    const list = h.mm.ownerCount(OWNER_DRIVER_LIST);
    const pool = poolPages(d);
    if (list !== d.pagesCount + pool) {
      throw new Error(`${list} pages owned by the driver list, vi->pages ${d.pagesCount} + pool ${pool}`);
    }
    const ring = h.mm.ownerCount(OWNER_RX_RING);
    if (mode !== "big" && ring !== (mode === "mergeable" ? d.num : 0)) {
      throw new Error(`${ring} pages owned by the ring with ${d.num} buffers posted`);
    }
    checked++;
  };
  h.runTo(ms(10));
  h.squeeze(2048);
  h.runTo(ms(30));
  h.releaseHeld();
  h.runTo(ms(45));
  expect(checked).toBe(sim.events);
  expect(d.stats.rxPackets).toBeGreaterThan(0);
  return h;
}
