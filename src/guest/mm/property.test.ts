import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ms } from "../../sim/time.ts";
import { mmFixture, runInThread } from "./fixture.ts";
import { GFP_ATOMIC, GFP_KERNEL, GFP_NOWAIT } from "./gfp.ts";
import { OWNER_DRIVER_LIST, OWNER_PAGE_FRAG, OWNER_RX_RING, OWNER_SKB } from "./page-table.ts";

/** Owners of uncounted pages held outside mm; page_frag pages are counted (the "frag" commands). */
const OUTSIDE = [OWNER_DRIVER_LIST, OWNER_RX_RING, OWNER_SKB];
/** The file pwrite and pread use: 16 MiB, twice the memory, so its pages are reclaimed and read back. */
const FILE_PAGES = 4096;

type Cmd =
  | { op: "atomic"; n: number; nowait: boolean; cpu: number }
  | { op: "kernel"; n: number }
  | { op: "free"; pick: number; cpu: number }
  | { op: "drain" }
  | { op: "move"; pick: number; to: number }
  | { op: "write"; task: number; kb: number }
  | { op: "pwrite"; task: number; index: number; pages: number }
  | { op: "pread"; task: number; index: number; pages: number }
  | { op: "anon"; task: number; pages: number }
  | { op: "unmap"; task: number; pages: number }
  | { op: "slab"; cache: number; n: number; sleep: boolean }
  | { op: "slabFree"; pick: number }
  | { op: "run"; us: number }
  | { op: "frag"; order: 0 | 3; kernel: boolean }
  | { op: "fragGet"; pick: number }
  | { op: "fragPut"; pick: number };

