/**
 * Model-based test: random sequences of driver and device operations run against the real rings in
 * guest memory and against a plain reference model (queues of buffers and the spec's notification
 * rules written as "did the index pass the event"), which must agree on every return value.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ENOSPC } from "./driver.ts";
import { VRING_DESC_F_WRITE } from "./layout.ts";
import { createTestQueue, type TestQueue } from "./mock.ts";

interface Config {
  size: number;
  eventIdx: boolean;
  indirect: boolean;
  initialIndex: number;
  poolBlocks: number;
}

interface Buf {
  token: number;
  out: number;
  lens: number[];
  indirect: boolean;
}

interface Held {
  buf: Buf;
  head: number;
  len: number;
}

const MAX_SG = 4;

class Model {
  numFree: number;
  nextToken = 0;
  /** Added, not yet kicked: invisible to the device. */
  pending: Buf[] = [];
  /** Published in avail->idx, not yet popped. */
  avail: Buf[] = [];
  /** Popped by the device, not yet in the used ring. */
  held: Held[] = [];
  /** In the used ring, used->idx not yet advanced. */
  unpublished: Held[] = [];
  /** Published used entries the driver has not taken. */
  used: Held[] = [];
  indirectInUse = 0;
  indirectFailures = 0;
  allocFailing = false;
  availIdx: number;
  lastUsedIdx: number;
  publishedUsed: number;
  signalledUsed: number;
  signalledValid = false;
  deviceNextAvail: number;
  deviceNoNotify = false;
  availEvent: number;
  driverNoInterrupt = false;
  usedEvent: number;

  constructor(readonly cfg: Config) {
    this.numFree = cfg.size;
    this.availIdx = cfg.initialIndex;
    this.lastUsedIdx = cfg.initialIndex;
    this.publishedUsed = cfg.initialIndex;
    this.signalledUsed = cfg.initialIndex;
    this.deviceNextAvail = cfg.initialIndex;
    this.availEvent = cfg.initialIndex;
    this.usedEvent = cfg.initialIndex;
  }

  /** Buffers the driver has exposed and not got back. */
  outstanding(): Buf[] {
    return [...this.avail, ...this.held.map((h) => h.buf), ...this.unpublished.map((h) => h.buf)].concat(
      this.used.map((h) => h.buf),
    );
  }
}

/** Spec wording: notify when the index moved past `event`, i.e. event is one of from, from+1, …, to-1 (mod 2^16). */
function passes(event: number, from: number, to: number): boolean {
  for (let i = from; i !== to; i = (i + 1) & 0xffff) if (i === event) return true;
  return false;
}

/** What a run exercised; the suite asserts each case occurred at least once. */
const coverage = {
  wrapped: 0,
  usedWrapped: 0,
  fullRing: 0,
  enospc: 0,
  indirectFallback: 0,
  kickSuppressed: [0, 0],
  kickNotified: [0, 0],
  irqSuppressed: [0, 0],
  irqNotified: [0, 0],
  teardowns: 0,
};

type Cmd = fc.Command<Model, TestQueue>;

function sync(m: Model, r: TestQueue): void {
  expect(r.driver.numFree).toBe(m.numFree);
  expect(r.driver.availIdx).toBe(m.availIdx);
  expect(r.device.availableCount()).toBe(m.avail.length);
  expect(r.device.nextAvail).toBe(m.deviceNextAvail);
  expect(r.device.nextUsed).toBe((m.publishedUsed + m.unpublished.length) & 0xffff);
  expect(r.driver.moreUsed()).toBe(m.used.length > 0);
  expect(r.driver.indirectAllocFailures).toBe(m.indirectFailures);
}

