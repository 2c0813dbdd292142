import { describe, expect, it } from "vitest";
import { sec } from "../../sim/time.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import { nrPtes, oomBadness32, oomBadness61, selectBadProcess } from "./oom.ts";
import { MmTask, SWAPPED_OUT } from "./task.ts";

/** A task with `rss` resident pages and `swapped` pages out on swap (pfns are placeholders). */
function task(id: number, rss: number, swapped = 0, adj = 0): MmTask {
  const t = new MmTask(id, `t${id}`);
  for (let i = 0; i < rss; i++) t.anonPages.push(i);
  for (let i = 0; i < swapped; i++) t.anonPages.push(SWAPPED_OUT);
  t.anonRss = rss;
  t.swapents = swapped;
  t.oomScoreAdj = adj;
  return t;
}

describe("oom_badness", () => {
  it("counts rss, page tables and swap entries (hand-computed)", () => {
    // 1000 resident + 200 swapped: 1200 pages need ceil(1200 / 512) = 3 PTE pages.
    const t = task(0, 1000, 200);
    expect(nrPtes(t)).toBe(3);
    // 3.2: (1000 + 3 + 200) × 1000 / 65536 = 18.35… → 18.
    expect(oomBadness32(t, 65536)).toBe(18);
    // 6.1: 1000 + 200 + 3 pages.
    expect(oomBadness61(t, 65536)).toBe(1203);
  });

  it("adds oom_score_adj: 3.2 in thousandths, clamped to 1..1000; 6.1 times totalpages / 1000", () => {
    expect(oomBadness32(task(0, 1000, 0, 500), 65536)).toBe(15 + 500);
    expect(oomBadness32(task(0, 1000, 0, -999), 65536)).toBe(1);
    expect(oomBadness32(task(0, 65536, 0, 1000), 65536)).toBe(1000);
    // 65536 / 1000 = 65 (integer division): 1002 + 500 × 65.
    expect(oomBadness61(task(0, 1000, 0, 500), 65536)).toBe(1002 + 32500);
    expect(oomBadness61(task(0, 1000, 0, -10), 65536)).toBe(1002 - 650);
  });

  it("oom_score_adj -1000 (OOM_SCORE_ADJ_MIN) is never chosen, even when it is the only task", () => {
    for (const rules of ["3.2", "6.1"] as const) {
      const big = task(0, 60000, 0, -1000);
      const small = task(1, 10);
      expect(selectBadProcess([big, small], 65536, rules)).toBe(small);
      expect(selectBadProcess([big], 65536, rules)).toBe(null);
    }
  });

  it("chooses the highest badness; ties keep the first in 3.2 and go to the later task in 6.1", () => {
    const a = task(0, 1000);
    const b = task(1, 1010);
    // 3.2: both score 15 of 1000; 6.1: b has 10 pages more.
    expect(selectBadProcess([a, b], 65536, "3.2")).toBe(a);
    expect(selectBadProcess([a, b], 65536, "6.1")).toBe(b);
    const c = task(2, 1000);
    expect(selectBadProcess([a, c], 65536, "6.1")).toBe(c);
    // A positive adjustment outweighs size.
    const d = task(3, 10, 0, 100);
    expect(selectBadProcess([a, b, d], 65536, "3.2")).toBe(d);
    expect(selectBadProcess([a, b, d], 65536, "6.1")).toBe(d);
    // Killed tasks are gone.
    d.killed = true;
    expect(selectBadProcess([a, b, d], 65536, "6.1")).toBe(b);
  });
});

describe("out_of_memory", () => {
  it("kills by badness, sparing oom_score_adj -1000 however big, and frees the victim's memory", () => {
    const { sim, k, mm } = mmFixture({ memBytes: 32 << 20, minFreeKbytes: 512, kernelReservedBytes: 0 });
    const big = mm.registerTask("big");
    big.oomScoreAdj = -1000;
    const mid = mm.registerTask("mid");
    const grower = mm.registerTask("grower");
    runInThread(k, "big", () => mm.allocAnon(big, 5000));
    runInThread(k, "mid", () => mm.allocAnon(mid, 2000));
    sim.run(sec(1));
    // 8192 pages: 1500 more cannot be had without a kill; big is exempt, so mid (2000) goes.
    const r = runInThread(k, "grower", () => mm.allocAnon(grower, 1500));
    sim.run(sec(3));
    expect(r.value).toBe(1500);
    expect(big.killed).toBe(false);
    expect(mid.killed).toBe(true);
    expect(mm.oomKills.map((x) => x.task)).toEqual(["mid"]);
    expect(mm.vmstat().nr_anon_pages).toBe(5000 + 1500);
    mm.checkInvariant();
  });
});
