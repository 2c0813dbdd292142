/**
 * Fuzz-style properties: whatever bytes a driver (or a bug) leaves in the ring, the device side either
 * succeeds or throws VirtqueueError, within bounded work; the same for the driver reading a garbage
 * used ring, and for the driver when a hostile device rewrites any ring byte between its calls.
 * `VNETLAB_FUZZ=large` (`npm run fuzz`) runs the hostile-device property at its large case count.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtqueueDevice } from "./device.ts";
import { VirtqueueError, type VirtqueueErrorKind } from "./errors.ts";
import { type RingAlignment, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, vringLayout } from "./layout.ts";
import { createTestQueue } from "./mock.ts";

const SPARE = 512;
/** `npm run fuzz` sets VNETLAB_FUZZ=large; CI runs the small counts. */
const LARGE = process.env.VNETLAB_FUZZ === "large";

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Descriptor fields biased towards values that pass some checks, so walks get deep before failing. */
function descArb(size: number, memoryBytes: number, spareBase: number) {
  return fc.record({
    addrLo: fc.oneof(
      fc.integer({ min: spareBase, max: memoryBytes - 1 }),
      fc.integer({ min: 0, max: memoryBytes }),
      u32,
    ),
    addrHi: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: u32 }),
    len: fc.oneof(
      fc.integer({ min: 0, max: 8 }).map((n) => 16 * n),
      fc.integer({ min: 0, max: 4096 }),
      u32,
    ),
    flags: fc.oneof(
      {
        weight: 8,
        arbitrary: fc.constantFrom(
          0,
          VRING_DESC_F_WRITE,
          VRING_DESC_F_NEXT,
          VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
        ),
      },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 7 }) },
      { weight: 1, arbitrary: u16 },
    ),
    next: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: size }) },
      { weight: 1, arbitrary: u16 },
    ),
  });
}

const ringArb = fc
  .record({
    sizeLog: fc.integer({ min: 0, max: 5 }),
    alignment: fc.constantFrom<RingAlignment>("legacy", "virtio1"),
    eventIdx: fc.boolean(),
    indirect: fc.boolean(),
    nextAvail: u16,
  })
  .chain((base) => {
    const size = 1 << base.sizeLog;
    const layout = vringLayout(size, 0, base.alignment);
    const memoryBytes = layout.bytes + SPARE;
    const desc = descArb(size, memoryBytes, layout.bytes);
    return fc.record({
      base: fc.constant(base),
      descs: fc.array(desc, { minLength: size, maxLength: size }),
      // Indirect tables: descriptors in the spare region, or plain noise.
      spareDescs: fc.array(desc, { minLength: SPARE / 16, maxLength: SPARE / 16 }),
      heads: fc.array(
        fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: size }) }, { weight: 1, arbitrary: u16 }),
        {
          minLength: size,
          maxLength: size,
        },
      ),
      ahead: fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 0, max: size + 1 }) },
        { weight: 1, arbitrary: u16 },
      ),
      noise: fc.oneof(
        { weight: 3, arbitrary: fc.constant(new Uint8Array(0)) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
      ),
      writes: fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 8 }),
    });
  });

const kindsSeen = new Set<VirtqueueErrorKind>();
let chainsPopped = 0;

function expectOnlyVirtqueueErrors(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof VirtqueueError)) throw e;
    kindsSeen.add(e.kind);
  }
}

describe("device side on arbitrary ring contents", () => {
  it("pops and writes, or throws VirtqueueError", () => {
    fc.assert(
      fc.property(ringArb, ({ base, descs, spareDescs, heads, ahead, noise, writes }) => {
        const size = 1 << base.sizeLog;
        const layout = vringLayout(size, 0, base.alignment);
        const memory = new ArrayBuffer(layout.bytes + SPARE);
        const view = new DataView(memory);
        const put = (table: number, i: number, d: (typeof descs)[number]) => {
          const o = table + 16 * i;
          view.setUint32(o, d.addrLo, true);
          view.setUint32(o + 4, d.addrHi, true);
          view.setUint32(o + 8, d.len, true);
          view.setUint16(o + 12, d.flags, true);
          view.setUint16(o + 14, d.next, true);
        };
        descs.forEach((d, i) => {
          put(layout.desc, i, d);
        });
        spareDescs.forEach((d, i) => {
          put(layout.bytes, i, d);
        });
        heads.forEach((h, i) => {
          view.setUint16(layout.avail + 4 + 2 * i, h, true);
        });
        view.setUint16(layout.avail + 2, (base.nextAvail + ahead) & 0xffff, true);
        // Raw noise over the start of the descriptor table.
        new Uint8Array(memory).set(noise.subarray(0, Math.min(noise.length, 16 * size)), layout.desc);

        const dev = new VirtqueueDevice(memory, layout, { ...base, initialIndex: base.nextAvail });
        let w = 0;
        for (let i = 0; i <= size + 1; i++) {
          let head = -1;
          expectOnlyVirtqueueErrors(() => {
            head = dev.popChain();
          });
          if (head < 0) break;
          chainsPopped++;
          const c = dev.chain;
          expect(c.count).toBeLessThanOrEqual(size);
          expectOnlyVirtqueueErrors(() => {
            if (c.remaining >= 12) c.writeNetHdr(12, 1);
            c.write(Math.min(writes[w++ % writes.length]!, c.remaining + 1));
          });
          expectOnlyVirtqueueErrors(() => dev.addUsed(head, c.written));
        }
        dev.publishUsed();
        expectOnlyVirtqueueErrors(() => dev.needsNotification());
        expectOnlyVirtqueueErrors(() => dev.enableNotification());
      }),
      // A fixed seed: the coverage assertion below must not depend on the luck of one run.
      { numRuns: 1500, seed: 20120104 },
    );
    // The generator must reach both deep successes and many distinct rejections.
    expect(chainsPopped).toBeGreaterThan(500);
    for (const k of [
      "head-out-of-range",
      "next-out-of-range",
      "descriptor-loop",
      "nested-indirect",
      "indirect-with-next",
      "indirect-table-length",
      "indirect-table-bounds",
      "indirect-not-negotiated",
      "avail-index-too-far",
      "write-overflow",
    ] as const) {
      expect(kindsSeen, k).toContain(k);
    }
  });
});

