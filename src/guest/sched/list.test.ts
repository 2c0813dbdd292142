import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { listDel } from "./list.ts";

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