class AddBuf implements Cmd {
  constructor(
    readonly out: number,
    readonly total: number,
    readonly lens: number[],
  ) {}
  check = () => true;
  run(m: Model, r: TestQueue): void {
    const { total, out } = this;
    const lens = this.lens.slice(0, total);
    lens.forEach((len, k) => {
      r.sg.set(k, 0x100000 * (k + 1), len);
    });
    const token = m.nextToken++;
    const tryIndirect = m.cfg.indirect && total > 1 && m.numFree > 0;
    const gotTable = tryIndirect && !m.allocFailing && m.indirectInUse < m.cfg.poolBlocks;
    if (tryIndirect && !gotTable) m.indirectFailures++;
    if (!gotTable && total > m.cfg.size) {
      // BUG_ON(out + in > vq->vring.num) on the direct path; an indirect table may exceed the size.
      expect(() => r.driver.addBuf(out, total - out, r.sg, token)).toThrowError(
        expect.objectContaining({ kind: "invalid-argument" }),
      );
      sync(m, r);
      return;
    }
    const ret = r.driver.addBuf(out, total - out, r.sg, token);
    if (!gotTable && m.numFree < total) {
      expect(ret).toBe(-ENOSPC);
      coverage.enospc++;
    } else {
      m.numFree -= gotTable ? 1 : total;
      if (gotTable) m.indirectInUse++;
      if (tryIndirect && !gotTable) coverage.indirectFallback++;
      m.pending.push({ token, out, lens, indirect: gotTable });
      expect(ret).toBe(m.numFree);
    }
    sync(m, r);
  }
  toString = () => `addBuf(out=${this.out}, in=${this.total - this.out})`;
}

class Kick implements Cmd {
  check = () => true;
  run(m: Model, r: TestQueue): void {
    const old = m.availIdx;
    const next = (old + m.pending.length) & 0xffff;
    const expected = m.cfg.eventIdx ? passes(m.availEvent, old, next) : !m.deviceNoNotify;
    expect(r.driver.kick()).toBe(expected);
    (expected ? coverage.kickNotified : coverage.kickSuppressed)[+m.cfg.eventIdx]!++;
    if (next < old) coverage.wrapped++;
    m.avail.push(...m.pending);
    m.pending = [];
    m.availIdx = next;
    if (m.avail.length === m.cfg.size) coverage.fullRing++;
    sync(m, r);
  }
  toString = () => "kick";
}

class GetBuf implements Cmd {
  check = () => true;
  run(m: Model, r: TestQueue): void {
    const token = r.driver.getBuf();
    const h = m.used.shift();
    if (h === undefined) {
      expect(token).toBe(-1);
    } else {
      expect(token).toBe(h.buf.token);
      expect(r.driver.lastLen).toBe(h.len);
      expect(r.driver.lastId).toBe(h.head);
      m.numFree += h.buf.indirect ? 1 : h.buf.lens.length;
      if (h.buf.indirect) m.indirectInUse--;
      m.lastUsedIdx = (m.lastUsedIdx + 1) & 0xffff;
      if (!m.driverNoInterrupt) m.usedEvent = m.lastUsedIdx;
    }
    expect(r.pool.inUse).toBe(m.indirectInUse);
    sync(m, r);
  }
  toString = () => "getBuf";
}

class DisableCb implements Cmd {
  check = () => true;
  run(m: Model, r: TestQueue): void {
    r.driver.disableCb();
    m.driverNoInterrupt = true;
  }
  toString = () => "disableCb";
}

class EnableCb implements Cmd {
  constructor(readonly delayed: boolean) {}
  check = () => true;
  run(m: Model, r: TestQueue): void {
    m.driverNoInterrupt = false;
    if (this.delayed) {
      // Ask for an interrupt once 3/4 of the buffers the device holds or has returned are used.
      const bufs = Math.floor((m.outstanding().length * 3) / 4);
      m.usedEvent = (m.lastUsedIdx + bufs) & 0xffff;
      expect(r.driver.enableCbDelayed()).toBe(m.used.length <= bufs);
    } else {
      m.usedEvent = m.lastUsedIdx;
      expect(r.driver.enableCb()).toBe(m.used.length === 0);
    }
  }
  toString = () => (this.delayed ? "enableCbDelayed" : "enableCb");
}

