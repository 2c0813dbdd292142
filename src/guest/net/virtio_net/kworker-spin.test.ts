/**
 * A refill_work that re-queues itself at once: mainline's virtnet_napi_enable runs the poll inside
 * local_bh_enable, the poll's GFP_ATOMIC fill fails and queues the work with delay 0 (its PENDING bit
 * was cleared when it started), and the GFP_KERNEL fill fails every time. In the kernel that is a
 * kworker burning CPU while time passes (process_one_work's cost and its cond_resched between items);
 * it must never re-run at one simulated instant. Run on mainline-3.2buf, whose refill code is
 * mainline's: squeeze() keeps its buffers' allocations failing, while 6.1's page_frag buffers may
 * still find room in the cached page.
 */
import { describe, expect, it } from "vitest";
import { ModelError } from "../../../sim/simulator.ts";
import { ms } from "../../../sim/time.ts";
import { GFP_KERNEL } from "../../mm/gfp.ts";
import type { KernelCode } from "../../sched/kernel.ts";
import { DriverHarness, SMALL_GUEST } from "./testing.ts";
import { Mainline } from "./versions/mainline.ts";

/** Consecutive runs at one instant that mean "the worker spins without time passing". */
const SAME_INSTANT = 10;

/**
 * mainline(-3.2buf) whose refill_work's GFP_KERNEL fill fails at once, without reclaiming (the probe's still
 * succeeds).
 */
class KernelFillFails extends Mainline {
  override *tryFillRecv(gfp: number): KernelCode<boolean> {
    if (gfp === GFP_KERNEL && this.refill.running > 0) return false;
    return yield* super.tryFillRecv(gfp);
  }

  override *refillWork(): KernelCode {
    const t = this.stats.refillRunTimes;
    // Fails fast where the unfixed worker would loop inside one event until the heap is exhausted.
    if (t.length > SAME_INSTANT && t[t.length - 1 - SAME_INSTANT] === this.k.now)
      throw new ModelError(`refill_work ran ${SAME_INSTANT + 1} times at ${this.k.now} ns`);
    yield* super.refillWork();
  }
}

describe("mainline refill_work re-queued with delay 0 from its own virtnet_napi_enable", () => {
  it("spins as a CPU-burning kworker whose runs are spread over simulated time", () => {
    const h = new DriverHarness(SMALL_GUEST, { driver: "mainline-3.2buf", variant: KernelFillFails });
    h.runTo(ms(100));
    h.squeeze();
    const worker = h.k.threadList().find((t) => t.name === "kworker/0:0")!;
    const reader = h.k.threadList().find((t) => t.name === "reader0")!;
    const start = h.now;
    const runsBefore = h.driver.stats.refillRunTimes.length;
    const workerBefore = worker.sumExecRuntime;
    const readerBefore = reader.sumExecRuntime;
    const span = ms(100);
    h.runTo(start + span);

    const times = h.driver.stats.refillRunTimes.slice(runsBefore);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]!);
    expect(h.now).toBe(start + span);
    const runsPerSecond = (times.length * 1e9) / span;
    const share = (worker.sumExecRuntime - workerBefore) / span;
    console.info(
      `spinning refill_work: ${runsPerSecond.toFixed(0)} runs/s, kworker CPU share ${(share * 100).toFixed(1)} %, ` +
        `reader ${(((reader.sumExecRuntime - readerBefore) / span) * 100).toFixed(1)} %`,
    );
    // It spins (far more often than the HZ/2 retry) and holds most of the vCPU while the ring is dry.
    expect(runsPerSecond).toBeGreaterThan(1_000);
    expect(share).toBeGreaterThan(0.5);
    expect(share).toBeLessThanOrEqual(1);
  });
});
