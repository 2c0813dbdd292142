import { describe, expect, it } from "vitest";
import { ms, sec } from "../../sim/time.ts";
import { mmFixture } from "../mm/fixture.ts";
import type { Mm } from "../mm/mm.ts";
import { Hog, type HogSpec, hogSpec } from "./hog.ts";

// 32 MiB: 8192 pages, min_free_kbytes 512 (min 128 pages).
const OPTS = { memBytes: 32 << 20, minFreeKbytes: 512, kernelReservedBytes: 0 };

function spec(over: Partial<HogSpec>): HogSpec {
  return hogSpec({ name: "hog0", cpu: 0, at: 0, pages: 100, ...over });
}

const young = (mm: Mm, pages: readonly number[]) => pages.filter((p) => mm.pteIsYoung(p)).length;

describe("memory hog", () => {
  it("a hog larger than memory is OOM-killed and, with restart, comes back after its delay until count runs out", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    const hog = new Hog(k, mm, spec({ pages: 10_000, restart: { delay: sec(1), count: 2 } }));
    sim.run(sec(1) / 2);
    expect(mm.oomKills).toHaveLength(1);
    const killed = mm.oomKills[0]!.time;
    expect(hog.lives).toHaveLength(1);
    expect(hog.lives[0]!.killed).toBe(true);
    // Not back before its delay (one jiffy of rounding), back right after.
    sim.run(killed + sec(1) - ms(5));
    expect(hog.lives).toHaveLength(1);
    sim.run(killed + sec(1) + ms(5));
    expect(hog.lives).toHaveLength(2);
    sim.run(sec(10));
    // Three lives (the first and two restarts), each killed; then it stays dead.
    expect(hog.lives).toHaveLength(3);
    expect(hog.restarts).toBe(2);
    expect(mm.oomKills.map((x) => x.task)).toEqual(["hog0", "hog0", "hog0"]);
    expect(mm.vmstat().nr_anon_pages).toBe(0);
    mm.checkInvariant();
  });

  it("without restart a killed hog stays dead", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    const hog = new Hog(k, mm, spec({ pages: 10_000 }));
    sim.run(sec(5));
    expect(hog.lives).toHaveLength(1);
    expect(mm.oomKills).toHaveLength(1);
  });

  it("a hog that fits holds its pages and is never restarted", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    const hog = new Hog(k, mm, spec({ pages: 1000, restart: { delay: ms(10), count: -1 } }));
    sim.run(sec(2));
    expect(hog.lives).toHaveLength(1);
    expect(hog.lives[0]!.anonRss).toBe(1000);
    expect(mm.oomKills).toHaveLength(0);
  });

  it("touchRate references its footprint in order at the given pages per second", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    const still = new Hog(k, mm, spec({ name: "still", pages: 1000 }));
    // 2500 pages/s at HZ 250: 10 pages per jiffy.
    const toucher = new Hog(k, mm, spec({ name: "toucher", pages: 1000, touchRate: 2500 }));
    sim.run(ms(10));
    const pages = toucher.lives[0]!.anonPages;
    expect(pages).toHaveLength(1000);
    const before = young(mm, pages);
    sim.run(ms(10) + ms(200));
    // 200 ms = 50 jiffies × 10 pages, from the first page on.
    expect(young(mm, pages) - before).toBe(500);
    expect(pages.slice(0, 500).every((p) => mm.pteIsYoung(p))).toBe(true);
    expect(young(mm, still.lives[0]!.anonPages)).toBe(0);
  });

  it("oom_score_adj 1000 makes a small hog the victim before a big one", () => {
    const { sim, k, mm } = mmFixture(OPTS);
    new Hog(k, mm, spec({ name: "big", pages: 5000 }));
    new Hog(k, mm, spec({ name: "small", pages: 500, oomScoreAdj: 1000 }));
    new Hog(k, mm, spec({ name: "late", at: ms(500), pages: 2900 }));
    sim.run(sec(2));
    expect(mm.oomKills.map((x) => x.task)).toEqual(["small"]);
  });
});
