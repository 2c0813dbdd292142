import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TimeFifo } from "./time-fifo.ts";

describe("TimeFifo", () => {
  it("behaves as an array queue of (time, value) pairs through any pushes, shifts and growth", () => {
    const op = fc.oneof(
      fc.record({ push: fc.tuple(fc.nat(2 ** 50), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })) }),
      fc.constant({ shift: true as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const fifo = new TimeFifo();
        const model: [number, number][] = [];
        for (const o of ops) {
          if ("push" in o) {
            fifo.push(o.push[0], o.push[1]);
            model.push(o.push);
          } else if (model.length > 0) {
            expect([fifo.headTime(), fifo.headValue()]).toEqual(model.shift());
            fifo.shift();
          }
          expect(fifo.length).toBe(model.length);
          if (model.length > 0) expect([fifo.headTime(), fifo.headValue()]).toEqual(model[0]);
        }
      }),
    );
  });

  it("keeps order across growth with the ring wrapped", () => {
    const fifo = new TimeFifo();
    for (let i = 0; i < 10; i++) fifo.push(i, i);
    for (let i = 0; i < 8; i++) fifo.shift();
    for (let i = 10; i < 100; i++) fifo.push(i, -i);
    const out: number[] = [];
    while (fifo.length > 0) {
      out.push(fifo.headTime());
      fifo.shift();
    }
    expect(out).toEqual(Array.from({ length: 92 }, (_, k) => k + 8));
  });
});
