import { Session } from "node:inspector/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { listClear, listDel } from "./list.ts";

describe("listDel", () => {
  it("removes the first occurrence in place and keeps the order, as splice(indexOf) does", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 12 }),
        fc.integer({ min: 0, max: 6 }),
        (xs, x) => {
          const model = xs.slice();
          const i = model.indexOf(x);
          if (i >= 0) model.splice(i, 1);
          const list = xs.slice();
          expect(listDel(list, x)).toBe(i >= 0);
          expect(list).toEqual(model);
        },
      ),
    );
  });
});

/** Bytes the sampling heap profiler saw allocated while `f` ran `n` times. */
async function bytesAllocated(n: number, f: () => void): Promise<number> {
  const s = new Session();
  s.connect();
  try {
    await s.post("HeapProfiler.startSampling", {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    for (let i = 0; i < n; i++) f();
    const { profile } = await s.post("HeapProfiler.stopSampling");
    let total = 0;
    const walk = (node: typeof profile.head): void => {
      total += node.selfSize;
      for (const c of node.children) walk(c);
    };
    walk(profile.head);
    return total;
  } finally {
    s.disconnect();
  }
}

describe("listClear", () => {
  it("empties the list", () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), (xs) => {
        const list = xs.slice();
        listClear(list);
        expect(list).toEqual([]);
      }),
    );
  });

  it("keeps the backing store: a wait queue filled and emptied again allocates nothing", async () => {
    const item = {};
    const cycles = 20_000;
    const cleared: object[] = [];
    const truncated: object[] = [];
    const kept = await bytesAllocated(cycles, () => {
      cleared.push(item, item);
      listClear(cleared);
    });
    // The control: `length = 0` drops the store, each push after it allocates one (~150 bytes).
    const dropped = await bytesAllocated(cycles, () => {
      truncated.push(item, item);
      truncated.length = 0;
    });
    expect(dropped).toBeGreaterThan(cycles * 64);
    // The profiler's own bookkeeping allocates a little in either run.
    expect(kept).toBeLessThan(dropped / 10);
  });
});
