import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtqueueError } from "./errors.ts";
import { IndirectPool, indirectPoolBytes } from "./indirect.ts";

describe("IndirectPool", () => {
  it("hands out each block once, by offset or by block index, and names the block it frees", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.tuple(fc.boolean(), fc.boolean(), fc.nat()), { maxLength: 40 }),
        (blocks, entries, ops) => {
          const base = 4096;
          const pool = new IndirectPool(base + indirectPoolBytes(blocks, entries), base, blocks, entries);
          // Reference: the set of blocks handed out.
          const out: number[] = [];
          for (const [isAlloc, byBlock, pick] of ops) {
            if (isAlloc) {
              const block = byBlock
                ? pool.allocBlock(entries)
                : (pool.alloc(entries) - base) / (16 * entries);
              if (out.length === blocks) {
                expect(block).toBeLessThan(0);
                continue;
              }
              expect(Number.isInteger(block) && block >= 0 && block < blocks).toBe(true);
              expect(out).not.toContain(block);
              expect(pool.tableAt(block)).toBe(base + block * 16 * entries);
              out.push(block);
            } else if (out.length > 0) {
              const [block] = out.splice(pick % out.length, 1) as [number];
              // Inside a block, before the pool, past it, or not a number: never a table of this pool.
              for (const bad of [
                pool.tableAt(block) + 8,
                base - 16 * entries,
                pool.tableAt(blocks),
                Number.NaN,
                2 ** 40,
              ]) {
                expect(() => pool.free(bad)).toThrow(VirtqueueError);
              }
              expect(pool.free(pool.tableAt(block))).toBe(block);
              expect(() => pool.free(pool.tableAt(block))).toThrow(VirtqueueError);
            }
            expect(pool.inUse).toBe(out.length);
          }
        },
      ),
      { seed: 17 },
    );
  });
});
