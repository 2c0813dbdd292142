import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Fingerprint } from "./fingerprint.ts";

const event = fc.tuple(
  fc.nat(Number.MAX_SAFE_INTEGER),
  fc.nat(1 << 16),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
);

describe("Fingerprint", () => {
  it("mixEvent is mixNumber(time), mix(type), mix(a), mixNumber(b) (the pinned fingerprints' definition)", () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 50 }), (events) => {
        const fast = new Fingerprint();
        const reference = new Fingerprint();
        for (const [t, type, a, b] of events) {
          fast.mixEvent(t, type, a, b);
          reference.mixNumber(t);
          reference.mix(type);
          reference.mix(a);
          reference.mixNumber(b);
        }
        expect(fast.digest()).toBe(reference.digest());
      }),
    );
  });

  it("a change of time, type or either argument changes the digest", () => {
    const digestOf = (t: number, type: number, a: number, b: number) => {
      const fp = new Fingerprint();
      fp.mixEvent(t, type, a, b);
      return fp.digest();
    };
    const base = digestOf(2 ** 35, 3, 4, 2 ** 34);
    for (const other of [
      digestOf(2 ** 35 + 1, 3, 4, 2 ** 34),
      digestOf(2 ** 36, 3, 4, 2 ** 34),
      digestOf(2 ** 35, 2, 4, 2 ** 34),
      digestOf(2 ** 35, 3, 5, 2 ** 34),
      digestOf(2 ** 35, 3, 4, 2 ** 34 + 1),
      digestOf(2 ** 35, 3, 4, 2 ** 35),
    ])
      expect(other).not.toBe(base);
  });
});