describe("driver side on an arbitrary used ring", () => {
  it("returns tokens or -1, or throws VirtqueueError", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 16 }),
        fc.array(fc.record({ id: fc.oneof(fc.integer({ min: 0, max: 17 }), u32), len: u32 }), {
          minLength: 16,
          maxLength: 16,
        }),
        fc.oneof(fc.integer({ min: 0, max: 20 }), u16),
        (sizeLog, adds, elems, usedIdx) => {
          const size = 1 << sizeLog;
          const q = createTestQueue({ size, indirect: true });
          q.sg.set(0, 0x1000, 10);
          q.sg.set(1, 0x2000, 100);
          for (let t = 0; t < adds; t++) q.driver.addBuf(0, Math.min(1 + (t % 2), size), q.sg, t);
          q.driver.kick();
          const view = new DataView(q.memory);
          for (let i = 0; i < size; i++) {
            view.setUint32(q.layout.used + 4 + 8 * i, elems[i]!.id, true);
            view.setUint32(q.layout.used + 8 + 8 * i, elems[i]!.len, true);
          }
          view.setUint16(q.layout.used + 2, usedIdx, true);
          const seen = new Set<number>();
          for (let i = 0; i <= size + 1; i++) {
            let token = -1;
            expectOnlyVirtqueueErrors(() => {
              token = q.driver.getBuf();
            });
            if (token < 0) break;
            expect(seen.has(token)).toBe(false);
            seen.add(token);
          }
          expect(q.driver.numFree).toBeLessThanOrEqual(size);
        },
      ),
      { numRuns: 500, seed: 20120104 },
    );
    expect(kindsSeen).toContain("used-id-not-head");
    expect(kindsSeen).toContain("used-id-out-of-range");
  });
});

/** One thing a hostile device, or the driver's caller, does between driver calls. */
const opArb = (size: number, ringBytes: number) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant("add" as const),
        out: fc.nat(2),
        in: fc.nat(3),
        len: fc.oneof(fc.nat(2048), u32),
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant("kick" as const) }) },
    // An honest device completing up to n chains, writing `fill` of each (clamped to what fits).
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant("serve" as const),
        n: fc.integer({ min: 1, max: 4 }),
        fill: fc.nat(4096),
      }),
    },
    // A raw used entry published by the device.
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant("used" as const),
        id: fc.oneof({ weight: 5, arbitrary: fc.nat(size) }, { weight: 1, arbitrary: u32 }),
        len: fc.oneof(fc.nat(4096), u32),
      }),
    },
    // Any ring (or indirect table) bytes rewritten: descriptors, avail, used, event fields.
    {
      weight: 5,
      arbitrary: fc.record({
        t: fc.constant("poke" as const),
        off: fc.nat(ringBytes - 4),
        width: fc.constantFrom(1, 2, 4),
        value: u32,
      }),
    },
    { weight: 5, arbitrary: fc.record({ t: fc.constant("get" as const) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constantFrom("enable" as const, "disable" as const, "delayed" as const, "moreUsed" as const),
      }),
    },
  );

const hostileArb = fc
  .record({
    sizeLog: fc.integer({ min: 0, max: 5 }),
    indirect: fc.boolean(),
    eventIdx: fc.boolean(),
    initialIndex: fc.oneof(fc.constant(0), u16),
  })
  .chain((base) => {
    const size = 1 << base.sizeLog;
    const probe = createTestQueue({ size, indirect: base.indirect, maxSg: 4 });
    return fc.record({
      base: fc.constant(base),
      ops: fc.array(opArb(size, probe.dataBase), { minLength: 1, maxLength: 60 }),
    });
  });

