/**
 * Buffers as the kernel posts and consumes them: vi->max per mode and indirect descriptors
 * (kernel-facts §1.6), pages per buffer and what page_to_skb keeps or returns to vi->pages (§1.4),
 * and when virtnet_poll refills (v3.2's num < max/2 against v6.1's free > min(budget, ring)/2).
 */
import { describe, expect, it } from "vitest";
import { OWNER_DRIVER_LIST, OWNER_RX_RING } from "../../mm/page-table.ts";
import { ms } from "../../../sim/time.ts";
import { BIG_PAGES, COPY_HEAD_TAILROOM } from "./constants.ts";
import { DriverHarness, idleGuest, RX_MODES, type RxMode, SMALL_GUEST } from "./testing.ts";
import { driverNames } from "./versions/index.ts";

/** Injects one frame and reports the skb the stack got and how vi->pages and the ring changed. */
function receiveFrame(h: DriverHarness, bytes: number) {
  const pages = h.driver.pagesCount;
  const ring = h.mm.ownerCount(OWNER_RX_RING);
  const delivered = h.delivered.length;
  h.injectFrame(bytes);
  h.runFor(ms(1));
  expect(h.delivered.length).toBe(delivered + 1);
  return {
    skb: h.delivered.at(-1)!,
    toDriverPages: h.driver.pagesCount - pages,
    fromRing: ring - h.mm.ownerCount(OWNER_RX_RING),
  };
}

describe("vi->max after the probe fill (256-descriptor ring)", () => {
  it.each([
    { mode: "small", indirect: 256, direct: 128 },
    { mode: "big", indirect: 256, direct: 12 },
    { mode: "mergeable", indirect: 256, direct: 256 },
  ] as const)("$mode: $indirect with indirect descriptors, $direct without", ({ mode, indirect, direct }) => {
    expect(idleGuest(mode, { indirect: true }).driver.max).toBe(indirect);
    expect(idleGuest(mode, { indirect: false }).driver.max).toBe(direct);
  });
});

describe("pages per buffer and page_to_skb", () => {
  it("mergeable: one page per buffer; a full frame consumes it, a short one returns it", () => {
    const h = idleGuest("mergeable");
    expect(h.mm.ownerCount(OWNER_RX_RING)).toBe(h.driver.num);
    // 1514 bytes: 576 copied into the kmalloc-1024 head, the rest left in the page as a fragment.
    const full = receiveFrame(h, 1514);
    // truesize: kmalloc-1024 head + sk_buff (256) + the page fragment (set_skb_frag).
    expect(full.skb).toMatchObject({ len: 1514, frags: 1, truesize: 1024 + 256 + 4096 });
    expect(full).toMatchObject({ toDriverPages: 0, fromRing: 1 });
    // Everything fits in the copied head: the page goes back to vi->pages.
    const short = receiveFrame(h, COPY_HEAD_TAILROOM);
    expect(short.skb).toMatchObject({ frags: 0, truesize: 1024 + 256 });
    expect(short).toMatchObject({ toDriverPages: 1, fromRing: 1 });
    expect(receiveFrame(h, COPY_HEAD_TAILROOM + 1).toDriverPages).toBe(0);
    expect(h.mm.ownerCount(OWNER_DRIVER_LIST)).toBe(h.driver.pagesCount);
  });

  it("big: 19 pages per buffer; a full frame keeps the first page and returns 18", () => {
    const h = idleGuest("big");
    expect(BIG_PAGES).toBe(19);
    expect(h.mm.ownerCount(OWNER_RX_RING)).toBe(h.driver.num * BIG_PAGES);
    const full = receiveFrame(h, 1514);
    expect(full.skb).toMatchObject({ len: 1514, frags: 1, truesize: 1024 + 256 + 4096 });
    expect(full).toMatchObject({ toDriverPages: BIG_PAGES - 1, fromRing: BIG_PAGES });
    const short = receiveFrame(h, 100);
    expect(short).toMatchObject({ toDriverPages: BIG_PAGES, fromRing: BIG_PAGES });
  });

  it("small: the skb is the buffer; no pages move", () => {
    const h = idleGuest("small");
    const full = receiveFrame(h, 1514);
    expect(full.skb).toMatchObject({ len: 1514, frags: 0 });
    expect(full).toMatchObject({ toDriverPages: 0, fromRing: 0 });
  });
});

