import { describe, expect, it } from "vitest";
import { VirtqueueError } from "./errors.ts";
import { checkLayoutFits, type RingAlignment, vringBytes, vringLayout, vringNeedEvent } from "./layout.ts";

// Formulas written from the VIRTIO 1.x "Split Virtqueues" text, independently of layout.ts.
const roundUp = (x: number, a: number) => Math.ceil(x / a) * a;

/** Spec table: Descriptor Table align 16 size 16*Q; Available Ring align 2 size 6+2*Q; Used Ring align 4 size 6+8*Q. */
function specVirtio1(q: number, base: number) {
  const desc = base;
  const avail = roundUp(desc + 16 * q, 2);
  const used = roundUp(avail + (6 + 2 * q), 4);
  return { desc, avail, used, end: used + 6 + 8 * q, bytes: used + 6 + 8 * q - base };
}

/**
 * "Legacy Interfaces: A Note on Virtqueue Layout": desc[Q], avail, pad to the next Queue Align boundary,
 * used; total = ALIGN(16*Q + 2*(3+Q)) + ALIGN(2*3 + 8*Q). (The spec's ALIGN macro is printed as
 * ((x) + qalign) & ~qalign, which only works with qalign meaning the mask; rounding up is what it means.)
 */
function specLegacy(q: number, base: number) {
  const qalign = 4096;
  const desc = base;
  const avail = desc + 16 * q;
  const used = base + roundUp(16 * q + 2 * (3 + q), qalign);
  const bytes = roundUp(16 * q + 2 * (3 + q), qalign) + roundUp(2 * 3 + 8 * q, qalign);
  return { desc, avail, used, end: used + 6 + 8 * q, bytes };
}

describe("vringLayout", () => {
  const cases: [RingAlignment, number][] = [
    ["legacy", 0],
    ["legacy", 3 * 4096],
    ["virtio1", 0],
    ["virtio1", 48],
  ];
  for (const size of [1, 256, 32768]) {
    for (const [alignment, base] of cases) {
      it(`matches the spec for size ${size}, ${alignment}, base ${base}`, () => {
        const spec = alignment === "legacy" ? specLegacy(size, base) : specVirtio1(size, base);
        const l = vringLayout(size, base, alignment);
        expect(l.desc).toBe(spec.desc);
        expect(l.avail).toBe(spec.avail);
        // struct virtq_avail { flags; idx; ring[Q]; used_event }
        expect(l.usedEvent).toBe(spec.avail + 2 + 2 + 2 * size);
        expect(l.used).toBe(spec.used);
        // struct virtq_used { flags; idx; ring[Q] of 8-byte elems; avail_event }
        expect(l.availEvent).toBe(spec.used + 2 + 2 + 8 * size);
        expect(l.end).toBe(spec.end);
        expect(l.bytes).toBe(spec.bytes);
        expect(vringBytes(size, alignment)).toBe(spec.bytes);
        // Each part honours the spec's minimum alignment.
        expect(l.desc % 16).toBe(0);
        expect(l.avail % 2).toBe(0);
        expect(l.used % (alignment === "legacy" ? 4096 : 4)).toBe(0);
      });
    }
  }

  it("rejects sizes that are not a power of two in 1..32768", () => {
    for (const size of [0, 3, 100, 65536, -4, 2.5]) {
      expect(() => vringLayout(size)).toThrowError(expect.objectContaining({ kind: "invalid-size" }));
    }
  });

  it("rejects a misaligned base", () => {
    expect(() => vringLayout(16, 2048, "legacy")).toThrowError(
      expect.objectContaining({ kind: "misaligned" }),
    );
    expect(() => vringLayout(16, 8, "virtio1")).toThrowError(expect.objectContaining({ kind: "misaligned" }));
  });

  it("checks the ring fits guest memory", () => {
    const l = vringLayout(256, 4096);
    expect(() => checkLayoutFits(l, 4096 + l.bytes)).not.toThrow();
    expect(() => checkLayoutFits(l, 4096 + l.bytes - 1)).toThrow(VirtqueueError);
  });
});

describe("vringNeedEvent", () => {
  it("is true exactly when the event index was passed, across the u16 wrap", () => {
    // Spec: notify when idx moves past event, i.e. event in [old, new) modulo 2^16.
    for (const old of [0, 100, 65530, 65535]) {
      for (let step = 0; step <= 8; step++) {
        const next = (old + step) & 0xffff;
        for (let d = -3; d <= 10; d++) {
          const event = (old + d) & 0xffff;
          expect(vringNeedEvent(event, next, old)).toBe(d >= 0 && d < step);
        }
      }
    }
  });
});
