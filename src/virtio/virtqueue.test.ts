import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UIO_MAXIOV, VirtqueueDevice } from "./device.ts";
import { ENOSPC, Scatterlist, VirtqueueDriver } from "./driver.ts";
import type { VirtqueueErrorKind } from "./errors.ts";
import {
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  vringLayout,
} from "./layout.ts";
import { createTestQueue } from "./mock.ts";

const kind = (k: VirtqueueErrorKind) => expect.objectContaining({ kind: k });

describe("driver and device together", () => {
  it("runs one add/kick/pop/addUsed/getBuf cycle; the device sees nothing before the kick", () => {
    const q = createTestQueue({ size: 16 });
    q.sg.set(0, 0x10000, 10);
    q.sg.set(1, 0x20000, 1518);
    expect(q.driver.addBuf(0, 2, q.sg, 7)).toBe(14);
    expect(q.device.popChain()).toBe(-1);
    expect(q.driver.numAdded).toBe(1);
    expect(q.driver.kick()).toBe(true);
    const head = q.device.popChain();
    expect(head).toBeGreaterThanOrEqual(0);
    const c = q.device.chain;
    expect([c.count, c.readableBytes, c.writableBytes, c.firstWritable, c.indirect]).toEqual([
      2,
      0,
      1528,
      0,
      false,
    ]);
    expect([c.addr[0], c.len[0], c.addr[1], c.len[1]]).toEqual([0x10000, 10, 0x20000, 1518]);
    c.writeNetHdr(10, 1);
    c.write(1000);
    q.device.addUsed(head, c.written);
    expect(q.driver.getBuf()).toBe(-1); // not published yet
    q.device.publishUsed();
    expect(q.driver.getBuf()).toBe(7);
    expect(q.driver.lastLen).toBe(1010);
    expect(q.driver.lastId).toBe(head);
    expect(q.driver.numFree).toBe(16);
    expect(q.driver.getBuf()).toBe(-1);
  });

  for (const initialIndex of [0, 65530]) {
    it(`treats a ring holding exactly size entries as full, not empty (start ${initialIndex})`, () => {
      const size = 8;
      const q = createTestQueue({ size, initialIndex });
      for (let t = 0; t < size; t++) {
        q.sg.set(0, 0x1000 * t, 100);
        expect(q.driver.addBuf(0, 1, q.sg, t)).toBe(size - 1 - t);
      }
      expect(q.driver.addBuf(0, 1, q.sg, 99)).toBe(-ENOSPC);
      q.driver.kick();
      expect(q.device.availableCount()).toBe(size);
      const heads: number[] = [];
      for (let h = q.device.popChain(); h >= 0; h = q.device.popChain()) heads.push(h);
      expect(heads.length).toBe(size);
      expect(new Set(heads).size).toBe(size);
      for (const h of heads) q.device.addUsed(h, 1);
      q.device.publishUsed();
      for (let t = 0; t < size; t++) expect(q.driver.getBuf()).toBe(t);
      expect(q.driver.getBuf()).toBe(-1);
      expect(q.driver.availIdx).toBe((initialIndex + size) & 0xffff);
    });
  }

  it("lays out indirect tables in guest memory and frees them on getBuf", () => {
    const q = createTestQueue({ size: 4, indirect: true });
    const view = new DataView(q.memory);
    for (let i = 0; i < 3; i++) q.sg.set(i, 0x100000 + i * 0x1000, 100 + i);
    expect(q.driver.addBuf(1, 2, q.sg, 5)).toBe(3); // one ring descriptor
    const head = view.getUint16(q.layout.avail + 4, true);
    const d = q.layout.desc + 16 * head;
    const table = q.pool.offset;
    expect(view.getUint16(d + 12, true)).toBe(VRING_DESC_F_INDIRECT);
    expect(view.getUint32(d, true)).toBe(table);
    expect(view.getUint32(d + 8, true)).toBe(48);
    const flags = [0, 1, 2].map((i) => view.getUint16(table + 16 * i + 12, true));
    expect(flags).toEqual([VRING_DESC_F_NEXT, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, VRING_DESC_F_WRITE]);
    expect([0, 1].map((i) => view.getUint16(table + 16 * i + 14, true))).toEqual([1, 2]);
    q.driver.kick();
    expect(q.device.popChain()).toBe(head);
    const c = q.device.chain;
    expect([c.indirect, c.count, c.readableBytes, c.writableBytes, c.firstWritable]).toEqual([
      true,
      3,
      100,
      203,
      1,
    ]);
    q.device.addUsed(head, 0);
    q.device.publishUsed();
    expect(q.pool.inUse).toBe(1);
    expect(q.driver.getBuf()).toBe(5);
    expect(q.pool.inUse).toBe(0);
    expect(q.driver.numFree).toBe(4);
  });

  it("writes every byte of an indirect table as vring_add_indirect does, the last entry's next 0", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.nat({ max: 0xffff }),
        (out, inCount, salt) => {
          const total = out + inCount;
          fc.pre(total >= 2);
          const q = createTestQueue({ size: 8, indirect: true, maxSg: 8 });
          const view = new DataView(q.memory);
          const table = q.pool.offset;
          // Scribble on the block first: every byte of the table must be the driver's.
          new Uint8Array(q.memory, table, 16 * total).fill(0xa5);
          const addr = (k: number) => 2 ** 40 + salt * 2 ** 20 + k * 4096;
          for (let k = 0; k < total; k++) q.sg.set(k, addr(k), 100 + k + salt);
          q.driver.addBuf(out, inCount, q.sg, 1);
          const expected = new DataView(new ArrayBuffer(16 * total));
          for (let k = 0; k < total; k++) {
            const more = k + 1 < total;
            const flags = (k < out ? 0 : VRING_DESC_F_WRITE) | (more ? VRING_DESC_F_NEXT : 0);
            expected.setBigUint64(16 * k, BigInt(addr(k)), true);
            expected.setUint32(16 * k + 8, 100 + k + salt, true);
            expected.setUint16(16 * k + 12, flags, true);
            expected.setUint16(16 * k + 14, more ? k + 1 : 0, true);
          }
          expect(new Uint8Array(q.memory, table, 16 * total)).toEqual(new Uint8Array(expected.buffer));
          expect(view.getUint16(q.layout.desc + 12, true)).toBe(VRING_DESC_F_INDIRECT);
        },
      ),
    );
  });

  it("falls back to direct descriptors when the indirect table cannot be allocated", () => {
    const q = createTestQueue({ size: 8, indirect: true, poolBlocks: 1 });
    q.sg.set(0, 0x1000, 10);
    q.sg.set(1, 0x2000, 1518);
    expect(q.driver.addBuf(0, 2, q.sg, 1)).toBe(7); // indirect, pool now empty
    expect(q.driver.addBuf(0, 2, q.sg, 2)).toBe(5); // exhausted pool: direct
    q.pool.failing = true;
    expect(q.driver.addBuf(0, 2, q.sg, 3)).toBe(3); // injected kmalloc failure: direct
    expect(q.driver.indirectAllocFailures).toBe(2);
    q.driver.kick();
    const indirect: boolean[] = [];
    for (let h = q.device.popChain(); h >= 0; h = q.device.popChain()) {
      indirect.push(q.device.chain.indirect);
      expect(q.device.chain.count).toBe(2);
    }
    expect(indirect).toEqual([true, false, false]);
  });

  it("writes header bytes into guest memory across descriptor boundaries and can patch them later", () => {
    const q = createTestQueue({ size: 4 });
    const a = q.dataBase;
    const b = q.dataBase + 64;
    q.sg.set(0, a, 6);
    q.sg.set(1, b, 100);
    q.driver.addBuf(0, 2, q.sg, 0);
    q.driver.kick();
    q.device.popChain();
    const bytes = new Uint8Array(q.memory);
    bytes.fill(0xee, a, b + 100);
    const c = q.device.chain;
    expect(c.writeNetHdr(12, 0x0203)).toBe(12);
    expect([...bytes.subarray(a, a + 7)]).toEqual([0, 0, 0, 0, 0, 0, 0xee]);
    expect([...bytes.subarray(b, b + 7)]).toEqual([0, 0, 0, 0, 0x03, 0x02, 0xee]);
    expect(c.writableAddress(10)).toBe(b + 4);
    expect(c.writableAddress(106)).toBe(-1);
    expect(q.device.writeGuestU16(c.writableAddress(10), 5)).toBe(true);
    expect(new DataView(q.memory).getUint16(b + 4, true)).toBe(5);
    expect(c.write(c.remaining)).toBe(94);
    expect(() => c.write(1)).toThrowError(kind("write-overflow"));
  });

  it("suppresses kicks and interrupts with flags when EVENT_IDX is off", () => {
    const q = createTestQueue({ size: 8 });
    q.sg.set(0, 0x1000, 64);
    q.device.disableNotification();
    q.driver.addBuf(0, 1, q.sg, 0);
    expect(q.driver.kick()).toBe(false);
    expect(q.device.enableNotification()).toBe(true); // the recheck sees the unpopped entry
    q.driver.addBuf(0, 1, q.sg, 1);
    expect(q.driver.kick()).toBe(true);
    expect([q.driver.kicks, q.driver.notifications]).toEqual([2, 1]);

    q.device.addUsed(q.device.popChain(), 1);
    q.device.publishUsed();
    q.driver.disableCb();
    expect(q.device.needsNotification()).toBe(false);
    expect(q.driver.enableCb()).toBe(false); // a used buffer is already pending: poll again
    expect(q.device.needsNotification()).toBe(true);
    expect(q.driver.getBuf()).toBe(0);
    expect(q.driver.enableCb()).toBe(true);
  });

  it("uses avail_event and used_event when EVENT_IDX is on", () => {
    const q = createTestQueue({ size: 8, eventIdx: true });
    q.sg.set(0, 0x1000, 64);
    // avail_event starts at 0: the first kick that publishes entry 0 notifies, later ones do not.
    q.driver.addBuf(0, 1, q.sg, 0);
    expect(q.driver.kick()).toBe(true);
    q.driver.addBuf(0, 1, q.sg, 1);
    expect(q.driver.kick()).toBe(false);
    expect(q.driver.kick()).toBe(false); // nothing added: never notifies
    q.device.disableNotification(); // a no-op with EVENT_IDX
    q.device.popChain();
    expect(q.device.enableNotification()).toBe(true); // avail_event = next_avail = 1, entry 1 waiting
    q.driver.addBuf(0, 1, q.sg, 2);
    expect(q.driver.kick()).toBe(false); // event 1 is not in [2, 3)
    q.device.popChain();
    q.device.popChain();
    expect(q.device.enableNotification()).toBe(false); // avail_event = 3
    q.driver.addBuf(0, 1, q.sg, 3);
    expect(q.driver.kick()).toBe(true);

    // Interrupt side: the first decision is always true (vhost signalled_used_valid).
    q.device.addUsed(0, 1);
    q.device.publishUsed();
    expect(q.device.needsNotification()).toBe(true);
    q.driver.disableCb(); // ignored by the device under EVENT_IDX
    q.device.addUsed(1, 1);
    q.device.publishUsed();
    // used_event is still 0 (getBuf has not run), and entry 1 does not pass it.
    expect(q.device.needsNotification()).toBe(false);
    expect(q.driver.enableCb()).toBe(false);
    expect(q.driver.getBuf()).toBe(0);
    expect(q.driver.getBuf()).toBe(1);
    expect(q.driver.enableCb()).toBe(true); // used_event = 2
    q.device.addUsed(2, 1);
    q.device.publishUsed();
    expect(q.device.needsNotification()).toBe(true);
  });

  it("enableCbDelayed asks for the interrupt after 3/4 of the outstanding buffers", () => {
    const q = createTestQueue({ size: 8, eventIdx: true });
    q.sg.set(0, 0x1000, 64);
    for (let t = 0; t < 8; t++) q.driver.addBuf(0, 1, q.sg, t);
    q.driver.kick();
    expect(q.driver.enableCbDelayed()).toBe(true);
    const usedEvent = new DataView(q.memory).getUint16(q.layout.usedEvent, true);
    expect(usedEvent).toBe(6);
    for (let i = 0; i < 7; i++) q.device.addUsed(q.device.popChain(), 0);
    q.device.publishUsed();
    expect(q.driver.enableCbDelayed()).toBe(false); // 7 used > 6
  });

  it("detaches every outstanding buffer after a device reset", () => {
    const q = createTestQueue({ size: 8, indirect: true });
    q.sg.set(0, 0x1000, 10);
    q.sg.set(1, 0x2000, 100);
    const added = [10, 11, 12];
    for (const t of added) q.driver.addBuf(0, 2, q.sg, t);
    q.pool.failing = true;
    q.driver.addBuf(0, 2, q.sg, 13);
    q.driver.kick();
    const got: number[] = [];
    for (let t = q.driver.detachUnusedBuf(); t >= 0; t = q.driver.detachUnusedBuf()) got.push(t);
    expect(got.sort()).toEqual([10, 11, 12, 13]);
    expect(q.driver.numFree).toBe(8);
    expect(q.driver.availIdx).toBe(0);
    expect(q.pool.inUse).toBe(0);
  });

  it("sets NO_INTERRUPT for a queue without a callback", () => {
    const layout = vringLayout(4);
    const memory = new ArrayBuffer(layout.bytes);
    new VirtqueueDriver(memory, layout, { hasCallback: false });
    expect(new DataView(memory).getUint16(layout.avail, true)).toBe(VRING_AVAIL_F_NO_INTERRUPT);
  });

  it("works at a non-zero base with the VIRTIO 1.x layout", () => {
    const layout = vringLayout(4, 64, "virtio1");
    const memory = new ArrayBuffer(64 + layout.bytes);
    const driver = new VirtqueueDriver(memory, layout, { eventIdx: true });
    const device = new VirtqueueDevice(memory, layout, { eventIdx: true });
    const sg = new Scatterlist(1);
    sg.set(0, 0x5000, 9);
    driver.addBuf(0, 1, sg, 3);
    driver.kick();
    const view = new DataView(memory);
    expect(view.getUint16(layout.avail + 2, true)).toBe(1);
    const head = device.popChain();
    device.addUsed(head, 9);
    device.publishUsed();
    expect(view.getUint16(layout.used + 2, true)).toBe(1);
    expect(view.getUint32(layout.used + 4, true)).toBe(head);
    expect(driver.getBuf()).toBe(3);
  });
});