class SetAllocFailing implements Cmd {
  constructor(readonly failing: boolean) {}
  check = () => true;
  run(m: Model, r: TestQueue): void {
    r.pool.failing = this.failing;
    m.allocFailing = this.failing;
  }
  toString = () => `allocFailing(${this.failing})`;
}

class PopChain implements Cmd {
  constructor(readonly writePercent: number) {}
  check = () => true;
  run(m: Model, r: TestQueue): void {
    const head = r.device.popChain();
    const buf = m.avail.shift();
    if (buf === undefined) {
      expect(head).toBe(-1);
      return;
    }
    expect(head).toBeGreaterThanOrEqual(0);
    expect(head).toBeLessThan(m.cfg.size);
    const inFlight = [...m.held, ...m.unpublished, ...m.used].map((h) => h.head);
    expect(inFlight).not.toContain(head);
    const c = r.device.chain;
    expect(c.count).toBe(buf.lens.length);
    expect(c.indirect).toBe(buf.indirect);
    expect(Array.from(c.len.subarray(0, c.count))).toEqual(buf.lens);
    const writable = Array.from(c.flags.subarray(0, c.count), (f) => (f & VRING_DESC_F_WRITE) !== 0);
    expect(writable).toEqual(buf.lens.map((_, k) => k >= buf.out));
    const writableBytes = buf.lens.slice(buf.out).reduce((a, b) => a + b, 0);
    expect(c.writableBytes).toBe(writableBytes);
    const len = c.write(Math.floor((writableBytes * this.writePercent) / 100));
    m.held.push({ buf, head, len });
    m.deviceNextAvail = (m.deviceNextAvail + 1) & 0xffff;
    sync(m, r);
  }
  toString = () => `popChain(write ${this.writePercent}%)`;
}

class AddUsed implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.held.length > 0;
  run(m: Model, r: TestQueue): void {
    const [h] = m.held.splice(this.pick % m.held.length, 1);
    r.device.addUsed(h!.head, h!.len);
    m.unpublished.push(h!);
    sync(m, r);
  }
  toString = () => `addUsed(#${this.pick})`;
}

class PublishUsed implements Cmd {
  check = () => true;
  run(m: Model, r: TestQueue): void {
    r.device.publishUsed();
    const next = (m.publishedUsed + m.unpublished.length) & 0xffff;
    if (next < m.publishedUsed) coverage.usedWrapped++;
    m.publishedUsed = next;
    m.used.push(...m.unpublished);
    m.unpublished = [];
    sync(m, r);
  }
  toString = () => "publishUsed";
}

class NeedsNotification implements Cmd {
  check = () => true;
  run(m: Model, r: TestQueue): void {
    let expected: boolean;
    if (m.cfg.eventIdx) {
      expected = !m.signalledValid || passes(m.usedEvent, m.signalledUsed, m.publishedUsed);
      m.signalledValid = true;
      m.signalledUsed = m.publishedUsed;
    } else {
      expected = !m.driverNoInterrupt;
    }
    expect(r.device.needsNotification()).toBe(expected);
    (expected ? coverage.irqNotified : coverage.irqSuppressed)[+m.cfg.eventIdx]!++;
  }
  toString = () => "needsNotification";
}

class SetNotification implements Cmd {
  constructor(readonly enable: boolean) {}
  check = () => true;
  run(m: Model, r: TestQueue): void {
    if (!this.enable) {
      r.device.disableNotification();
      if (!m.cfg.eventIdx) m.deviceNoNotify = true;
      return;
    }
    if (m.cfg.eventIdx) m.availEvent = m.deviceNextAvail;
    else m.deviceNoNotify = false;
    expect(r.device.enableNotification()).toBe(m.avail.length > 0);
  }
  toString = () => (this.enable ? "enableNotification" : "disableNotification");
}