/** Calls that a broken queue refuses with the error that broke it. */
const REFUSING = new Set(["add", "kick", "get", "enable", "delayed", "moreUsed"]);

describe("driver side under a device that rewrites the ring", () => {
  it("returns only tokens in flight, throws only VirtqueueError, and stays broken once broken", () => {
    let tried = 0;
    let handled = 0;
    let broken = 0;
    const kinds = new Map<string, number>();
    fc.assert(
      fc.property(hostileArb, ({ base, ops }) => {
        tried++;
        const size = 1 << base.sizeLog;
        const q = createTestQueue({
          size,
          indirect: base.indirect,
          eventIdx: base.eventIdx,
          initialIndex: base.initialIndex,
          maxSg: 4,
        });
        const view = new DataView(q.memory);
        const inFlight = new Set<number>();
        let nextToken = 0;
        const typed = (f: () => void, op: string) => {
          const wasBroken = q.driver.broken;
          try {
            f();
          } catch (e) {
            if (!(e instanceof VirtqueueError)) throw e;
            // Once broken, the refusing calls throw exactly the error that broke the queue.
            if (wasBroken !== null && REFUSING.has(op)) expect(e).toBe(wasBroken);
            return;
          }
          if (wasBroken !== null) expect(REFUSING.has(op)).toBe(false);
        };
        // The step bound: at most 60 ops, each bounded by the queue size (the driver throws a plain
        // Error, which fails the property, if its own record ever loops).
        for (const op of ops) {
          switch (op.t) {
            case "add":
              typed(() => {
                for (let k = 0; k < op.out + op.in; k++) q.sg.set(k, 0x1000 * (k + 1), op.len);
                if (q.driver.addBuf(op.out, op.in, q.sg, nextToken) >= 0) inFlight.add(nextToken);
                nextToken++;
              }, op.t);
              break;
            case "kick":
              typed(() => q.driver.kick(), op.t);
              break;
            case "serve":
              // Device-side errors on a rewritten ring are the device fuzz's business.
              typed(() => {
                for (let k = 0; k < op.n; k++) {
                  const head = q.device.popChain();
                  if (head < 0) break;
                  const c = q.device.chain;
                  c.write(Math.min(op.fill, c.remaining));
                  q.device.addUsed(head, c.written);
                }
                q.device.publishUsed();
              }, op.t);
              break;
            case "used": {
              const idx = view.getUint16(q.layout.used + 2, true);
              const elem = q.layout.used + 4 + 8 * (idx & (size - 1));
              view.setUint32(elem, op.id, true);
              view.setUint32(elem + 4, op.len, true);
              view.setUint16(q.layout.used + 2, (idx + 1) & 0xffff, true);
              break;
            }
            case "poke":
              if (op.width === 1) view.setUint8(op.off, op.value & 0xff);
              else if (op.width === 2) view.setUint16(op.off, op.value & 0xffff, true);
              else view.setUint32(op.off, op.value, true);
              break;
            case "get":
              typed(() => {
                const t = q.driver.getBuf();
                if (t < 0) return;
                expect(inFlight.delete(t)).toBe(true);
              }, op.t);
              break;
            case "enable":
              typed(() => q.driver.enableCb(), op.t);
              break;
            case "disable":
              typed(() => q.driver.disableCb(), op.t);
              break;
            case "delayed":
              typed(() => q.driver.enableCbDelayed(), op.t);
              break;
            case "moreUsed":
              typed(() => q.driver.moreUsed(), op.t);
              break;
          }
          expect(q.driver.numFree).toBeGreaterThanOrEqual(0);
          expect(q.driver.numFree).toBeLessThanOrEqual(size);
        }
        const b = q.driver.broken;
        if (b !== null) {
          broken++;
          kinds.set(b.kind, (kinds.get(b.kind) ?? 0) + 1);
        }
        // Reset and detach: exactly the buffers still in flight come back, and every descriptor and
        // indirect table is free again, whatever the device wrote.
        const back = new Set<number>();
        for (let t = q.driver.detachUnusedBuf(); t >= 0; t = q.driver.detachUnusedBuf()) back.add(t);
        expect(back).toEqual(inFlight);
        expect(q.driver.numFree).toBe(size);
        expect(q.pool.inUse).toBe(0);
        handled++;
      }),
      { numRuns: LARGE ? 100_000 : 3000, seed: 20120104 },
    );
    console.info(
      `driver-side hostile ring fuzz: ${tried} tried, ${handled} handled, ${broken} ended broken (${[...kinds].map(([k, n]) => `${k} ${n}`).join(", ")})`,
    );
    expect(handled).toBe(tried);
    // The generator reaches every way a used ring can lie.
    for (const k of ["used-id-out-of-range", "used-id-not-head", "used-len-too-long"])
      expect(kinds.has(k), k).toBe(true);
  });
});