describe("driver checks", () => {
  it("reports concurrent access naming both owners", () => {
    const q = createTestQueue({ size: 4 });
    q.driver.beginAccess(1);
    expect(() => q.driver.beginAccess(2)).toThrowError(/owner 2 entered while owner 1 is inside/);
    expect(() => q.driver.endAccess(2)).toThrowError(kind("concurrent-access"));
    q.driver.endAccess(1);
    q.driver.beginAccess(2);
    q.driver.endAccess(2);
  });

  for (const [id, k] of [
    [9, "used-id-out-of-range"],
    [3, "used-id-not-head"], // a descriptor that is not a head
  ] as const) {
    it(`rejects used-ring id ${id} (${k})`, () => {
      const q = createTestQueue({ size: 4 });
      q.sg.set(0, 0x1000, 64);
      q.driver.addBuf(0, 1, q.sg, 0);
      q.driver.kick();
      const view = new DataView(q.memory);
      view.setUint32(q.layout.used + 4, id, true);
      view.setUint16(q.layout.used + 2, 1, true);
      expect(() => q.driver.getBuf()).toThrowError(kind(k));
    });
  }

  it("rejects API misuse", () => {
    const q = createTestQueue({ size: 2 });
    expect(() => q.driver.addBuf(0, 0, q.sg, 0)).toThrowError(kind("invalid-argument"));
    expect(() => q.driver.addBuf(0, 1, q.sg, -1)).toThrowError(kind("invalid-argument"));
    expect(() => q.driver.addBuf(0, 3, q.sg, 0)).toThrowError(kind("invalid-argument")); // > queue size
    expect(() => q.device.addUsed(0, 0)).toThrowError(kind("invalid-argument")); // nothing popped
    expect(() => q.device.addUsed(2, 0)).toThrowError(kind("used-id-out-of-range"));
  });
});