describe("the refill threshold of virtnet_poll", () => {
  /** The first GFP_ATOMIC refill of a lightly loaded guest, and the poll just before it. */
  function firstAtomicRefill(driver: string) {
    const h = new DriverHarness(SMALL_GUEST, { driver, set: ["network.senders[0].rate=20Mbit/s"] });
    expect(h.runUntil(() => (h.driver.stats.tryFillCalls.GFP_ATOMIC ?? 0) > 0, ms(500))).toBe(true);
    const i = h.trace.findIndex((e) => e.fn === "try_fill_recv(GFP_ATOMIC)");
    const polls = h.trace.slice(0, i).filter((e) => e.fn.startsWith("virtnet_poll"));
    const before = polls[polls.length - 1]!;
    return { h, refill: h.trace[i]!, before };
  }

  it("mainline refills once more than min(budget 64, ring 256)/2 = 32 descriptors are free", () => {
    const { h, refill, before } = firstAtomicRefill("mainline");
    expect(h.driver.napi.weight).toBe(64);
    expect(before.free).toBeLessThanOrEqual(32);
    expect(refill.free).toBeGreaterThan(32);
    expect(refill.num).toBeGreaterThan(h.driver.max / 2);
  });

  it("v3.2 waits until fewer than vi->max/2 = 128 buffers are posted", () => {
    const { h, refill, before } = firstAtomicRefill("v3.2");
    expect(h.driver.napi.weight).toBe(128);
    expect(before.num).toBeGreaterThanOrEqual(128);
    expect(refill.num).toBeLessThan(128);
  });
});

describe("allocations that cannot sleep", () => {
  it("a GFP_ATOMIC refill takes the plain slab entry point for the skb and its indirect table", () => {
    const h = idleGuest("small");
    const port = h.driver.env.mm;
    const { slabAlloc, slabAllocAtomic } = port;
    const calls = { generator: 0, atomic: 0 };
    port.slabAlloc = (cache, gfp) => {
      calls.generator++;
      return slabAlloc.call(port, cache, gfp);
    };
    port.slabAllocAtomic = (cache, gfp) => {
      calls.atomic++;
      return slabAllocAtomic.call(port, cache, gfp);
    };
    const refills = () => h.driver.stats.tryFillCalls.GFP_ATOMIC ?? 0;
    const before = refills();
    // More than half the ring: virtnet_poll refills with GFP_ATOMIC.
    for (let i = 0; i < 200; i++) h.injectFrame(1514);
    h.runFor(ms(5));
    expect(refills()).toBeGreaterThan(before);
    // skbuff_head, kmalloc-2048 and the indirect table: three objects per buffer posted.
    expect(calls.atomic).toBeGreaterThanOrEqual(3 * 100);
    expect(calls.generator).toBe(0);
  });
});

/**
 * Counts the generators created through the generator methods of `objs` (own and inherited), by
 * whether the calling context could sleep: each call's wrapper bumps `atomic` or `process`.
 */
function countGenerators(h: DriverHarness, objs: readonly object[]) {
  const counts = { atomic: 0, process: 0 };
  const isGenerator = (f: unknown) => typeof f === "function" && f.constructor.name === "GeneratorFunction";
  for (const obj of objs) {
    const rec = obj as Record<string, unknown>;
    const names = new Set<string>();
    for (let o: object | null = obj; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o))
      for (const n of Object.getOwnPropertyNames(o)) names.add(n);
    for (const n of names) {
      if (n === "constructor") continue;
      const f = rec[n];
      if (!isGenerator(f)) continue;
      rec[n] = function (this: unknown, ...a: unknown[]) {
        if (h.k.inAtomic()) counts.atomic++;
        else counts.process++;
        return (f as (...a: unknown[]) => unknown).apply(this, a);
      };
    }
  }
  return counts;
}

describe("refills that cannot sleep run without generators", () => {
  const cases = driverNames().flatMap((driver) =>
    (Object.keys(RX_MODES) as RxMode[]).map((mode) => ({ driver, mode })),
  );
  it.each(cases)(
    "$driver, $mode: the poll's refills create none; refill_work's GFP_KERNEL fill does",
    ({ driver, mode }) => {
      const h = idleGuest(mode, { driver });
      const d = h.driver;
      const env = d.env;
      const frag = (d as unknown as { frag?: object }).frag;
      const counts = countGenerators(h, [d, env.mm, env.indirect, env.skbs, ...(frag ? [frag] : [])]);
      const posted = d.stats.buffersPosted;
      // Most of the ring used: every version's poll refills (drop-recycle replaces each buffer).
      for (let i = 0; i < 200; i++) h.injectFrame(1514);
      h.runFor(ms(5));
      expect(d.stats.buffersPosted - posted).toBeGreaterThanOrEqual(100);
      expect(counts.atomic).toBe(0);
      // The same counter sees refill_work's generators: a fill that may sleep keeps them.
      const process = counts.process;
      for (let i = 0; i < 100; i++) h.injectFrame(1514);
      h.sys.wq.scheduleDelayedWork(d.refill, 0);
      expect(h.runUntil(() => d.refill.runs > 0, ms(100))).toBe(true);
      expect(counts.process).toBeGreaterThan(process);
      expect(counts.atomic).toBe(0);
    },
  );
});
