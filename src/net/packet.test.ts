import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ackWireBytes, HEADER_BYTES, PacketPool, PacketPoolError } from "./packet.ts";

describe("PacketPool", () => {
  it("agrees with a set model under random alloc/free sequences, across growth", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 400 }), (ops) => {
        const pool = new PacketPool(16);
        const live: number[] = [];
        for (const [alloc, pick] of ops) {
          if (alloc || live.length === 0) {
            const p = pool.alloc();
            expect(live).not.toContain(p);
            pool.seq[p] = p * 10;
            live.push(p);
          } else {
            const [p] = live.splice(pick % live.length, 1);
            pool.free(p!);
          }
          expect(pool.live).toBe(live.length);
        }
        // fields written before a growth survive it
        for (const p of live) expect(pool.seq[p]).toBe(p * 10);
        for (const p of live) pool.free(p);
        expect(pool.live).toBe(0);
      }),
    );
  });

  it("resets fields on alloc and rejects double frees", () => {
    const pool = new PacketPool(16);
    const p = pool.alloc();
    pool.len[p] = 1448;
    pool.sackCount[p] = 2;
    pool.free(p);
    const q = pool.alloc();
    expect(q).toBe(p);
    expect(pool.len[q]).toBe(0);
    expect(pool.sackCount[q]).toBe(0);
    pool.free(q);
    expect(() => pool.free(q)).toThrow(PacketPoolError);
    expect(() => pool.free(99)).toThrow(PacketPoolError);
  });

  it("counts 66 header bytes and 4 + 8 per SACK block on ACKs", () => {
    expect(HEADER_BYTES).toBe(66);
    expect(ackWireBytes(0)).toBe(66);
    expect(ackWireBytes(3)).toBe(66 + 4 + 24);
  });
});