const configArb: fc.Arbitrary<Config> = fc
  .record({
    sizeLog: fc.integer({ min: 0, max: 4 }),
    eventIdx: fc.boolean(),
    indirect: fc.boolean(),
    // Half the runs start a few steps before the u16 wrap.
    initialIndex: fc.oneof(fc.constant(0), fc.integer({ min: 65535 - 16, max: 65535 })),
    poolFraction: fc.integer({ min: 1, max: 4 }),
  })
  .map(({ sizeLog, poolFraction, ...rest }) => {
    const size = 1 << sizeLog;
    return { ...rest, size, poolBlocks: Math.max(1, Math.floor((size * poolFraction) / 4)) };
  });

const len = fc.integer({ min: 1, max: 2000 });
const commandArbs = [
  fc
    .record({
      total: fc.integer({ min: 1, max: MAX_SG }),
      outPick: fc.nat(),
      lens: fc.array(len, { minLength: 4, maxLength: 4 }),
    })
    .map(({ total, outPick, lens }) => new AddBuf(outPick % (total + 1), total, lens)),
  fc.constant(new Kick()),
  fc.constant(new GetBuf()),
  fc.constant(new DisableCb()),
  fc.boolean().map((d) => new EnableCb(d)),
  fc.boolean().map((f) => new SetAllocFailing(f)),
  fc.integer({ min: 0, max: 100 }).map((p) => new PopChain(p)),
  fc.nat().map((p) => new AddUsed(p)),
  fc.constant(new PublishUsed()),
  fc.constant(new NeedsNotification()),
  fc.boolean().map((e) => new SetNotification(e)),
];
// Weight buffer traffic over flag flips so rings fill and wrap.
const weighted: fc.Arbitrary<Cmd>[] = [
  ...commandArbs,
  commandArbs[0]!,
  commandArbs[0]!,
  commandArbs[1]!,
  commandArbs[2]!,
  commandArbs[6]!,
  commandArbs[7]!,
  commandArbs[8]!,
];

/** Device reset then virtnet_remove's free_unused_bufs: every outstanding token comes back once. */
function teardown(m: Model, r: TestQueue): void {
  r.driver.kick(); // try_fill_recv always kicks, so nothing is left unpublished at teardown
  m.avail.push(...m.pending);
  const expected = m.outstanding().map((b) => b.token);
  const idxBefore = r.driver.availIdx;
  const got: number[] = [];
  for (let t = r.driver.detachUnusedBuf(); t >= 0; t = r.driver.detachUnusedBuf()) got.push(t);
  expect(got.sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
  expect(r.driver.numFree).toBe(m.cfg.size);
  expect(r.driver.availIdx).toBe((idxBefore - expected.length) & 0xffff);
  expect(r.pool.inUse).toBe(0);
  coverage.teardowns++;
}

describe("virtqueue against a reference model", () => {
  it("agrees on tokens, capacity, visibility and notification decisions", () => {
    fc.assert(
      fc.property(configArb, fc.commands(weighted, { maxCommands: 250, size: "max" }), (cfg, cmds) => {
        const state = { model: new Model(cfg), real: createTestQueue({ ...cfg, maxSg: MAX_SG }) };
        fc.modelRun(() => state, cmds);
        teardown(state.model, state.real);
      }),
      // A fixed seed: the coverage assertions below must not depend on the luck of one run.
      { numRuns: 400, seed: 20120104 },
    );
    expect(coverage.wrapped).toBeGreaterThan(0);
    expect(coverage.usedWrapped).toBeGreaterThan(0);
    expect(coverage.fullRing).toBeGreaterThan(0);
    expect(coverage.enospc).toBeGreaterThan(0);
    expect(coverage.indirectFallback).toBeGreaterThan(0);
    for (const mode of [0, 1]) {
      expect(coverage.kickSuppressed[mode]).toBeGreaterThan(0);
      expect(coverage.kickNotified[mode]).toBeGreaterThan(0);
      expect(coverage.irqSuppressed[mode]).toBeGreaterThan(0);
      expect(coverage.irqNotified[mode]).toBeGreaterThan(0);
    }
  });
});