/** Writes rings by hand, the way a buggy or hostile driver could. */
function rawRing(size: number, indirect = true, spareBytes = 4096) {
  const layout = vringLayout(size);
  const memory = new ArrayBuffer(layout.bytes + spareBytes);
  const view = new DataView(memory);
  const device = new VirtqueueDevice(memory, layout, { indirect });
  const desc = (table: number, i: number, addr: number, len: number, flags: number, next: number) => {
    const o = table + 16 * i;
    view.setUint32(o, addr, true);
    view.setUint32(o + 4, 0, true);
    view.setUint32(o + 8, len, true);
    view.setUint16(o + 12, flags, true);
    view.setUint16(o + 14, next, true);
  };
  const offer = (...heads: number[]) => {
    const idx = view.getUint16(layout.avail + 2, true);
    heads.forEach((h, k) => {
      view.setUint16(layout.avail + 4 + 2 * ((idx + k) % size), h, true);
    });
    view.setUint16(layout.avail + 2, (idx + heads.length) & 0xffff, true);
  };
  return { layout, memory, view, device, desc, offer, spare: layout.bytes };
}

describe("device validation", () => {
  const N = VRING_DESC_F_NEXT;
  const W = VRING_DESC_F_WRITE;
  const I = VRING_DESC_F_INDIRECT;

  it("rejects a head out of range", () => {
    const r = rawRing(4);
    r.offer(4);
    expect(() => r.device.popChain()).toThrowError(kind("head-out-of-range"));
  });

  it("rejects next out of range", () => {
    const r = rawRing(4);
    r.desc(r.layout.desc, 0, 0, 1, N, 4);
    r.offer(0);
    expect(() => r.device.popChain()).toThrowError(kind("next-out-of-range"));
  });

  it("detects loops in the descriptor table and in indirect tables", () => {
    const r = rawRing(4);
    r.desc(r.layout.desc, 0, 0, 1, N, 1);
    r.desc(r.layout.desc, 1, 0, 1, N, 0);
    r.offer(0);
    expect(() => r.device.popChain()).toThrowError(kind("descriptor-loop"));
    r.desc(r.layout.desc, 2, r.spare, 32, I, 0);
    r.desc(r.spare, 0, 0, 1, N, 1);
    r.desc(r.spare, 1, 0, 1, N, 1);
    r.offer(2);
    expect(() => r.device.popChain()).toThrowError(/chain 2 loops .*indirect table at/);
  });

  it("leaves the chain of a rejected pop empty: its totals are stored only once the walk succeeds", () => {
    const r = rawRing(4);
    r.desc(r.layout.desc, 0, 0, 64, N | W, 1);
    r.desc(r.layout.desc, 1, 0, 1, N, 4);
    r.offer(0);
    expect(() => r.device.popChain()).toThrowError(kind("next-out-of-range"));
    const c = r.device.chain;
    expect([c.head, c.count, c.writableBytes, c.firstWritable, c.misplacedReadable]).toEqual([
      0, 0, 0, -1, -1,
    ]);
  });

  it("accepts indirect chains longer than the queue size, up to UIO_MAXIOV descriptors", () => {
    const long = UIO_MAXIOV + 1;
    const r = rawRing(2, true, 16 * (3 + long));
    const short = r.spare;
    const big = r.spare + 16 * 3;
    for (let i = 0; i < 3; i++) r.desc(short, i, 0, 1, i < 2 ? N : 0, i + 1);
    for (let i = 0; i < long; i++) r.desc(big, i, 0, 1, i + 1 < long ? N : 0, i + 1);
    r.desc(r.layout.desc, 0, short, 16 * 3, I, 0);
    r.desc(r.layout.desc, 1, big, 16 * long, I, 0);
    r.offer(0, 1);
    expect(r.device.popChain()).toBe(0);
    expect(r.device.chain.count).toBe(3);
    expect(() => r.device.popChain()).toThrowError(kind("chain-too-long"));
  });

  it("rejects chains longer than 2^32 bytes", () => {
    const r = rawRing(4);
    r.desc(r.layout.desc, 0, 0, 0xffffffff, N, 1);
    r.desc(r.layout.desc, 1, 0, 1, 0, 0);
    r.offer(0);
    expect(() => r.device.popChain()).toThrowError(kind("chain-too-long"));
  });

  it("validates indirect descriptors", () => {
    const cases: [VirtqueueErrorKind, (r: ReturnType<typeof rawRing>) => void][] = [
      ["indirect-with-next", (r) => r.desc(r.layout.desc, 0, r.spare, 32, I | N, 1)],
      ["indirect-table-length", (r) => r.desc(r.layout.desc, 0, r.spare, 24, I, 0)],
      ["indirect-table-length", (r) => r.desc(r.layout.desc, 0, r.spare, 0, I, 0)],
      ["indirect-table-bounds", (r) => r.desc(r.layout.desc, 0, r.memory.byteLength - 16, 32, I, 0)],
      [
        "nested-indirect",
        (r) => {
          r.desc(r.layout.desc, 0, r.spare, 32, I, 0);
          r.desc(r.spare, 0, r.spare + 64, 16, I, 0);
        },
      ],
    ];
    for (const [k, build] of cases) {
      const r = rawRing(4);
      build(r);
      r.offer(0);
      expect(() => r.device.popChain()).toThrowError(kind(k));
    }
    const r = rawRing(4, false);
    r.desc(r.layout.desc, 0, r.spare, 32, I, 0);
    r.offer(0);
    expect(() => r.device.popChain()).toThrowError(kind("indirect-not-negotiated"));
  });

  it("rejects avail->idx more than size ahead", () => {
    const r = rawRing(4);
    r.view.setUint16(r.layout.avail + 2, 5, true);
    expect(() => r.device.popChain()).toThrowError(kind("avail-index-too-far"));
  });

  it("refuses writes when a readable descriptor follows writable ones", () => {
    const r = rawRing(4);
    r.desc(r.layout.desc, 0, 0, 10, W | N, 1);
    r.desc(r.layout.desc, 1, 0, 10, 0, 0);
    r.offer(0);
    expect(r.device.popChain()).toBe(0);
    expect(r.device.chain.misplacedReadable).toBe(1);
    expect(() => r.device.chain.write(1)).toThrowError(kind("readable-after-writable"));
  });

  it("reads avail->idx again only when the entries of its last read are popped (vhost_get_vq_desc)", () => {
    const r = rawRing(4);
    r.desc(r.layout.desc, 0, 0, 10, W, 0);
    r.desc(r.layout.desc, 1, 0, 10, W, 0);
    r.offer(0, 1);
    expect(r.device.popChain()).toBe(0);
    // The driver now claims 6 more entries: too far, but only noticed at the next read of avail->idx.
    r.view.setUint16(r.layout.avail + 2, 8, true);
    expect(r.device.popChain()).toBe(1);
    expect(() => r.device.popChain()).toThrowError(kind("avail-index-too-far"));
  });

  it("un-pops chains with discardChains", () => {
    const r = rawRing(4);
    r.desc(r.layout.desc, 0, 0, 10, W, 0);
    r.desc(r.layout.desc, 1, 0, 10, W, 0);
    r.offer(0, 1);
    r.device.popChain();
    r.device.popChain();
    r.device.discardChains(1);
    expect(r.device.popChain()).toBe(1);
    expect(() => r.device.discardChains(3)).toThrowError(kind("invalid-argument"));
  });
});

