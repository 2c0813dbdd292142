/**
 * Driver-side serialisation of the rx virtqueue: v3.2 serialises refill_work against the poll with
 * napi_disable, seed patch 2 (rfc-v1) with rx_fill_lock. The virtqueue's access checker (Linux's
 * DEBUG START_USE/END_USE) must see no overlap under rfc-v1 in any interleaving of same-time
 * events, and must catch a refill_work that keeps NAPI running without taking any lock.
 */
import { describe, expect, it } from "vitest";
import { EV_ALLOCSTALL } from "../../mm/events.ts";
import { GFP_KERNEL } from "../../mm/gfp.ts";
import type { KernelCode } from "../../sched/kernel.ts";
import { ms, sec } from "../../../sim/time.ts";
import { VirtqueueError } from "../../../virtio/errors.ts";
import { DriverHarness, SMALL_GUEST } from "./testing.ts";
import { V3_2 } from "./versions/v3_2.ts";

/** v3.2's refill_work without napi_disable/virtnet_napi_enable, and no rx_fill_lock. */
class RefillWithNapiRunning extends V3_2 {
  override *refillWork(): KernelCode {
    const stillEmpty = !(yield* this.tryFillRecvCounted(GFP_KERNEL));
    if (stillEmpty) this.env.wq.scheduleDelayedWork(this.refill, this.k.jiffies.hz / 2);
  }
}

// Mergeable mode, where v3.2's GFP_KERNEL pages reclaim (kernel-facts §1.4); four flows with
// equal RTTs and no stagger make same-time events common; slow reclaim keeps the fill sleeping.
const set = [
  "guest.driver.features.mrgRxbuf=true",
  "network.senders[0].count=4",
  "guest.costs.reclaimPerPage=20us",
];
const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);

/** Squeezes at 40 ms, then runs until a refill_work that reclaimed has ended (or a model error). */
function squeezeAndRefill(h: DriverHarness): boolean {
  h.runTo(ms(40));
  h.squeeze(8192);
  return h.runUntil(() => h.mm.ev[EV_ALLOCSTALL]! > 0 && h.driver.refill.running === 0, sec(1));
}

describe("rx virtqueue access under permuted same-time events", () => {
  it("rfc-v1: NAPI polls during reclaiming refills, never inside the ring at the same time", () => {
    const fingerprints = new Set<string>();
    for (const seed of SEEDS) {
      const h = new DriverHarness(SMALL_GUEST, { driver: "rfc-v1", seed, permuteTies: true, set });
      expect(squeezeAndRefill(h)).toBe(true);
      const run = h.refillRuns().find((r) => r.end !== null && r.end.allocstall > r.start.allocstall)!;
      expect(run.during.some((e) => e.fn.startsWith("virtnet_poll"))).toBe(true);
      fingerprints.add(h.sim.fingerprint.digest());
    }
    // The seeds did produce different interleavings.
    expect(fingerprints.size).toBeGreaterThan(1);
  });

  it("a refill_work that keeps NAPI running without a lock is caught while it sleeps in reclaim", () => {
    const caught: string[] = [];
    for (const seed of SEEDS) {
      const h = new DriverHarness(SMALL_GUEST, {
        seed,
        permuteTies: true,
        set,
        variant: RefillWithNapiRunning,
      });
      try {
        squeezeAndRefill(h);
      } catch (e) {
        if (!(e instanceof VirtqueueError)) throw e;
        expect(e.kind).toBe("concurrent-access");
        // The worker was inside its fill when the poll came: asleep in an allocation, or between
        // two add_bufs (a softirq interrupting process context on the same vCPU), never finished.
        const worker = h.trace.filter((t) => t.ctx.startsWith("kworker"));
        expect(["alloc_page(GFP_KERNEL) sleeps in the slow path", "try_fill_recv(GFP_KERNEL)"]).toContain(
          worker.at(-1)!.fn,
        );
        caught.push(e.message);
      }
    }
    expect(caught.length).toBeGreaterThan(0);
  });
});
