import { describe, expect, it } from "vitest";
import { sec } from "../../sim/time.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import { dirtyPollInterval, posRatio } from "./writeback.ts";

describe("dirty throttling arithmetic", () => {
  it("pos_ratio is 2 at the freerun ceiling, 1 at the setpoint and 0 at the limit", () => {
    // freerun 1000, limit 3000: setpoint 2000.
    // 1 + (1000/1001)^3, truncated at each of the three fixed-point steps.
    expect(posRatio(1000, 1000, 3000)).toBe(2042);
    expect(posRatio(2000, 1000, 3000)).toBe(1024);
    expect(posRatio(2500, 1000, 3000)).toBe(1024 - 128);
    expect(posRatio(3000, 1000, 3000)).toBe(0);
    expect(posRatio(2999, 1000, 3000)).toBeGreaterThan(0);
  });

  it("polls about sqrt(headroom) pages apart", () => {
    expect(dirtyPollInterval(0, 40000)).toBe(128);
    expect(dirtyPollInterval(39999, 40000)).toBe(1);
    expect(dirtyPollInterval(50000, 40000)).toBe(1);
  });
});

describe("page cache writeback", () => {
  it("throttles a writer above the freerun ceiling to the disk's bandwidth", () => {
    const { sim, k, mm } = mmFixture({ memBytes: 64 << 20, disk: { bandwidthBytesPerSec: 10e6 } });
    const task = mm.registerTask("writer");
    let written = 0;
    runInThread(k, "writer", function* () {
      for (;;) written += yield* mm.writeFile(task, 64 << 10);
    });
    let maxDirty = 0;
    let writtenAt6 = 0;
    for (let s = 1; s <= 12; s++) {
      sim.run(sec(s));
      const v = mm.vmstat();
      maxDirty = Math.max(maxDirty, (v.nr_dirty! + v.nr_writeback!) / v.nr_dirty_threshold!);
      if (s === 6) writtenAt6 = written;
    }
    const rate = (written - writtenAt6) / 6;
    const diskRate = mm.wb.writeBandwidth * 4096;
    expect(rate / diskRate).toBeGreaterThan(0.9);
    expect(rate / diskRate).toBeLessThan(1.1);
    expect(maxDirty).toBeLessThanOrEqual(1.02);
    const v = mm.vmstat();
    expect(v.dirty_throttle_pauses).toBeGreaterThan(0);
    // Memory filled with page cache long ago: kswapd recycles it, writeback keeps it clean.
    expect(v.pgsteal_kswapd).toBeGreaterThan(0);
    expect(v.oom_kill).toBe(0);
    mm.checkInvariant();
  });

  it("starts writing only above the background threshold, and old data after dirty_expire", () => {
    const { sim, k, mm } = mmFixture({ memBytes: 64 << 20 });
    const task = mm.registerTask("slow");
    runInThread(k, "writer", () => mm.writeFile(task, 1 << 20));
    sim.run(sec(10));
    let v = mm.vmstat();
    expect(v.nr_dirty).toBe(256);
    expect(v.nr_dirty).toBeLessThan(v.nr_dirty_background_threshold!);
    expect(v.disk_requests).toBe(0);
    // dirty_expire_centisecs 3000: the 5-second flusher wakeup after 30 s writes it.
    sim.run(sec(36));
    v = mm.vmstat();
    expect(v.nr_written).toBe(256);
    expect(v.nr_dirty! + v.nr_writeback!).toBe(0);
    const big = mm.registerTask("fast");
    runInThread(k, "writer2", () => mm.writeFile(big, 12 << 20));
    sim.run(sec(37));
    v = mm.vmstat();
    expect(v.disk_requests).toBeGreaterThan(2);
    mm.checkInvariant();
  });
});

describe("the disk interrupt on a descheduled vCPU", () => {
  it("completes every request that finished while the vCPU was away, though the interrupts coalesced", () => {
    const { sim, k, mm } = mmFixture({ memBytes: 64 << 20, disk: { bandwidthBytesPerSec: 10e6 } });
    const task = mm.registerTask("writer");
    runInThread(k, "writer", function* () {
      for (;;) yield* mm.writeFile(task, 64 << 10);
    });
    sim.run(sec(3));
    // The host takes the vCPU (which also takes the disk interrupt) for 300 ms, many requests long.
    const out = sim.register("test.deschedule", () => k.deschedule(0, sim.now + sec(0.3)));
    sim.at(sec(3), out);
    sim.run(sec(3.3) - 1);
    const before = mm.vmstat();
    expect(before.disk_requests! - before.disk_completions!).toBeGreaterThan(2);
    sim.run(sec(3.3) + 1_000);
    const after = mm.vmstat();
    expect(k.cpus[0]!.irqsDeferred).toBeGreaterThan(2);
    // The first interrupt after the return reaped every request due by then, not only the oldest.
    expect(after.disk_completions! - before.disk_completions!).toBeGreaterThan(2);
    expect(mm.wb.nextCompletion).toBeGreaterThanOrEqual(sim.now);
    sim.run(sec(8));
    expect(mm.wb.nextCompletion).toBeGreaterThanOrEqual(sim.now);
    expect(mm.vmstat().nr_written).toBeGreaterThan(after.nr_written! + 1000);
    mm.checkInvariant();
  });
});