describe("avail->idx: at kick (v3.2 virtqueue_kick) or with every add (6.1 virtqueue_add_split)", () => {
  /** Adds `n` one-entry buffers, recording what the device can pop after each add. */
  function addSome(q: ReturnType<typeof createTestQueue>, n: number, seen: number[]): void {
    for (let i = 0; i < n; i++) {
      q.sg.set(0, 0x1000 * (i + 1), 64);
      q.driver.addBuf(0, 1, q.sg, i);
      seen.push(q.device.availableCount());
    }
  }

  for (const initialIndex of [0, 65534]) {
    it(`6.1 exposes each buffer at once, v3.2 only at kick (start ${initialIndex})`, () => {
      const old = createTestQueue({ size: 8, initialIndex });
      const now = createTestQueue({ size: 8, initialIndex, availPerAdd: true });
      const seenOld: number[] = [];
      const seenNow: number[] = [];
      addSome(old, 3, seenOld);
      addSome(now, 3, seenNow);
      expect(seenOld).toEqual([0, 0, 0]);
      expect(seenNow).toEqual([1, 2, 3]);
      expect([old.driver.numAdded, now.driver.numAdded]).toEqual([3, 3]);
      expect(now.driver.availIdx).toBe((initialIndex + 3) & 0xffff);
      old.driver.kick();
      now.driver.kick();
      expect([old.device.availableCount(), now.device.availableCount()]).toEqual([3, 3]);
      expect([old.driver.availIdx, now.driver.numAdded]).toEqual([(initialIndex + 3) & 0xffff, 0]);
      // The same heads in the same slots either way.
      const heads = (q: typeof old) => [q.device.popChain(), q.device.popChain(), q.device.popChain()];
      expect(heads(now)).toEqual(heads(old));
    });
  }

  for (const eventIdx of [false, true]) {
    it(`virtqueue_kick_prepare decides the notification as v3.2's kick did (EVENT_IDX ${eventIdx})`, () => {
      const decisions = (availPerAdd: boolean) => {
        const q = createTestQueue({ size: 8, eventIdx, availPerAdd });
        const out: boolean[] = [];
        const seen: number[] = [];
        addSome(q, 1, seen);
        out.push(q.driver.kick());
        addSome(q, 2, seen);
        out.push(q.driver.kick());
        out.push(q.driver.kick());
        // The device catches up and asks to be told about the next buffer (or sets NO_NOTIFY).
        for (let h = q.device.popChain(); h >= 0; h = q.device.popChain());
        q.device.enableNotification();
        addSome(q, 1, seen);
        out.push(q.driver.kick());
        q.device.disableNotification();
        addSome(q, 1, seen);
        out.push(q.driver.kick());
        return out;
      };
      const v32 = decisions(false);
      expect(decisions(true)).toEqual(v32);
      expect(v32).toEqual(eventIdx ? [true, false, false, true, false] : [true, true, true, true, false]);
    });
  }
});
