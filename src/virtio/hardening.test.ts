/**
 * Driver-side hardening against a device that rewrites the ring (Linux 5.x+ desc_extra, BAD_RING):
 * detach follows only the driver's own record, and a lying used ring breaks the queue for good.
 */
import { describe, expect, it } from "vitest";
import { VirtqueueError } from "./errors.ts";
import { VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE } from "./layout.ts";
import { createTestQueue, type TestQueue } from "./mock.ts";

/** The device completes `head` with `len` by writing the used ring directly. */
function use(q: TestQueue, head: number, len: number): void {
  const view = new DataView(q.memory);
  const idx = view.getUint16(q.layout.used + 2, true);
  const elem = q.layout.used + 4 + 8 * (idx & (q.layout.size - 1));
  view.setUint32(elem, head, true);
  view.setUint32(elem + 4, len, true);
  view.setUint16(q.layout.used + 2, (idx + 1) & 0xffff, true);
}

/** Posts one buffer of `lens` (all device-writable); the device pops it and the head is returned. */
function post(q: TestQueue, token: number, lens: number[]): number {
  lens.forEach((l, i) => {
    q.sg.set(i, 0x10000 * (i + 1), l);
  });
  q.driver.addBuf(0, lens.length, q.sg, token);
  q.driver.kick();
  return q.device.popChain();
}

describe("detach follows the driver's record, not the ring", () => {
  it("survives desc[head].next pointed back at head (v3.2 looped forever)", () => {
    const q = createTestQueue({ size: 4 });
    const head = post(q, 5, [10, 1500]);
    const view = new DataView(q.memory);
    const d = q.layout.desc + 16 * head;
    view.setUint16(d + 12, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, true);
    view.setUint16(d + 14, head, true);
    use(q, head, 100);
    expect(q.driver.getBuf()).toBe(5);
    expect(q.driver.numFree).toBe(4);
    // The free list is intact: four more one-descriptor buffers fit, a fifth does not, and the device
    // reads back what was posted.
    const heads = new Set<number>();
    for (let t = 0; t < 4; t++) {
      heads.add(post(q, t, [64 + t]));
      expect([q.device.chain.count, q.device.chain.len[0]]).toEqual([1, 64 + t]);
    }
    expect(heads).toEqual(new Set([0, 1, 2, 3]));
    expect(q.driver.numFree).toBe(0);
  });

  it("counts free descriptors from the posted chain when the device sets NEXT everywhere", () => {
    const q = createTestQueue({ size: 8 });
    const head = post(q, 1, [10, 20]);
    post(q, 2, [30]);
    const view = new DataView(q.memory);
    for (let i = 0; i < 8; i++) view.setUint16(q.layout.desc + 16 * i + 12, VRING_DESC_F_NEXT, true);
    use(q, head, 30);
    expect(q.driver.getBuf()).toBe(1);
    expect(q.driver.numFree).toBe(7);
  });

  it("frees the indirect table it allocated, whatever address the ring now holds", () => {
    const q = createTestQueue({ size: 4, indirect: true });
    const head = post(q, 3, [10, 1500]);
    expect(q.pool.inUse).toBe(1);
    new DataView(q.memory).setUint32(q.layout.desc + 16 * head, 0xdead0, true);
    use(q, head, 1510);
    expect(q.driver.getBuf()).toBe(3);
    expect(q.pool.inUse).toBe(0);
  });
});

describe("a lying used ring breaks the queue", () => {
  it("used len beyond the buffer's writable bytes breaks it; every later call throws the same error", () => {
    const q = createTestQueue({ size: 4 });
    const head = post(q, 7, [10, 54]);
    use(q, head, 65);
    let first: unknown;
    try {
      q.driver.getBuf();
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(VirtqueueError);
    expect((first as VirtqueueError).kind).toBe("used-len-too-long");
    expect((first as Error).message).toMatch(/len 65 > the buffer's 64 writable bytes; the queue is broken/);
    expect(q.driver.broken).toBe(first);
    for (const call of [
      () => q.driver.getBuf(),
      () => q.driver.addBuf(0, 1, q.sg, 1),
      () => q.driver.kick(),
      () => q.driver.enableCb(),
      () => q.driver.enableCbDelayed(),
      () => q.driver.moreUsed(),
    ]) {
      expect(call).toThrow(first as Error);
    }
    expect(q.driver.brokenCalls).toBe(6);
    // Reset-then-detach still recovers the buffers, from the driver's record alone.
    expect(q.driver.detachUnusedBuf()).toBe(7);
    expect(q.driver.numFree).toBe(4);
  });

  it("accepts a used len equal to the writable bytes, and any len on a buffer with nothing writable", () => {
    const q = createTestQueue({ size: 4 });
    const head = post(q, 1, [10, 54]);
    use(q, head, 64);
    expect(q.driver.getBuf()).toBe(1);
    // The legacy devices that got 5.16-rc1's check reverted: a length on a device-readable buffer.
    q.sg.set(0, 0x1000, 24);
    q.driver.addBuf(1, 0, q.sg, 2);
    q.driver.kick();
    use(q, q.device.popChain(), 28);
    expect(q.driver.getBuf()).toBe(2);
    expect(q.driver.broken).toBeNull();
  });

  it("a used entry for a buffer already taken breaks it", () => {
    const q = createTestQueue({ size: 4 });
    const head = post(q, 1, [64]);
    use(q, head, 64);
    use(q, head, 64);
    expect(q.driver.getBuf()).toBe(1);
    expect(() => q.driver.getBuf()).toThrow(/id \d, which is not an outstanding head; the queue is broken/);
    expect(q.driver.broken?.kind).toBe("used-id-not-head");
  });
});

describe("avail->idx and avail->flags come from the driver's shadows (Linux 4.4), not guest memory", () => {
  it("posts after the entries it published and keeps used_event armed when a device rewrote them", () => {
    const q = createTestQueue({ size: 8, eventIdx: true });
    const view = new DataView(q.memory);
    const first = post(q, 1, [100]);
    expect(q.driver.availIdx).toBe(1);
    view.setUint16(q.layout.avail + 2, 0x1234, true);
    view.setUint16(q.layout.avail, VRING_AVAIL_F_NO_INTERRUPT, true);
    q.sg.set(0, 0x10000, 200);
    q.driver.addBuf(0, 1, q.sg, 2);
    q.driver.kick();
    // The second head sits in avail->ring[1] and avail->idx is 2, as if nothing had been rewritten.
    expect(q.driver.availIdx).toBe(2);
    const second = view.getUint16(q.layout.avail + 4 + 2, true);
    expect(second).not.toBe(first);
    use(q, first, 50);
    expect(q.driver.getBuf()).toBe(1);
    // Callbacks are enabled as far as the driver knows, so getBuf moved used_event on.
    expect(view.getUint16(q.layout.usedEvent, true)).toBe(1);
  });
});
