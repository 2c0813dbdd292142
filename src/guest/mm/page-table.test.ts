import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ModelError } from "../../sim/simulator.ts";
import { OWNER_FREE, OWNER_KERNEL_RESERVED, OWNER_SKB, PageList, PageTable } from "./page-table.ts";

const N = 24;

/** The members of `list` from head to tail, by its links. */
function walk(list: PageList): number[] {
  const out: number[] = [];
  for (let p = list.head; p >= 0 && out.length <= N; p = list.next(p)) out.push(p);
  return out;
}

describe("PageList", () => {
  it("behaves as an array under random insertions, moves and removals, its checks passing", () => {
    const op = fc.record({
      kind: fc.constantFrom("head", "tail", "remove", "toHead", "toTail"),
      pfn: fc.nat(N - 1),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const list = new PageList("test list", N);
        const model: number[] = [];
        for (const { kind, pfn } of ops) {
          const member = model.includes(pfn);
          expect(list.has(pfn)).toBe(member);
          if (kind === "head" || kind === "tail") {
            if (member) {
              expect(() => (kind === "head" ? list.addHead(pfn) : list.addTail(pfn))).toThrow(ModelError);
              continue;
            }
            if (kind === "head") list.addHead(pfn);
            else list.addTail(pfn);
            if (kind === "head") model.unshift(pfn);
            else model.push(pfn);
          } else if (!member) {
            expect(() => list.remove(pfn)).toThrow(/not on the list/);
            continue;
          } else {
            model.splice(model.indexOf(pfn), 1);
            if (kind === "remove") list.remove(pfn);
            else if (kind === "toHead") {
              list.moveToHead(pfn);
              model.unshift(pfn);
            } else {
              list.moveToTail(pfn);
              model.push(pfn);
            }
          }
          expect(walk(list)).toEqual(model);
          expect(list.size).toBe(model.length);
          expect(list.tail).toBe(model.length === 0 ? -1 : model[model.length - 1]);
          expect(list.check(() => true, new Uint8Array(N))).toBe(model.length);
        }
      }),
    );
  });

  it("has no member before its first insertion, and removing one is an error", () => {
    const list = new PageList("fresh", N);
    for (let p = 0; p < N; p++) expect(list.has(p)).toBe(false);
    expect(() => list.remove(3)).toThrow(/pfn 3 is not on the list/);
    expect(list.check(() => true, new Uint8Array(N))).toBe(0);
  });
});

describe("PageTable free stack", () => {
  it("hands out the lowest free pfn first at boot and is LIFO after, as a reference stack", () => {
    const op = fc.oneof(fc.constant(-1), fc.nat(N - 1));
    fc.assert(
      fc.property(fc.nat(N - 1), fc.array(op, { maxLength: 100 }), (reserved, ops) => {
        const pt = new PageTable(N, reserved);
        // The boot stack: highest pfn at the bottom, so the top is the lowest free pfn.
        const model: number[] = [];
        for (let p = N - 1; p >= reserved; p--) model.push(p);
        for (const o of ops) {
          if (o < 0) {
            if (model.length === 0) continue;
            expect(pt.take(OWNER_SKB)).toBe(model.pop());
          } else if (pt.owner[o] === OWNER_SKB) {
            pt.release(o, OWNER_SKB);
            model.push(o);
          }
          expect(pt.nrFree).toBe(model.length);
          pt.check();
        }
        while (model.length > 0) expect(pt.take(OWNER_SKB)).toBe(model.pop());
        expect(pt.counts[OWNER_FREE]).toBe(0);
        expect(pt.counts[OWNER_KERNEL_RESERVED]).toBe(reserved);
      }),
    );
  });
});
