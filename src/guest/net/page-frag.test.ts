/**
 * skb_page_frag_refill (v6.1) on the memory model: the order-3 try without direct reclaim and the
 * order-0 fallback, a page per slice reference, reuse of a page whose slices are all back, and the
 * page freed only by the put of its last slice after the cache has moved on.
 */
import { describe, expect, it } from "vitest";
import type { Rng } from "../../sim/rng.ts";
import { MmAdapter } from "../../run/system.ts";
import { FAULT_CTX_ANY, FaultAttr, FaultInjection } from "../mm/fault-inject.ts";
import { mmFixture } from "../mm/fixture.ts";
import { __GFP_COMP, __GFP_NORETRY, __GFP_NOWARN, __GFP_WAIT, GFP_ATOMIC, GFP_KERNEL } from "../mm/gfp.ts";
import type { Mm } from "../mm/mm.ts";
import { OWNER_FREE, OWNER_PAGE_FRAG, OWNER_PCP } from "../mm/page-table.ts";
import { ALLOC_SITE_RX_PAGE } from "./mm-port.ts";
import { fragHighOrderGfp, PageFrag } from "./page-frag.ts";

/** The small-buffer slice of 6.1: SKB_DATA_ALIGN(10 + 64 + 1518) + 320. */
const SLICE = 1920;

function setup() {
  const f = mmFixture({ memBytes: 16 << 20 });
  const port = new MmAdapter(f.mm);
  port.allocSite = ALLOC_SITE_RX_PAGE;
  const stats = { pageFragHighOrder: 0, pageFragOrder0Fallbacks: 0, pageFragFailures: 0 };
  return { ...f, port, stats, frag: new PageFrag(port, stats) };
}

/** Runs a refill that must not sleep (GFP_ATOMIC) to completion. */
function refillAtomic(frag: PageFrag, sz: number): boolean {
  const r = frag.refill(sz, GFP_ATOMIC).next();
  expect(r.done).toBe(true);
  return r.value as boolean;
}

/** fail_page_alloc for orders ≥ 3 only (min-order 3), every call, at the rx page site. */
function failHighOrder(mm: Mm, sim: { rng(name: string): Rng }): FaultAttr {
  const attr = new FaultAttr(
    {
      kind: "fail_page_alloc",
      probability: 100,
      interval: 1,
      times: -1,
      space: 0,
      ignoreGfpWait: false,
      ignoreGfpHighmem: true,
      minOrder: 3,
      siteMask: 1 << ALLOC_SITE_RX_PAGE,
      context: FAULT_CTX_ANY,
      start: 0,
      end: Number.POSITIVE_INFINITY,
    },
    sim.rng("faults.alloc[0]"),
    6,
  );
  mm.faults = new FaultInjection();
  mm.faults.add(attr);
  return attr;
}