/** A size drawn uniformly (fast-check otherwise favours small values). */
const size = (min: number, max: number) => fc.noBias(fc.integer({ min, max }));

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("atomic" as const),
      n: size(1, 600),
      nowait: fc.boolean(),
      cpu: fc.integer({ min: 0, max: 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("kernel" as const), n: size(1, 64) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("free" as const),
      pick: fc.nat(),
      cpu: fc.integer({ min: 0, max: 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "drain" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("move" as const),
      pick: fc.nat(),
      to: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("write" as const),
      task: fc.integer({ min: 0, max: 2 }),
      kb: size(1, 6000),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constantFrom("pwrite" as const, "pread" as const),
      task: fc.integer({ min: 0, max: 2 }),
      index: fc.integer({ min: 0, max: FILE_PAGES - 1 }),
      pages: size(1, 256),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("anon" as const),
      task: fc.integer({ min: 0, max: 2 }),
      pages: size(1, 1500),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("unmap" as const),
      task: fc.integer({ min: 0, max: 2 }),
      pages: size(1, 1500),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("slab" as const),
      cache: fc.integer({ min: 0, max: 12 }),
      n: size(1, 40),
      sleep: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("slabFree" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("run" as const), us: size(1, 1_000_000) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("frag" as const),
      order: fc.constantFrom(0 as const, 3 as const),
      kernel: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("fragGet" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("fragPut" as const), pick: fc.nat() }) },
);

describe("memory model invariants", () => {
  it("hold after every step of random alloc/free/move/write/read/anon/slab/reclaim/pcp sequences", () => {
    fc.assert(
      // size "max": fast-check's default size would keep the sequences at about ten steps.
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 40, size: "max" }), (cmds) => {
        // 8 MiB with the default watermarks (min_free_kbytes 362: min 90 pages), two vCPUs with pcp
        // lists of high 2048 / 16 = 128, batch 32 (zone_batchsize would give an 8 MiB zone none).
        const { sim, k, mm } = mmFixture(
          { memBytes: 8 << 20, disk: { bandwidthBytesPerSec: 100e6 }, percpuPagelistFraction: 16 },
          { vcpus: 2 },
        );
        // Pages held outside mm stay below half of memory: beyond that, with every task killed, the
        // model panics on OOM exactly as the kernel would, which is not what this test is about.
        const cap = mm.nPages / 2;
        const tasks = [mm.registerTask("a"), mm.registerTask("b"), mm.registerTask("c")];
        const file = mm.lru.addressSpace(FILE_PAGES);
        const held: number[] = [];
        const objs: { cache: number; obj: number }[] = [];
        // One entry per page_frag reference held (a head pfn may appear several times).
        const fragRefs: number[] = [];
        const take = (pick: number): number => {
          const i = pick % held.length;
          const p = held[i]!;
          held[i] = held[held.length - 1]!;
          held.pop();
          return p;
        };
        for (const c of cmds) {
          switch (c.op) {
            case "atomic":
              k.hardirq(c.cpu, () => {
                for (let i = 0; i < c.n && held.length < cap; i++) {
                  const p = mm.allocPageAtomic(c.nowait ? GFP_NOWAIT : GFP_ATOMIC, OWNER_SKB);
                  if (p >= 0) held.push(p);
                }
              });
              break;
            case "kernel":
              runInThread(k, "kalloc", function* () {
                for (let i = 0; i < c.n && held.length < cap; i++)
                  held.push(yield* mm.allocPage(GFP_KERNEL, OWNER_DRIVER_LIST));
              });
              break;
            case "free":
              if (held.length > 0) k.hardirq(c.cpu, () => mm.freePage(take(c.pick)));
              break;
            case "drain":
              mm.drainAllPages();
              break;
            case "move":
              if (held.length > 0) {
                const p = held[c.pick % held.length]!;
                mm.setOwner(p, mm.ownerOf(p), OUTSIDE[c.to]!);
              }
              break;
            case "write":
              runInThread(k, "writer", () => mm.writeFile(tasks[c.task]!, c.kb * 1024));
              break;
            case "pwrite":
            case "pread": {
              const pages = Math.min(c.pages, FILE_PAGES - c.index);
              const t = tasks[c.task]!;
              runInThread(k, c.op, () =>
                c.op === "pwrite"
                  ? mm.writeFilePages(t, file, c.index, pages)
                  : mm.readFilePages(t, file, c.index, pages),
              );
              break;
            }
            case "anon":
              runInThread(k, "fault", () => mm.allocAnon(tasks[c.task]!, c.pages));
              break;
            case "unmap": {
              const t = tasks[c.task]!;
              mm.freeAnon(t, Math.min(c.pages, t.anonRss));
              break;
            }
            case "slab": {
              const cache = mm.caches[c.cache]!;
              if (c.sleep) {
                runInThread(k, "slab", function* () {
                  for (let i = 0; i < c.n; i++)
                    objs.push({ cache: c.cache, obj: yield* mm.kmemCacheAlloc(cache, GFP_KERNEL) });
                });
              } else {
                for (let i = 0; i < c.n; i++) {
                  const obj = mm.kmemCacheAllocAtomic(cache, GFP_ATOMIC);
                  if (obj >= 0) objs.push({ cache: c.cache, obj });
                }
              }
              break;
            }
            case "slabFree":
              if (objs.length > 0) {
                const i = c.pick % objs.length;
                const o = objs[i]!;
                objs[i] = objs[objs.length - 1]!;
                objs.pop();
                mm.kmemCacheFree(mm.caches[o.cache]!, o.obj);
              }
              break;
            case "run":
              sim.run(sim.now + c.us * 1000);
              break;
            case "frag":
              // skb_page_frag_refill's two tries: order 3 without sleeping, order 0 that may sleep.
              if (c.order === 3 || !c.kernel) {
                k.hardirq(0, () => {
                  const p = mm.allocPagesAtomic(GFP_ATOMIC, c.order, OWNER_PAGE_FRAG);
                  if (p >= 0) fragRefs.push(p);
                });
              } else {
                runInThread(k, "frag", function* () {
                  const p = yield* mm.allocPageCounted(GFP_KERNEL, OWNER_PAGE_FRAG);
                  if (p >= 0) fragRefs.push(p);
                });
              }
              break;
            case "fragGet":
              if (fragRefs.length > 0) {
                const p = fragRefs[c.pick % fragRefs.length]!;
                mm.getPage(p);
                fragRefs.push(p);
              }
              break;
            case "fragPut":
              if (fragRefs.length > 0) {
                const i = c.pick % fragRefs.length;
                const p = fragRefs[i]!;
                fragRefs[i] = fragRefs[fragRefs.length - 1]!;
                fragRefs.pop();
                k.hardirq(0, () => mm.putPage(p));
              }
              break;
          }
          sim.run(sim.now + ms(5));
          expect(mm.nrFree).toBeGreaterThanOrEqual(0);
          mm.checkInvariant();
          for (const p of new Set(fragRefs))
            expect(mm.pageCount(p)).toBe(fragRefs.filter((q) => q === p).length);
        }
      }),
      { numRuns: 60, seed: 20120104 },
    );
  });
});