describe("skb_page_frag_refill", () => {
  it("tries order 3 without direct reclaim, with __GFP_COMP | __GFP_NOWARN | __GFP_NORETRY", () => {
    const g = fragHighOrderGfp(GFP_KERNEL);
    expect(g & __GFP_WAIT).toBe(0);
    expect(g & (__GFP_COMP | __GFP_NOWARN | __GFP_NORETRY)).toBe(__GFP_COMP | __GFP_NOWARN | __GFP_NORETRY);
  });

  it("takes an order-3 compound page (8 pages, 17 small slices) while memory allows", () => {
    const { mm, frag, stats } = setup();
    const free = mm.nrFree;
    expect(refillAtomic(frag, SLICE)).toBe(true);
    expect(frag.size).toBe(32768);
    expect(stats.pageFragHighOrder).toBe(1);
    expect(mm.ownerCount(OWNER_PAGE_FRAG)).toBe(8);
    expect(mm.nrFree).toBe(free - 8);
    let slices = 0;
    while (frag.offset + SLICE <= frag.size) {
      expect(refillAtomic(frag, SLICE)).toBe(true);
      frag.take(SLICE);
      slices++;
    }
    expect(slices).toBe(17);
    expect(mm.pageCount(frag.page)).toBe(18);
  });

  it("falls back to an order-0 page when the order-3 allocation fails", () => {
    const { sim, mm, frag, stats } = setup();
    const attr = failHighOrder(mm, sim);
    expect(refillAtomic(frag, SLICE)).toBe(true);
    expect(attr.injected).toBe(1);
    expect(frag.size).toBe(4096);
    expect(stats.pageFragOrder0Fallbacks).toBe(1);
    expect(stats.pageFragHighOrder).toBe(0);
    expect(mm.ownerCount(OWNER_PAGE_FRAG)).toBe(1);
    mm.checkInvariant();
  });

  it("falls back near the watermark, where order 3 needs 8 pages more than order 0", () => {
    const { mm, frag, port, stats } = setup();
    // Take pages until an order-3 GFP_ATOMIC allocation fails but an order-0 one still succeeds.
    const held: number[] = [];
    for (;;) {
      const p = mm.allocPagesAtomic(GFP_ATOMIC, 3, OWNER_PAGE_FRAG);
      if (p < 0) break;
      held.push(p);
    }
    expect(refillAtomic(frag, SLICE)).toBe(true);
    expect(frag.size).toBe(4096);
    expect(stats.pageFragOrder0Fallbacks).toBe(1);
    for (const p of held) port.putPage(p);
    mm.checkInvariant();
  });

  it("reuses a page whose slices have all come back, from offset 0", () => {
    const { mm, frag, port, stats } = setup();
    refillAtomic(frag, SLICE);
    const page = frag.page;
    const a = frag.take(SLICE);
    const b = frag.take(SLICE);
    expect([a, b]).toEqual([0, SLICE]);
    port.putPage(page);
    port.putPage(page);
    expect(refillAtomic(frag, SLICE)).toBe(true);
    expect(frag.page).toBe(page);
    expect(frag.offset).toBe(0);
    expect(stats.pageFragHighOrder).toBe(1);
    mm.checkInvariant();
  });

  it("frees a page only when its last slice is put after the cache moved on", () => {
    const { mm, sim, frag, port } = setup();
    failHighOrder(mm, sim);
    refillAtomic(frag, SLICE);
    const page = frag.page;
    frag.take(SLICE);
    frag.take(SLICE);
    // No room for a third slice: the cache puts its reference and takes another page.
    expect(refillAtomic(frag, SLICE)).toBe(true);
    expect(frag.page).not.toBe(page);
    expect(mm.pageCount(page)).toBe(2);
    port.putPage(page);
    expect(mm.ownerOf(page)).toBe(OWNER_PAGE_FRAG);
    expect(mm.pageCount(page)).toBe(1);
    mm.checkInvariant();
    port.putPage(page);
    expect(mm.pageCount(page)).toBe(0);
    // put_page of an order-0 page: onto the per-cpu list (free_hot_cold_page).
    expect([OWNER_FREE, OWNER_PCP]).toContain(mm.ownerOf(page));
    expect(mm.ownerCount(OWNER_PAGE_FRAG)).toBe(1);
    mm.checkInvariant();
  });

  it("reports failure when neither order can be allocated", () => {
    const { mm, frag, port, stats } = setup();
    const held: number[] = [];
    for (let p = mm.allocPagesAtomic(GFP_ATOMIC, 0, OWNER_PAGE_FRAG); p >= 0; ) {
      held.push(p);
      p = mm.allocPagesAtomic(GFP_ATOMIC, 0, OWNER_PAGE_FRAG);
    }
    expect(refillAtomic(frag, SLICE)).toBe(false);
    expect(stats.pageFragFailures).toBe(1);
    expect(frag.page).toBe(-1);
    for (const p of held) port.putPage(p);
    mm.checkInvariant();
  });
});
