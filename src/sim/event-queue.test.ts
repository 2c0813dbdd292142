import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventQueue, EventQueueError } from "./event-queue.ts";
import { Rng } from "./rng.ts";
import { TimeError } from "./time.ts";

/** The reference: an array kept sorted by (time, insertion sequence). */
interface RefEvent {
  handle: number;
  time: number;
  type: number;
  id: number;
  b: number;
}

class RefQueue {
  now = 0;
  /** Sorted; a new event goes after every event with time ≤ its own, which is insertion order. */
  readonly events: RefEvent[] = [];
  private byHandle = new Map<number, RefEvent>();

  find(handle: number): RefEvent | undefined {
    return this.byHandle.get(handle);
  }

  add(e: RefEvent): void {
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.events[mid]!.time <= e.time) lo = mid + 1;
      else hi = mid;
    }
    this.events.splice(lo, 0, e);
    this.byHandle.set(e.handle, e);
  }

  cancel(handle: number): boolean {
    const e = this.byHandle.get(handle);
    if (e === undefined) return false;
    this.events.splice(this.events.indexOf(e), 1);
    this.byHandle.delete(handle);
    return true;
  }

  /** A reschedule counts as a new insertion for tie order. */
  reschedule(handle: number, time: number, newHandle: number): void {
    const e = this.byHandle.get(handle)!;
    this.cancel(handle);
    this.add({ ...e, handle: newHandle, time });
  }

  peekTime(): number {
    return this.events[0]?.time ?? Number.POSITIVE_INFINITY;
  }

  pop(): RefEvent | undefined {
    const e = this.events.shift();
    if (e === undefined) return undefined;
    this.byHandle.delete(e.handle);
    this.now = e.time;
    return e;
  }
}

type Op =
  | { k: "schedule"; dt: number; type: number; b: number }
  | { k: "insert"; dt: number; type: number; b: number }
  | { k: "cancel"; pick: number }
  | { k: "cancelBogus"; handle: number }
  | { k: "reschedule"; pick: number; dt: number }
  | { k: "pop"; n: number };

/** Delays biased to 0 (the FIFO) and to a few ns (ties in the heap), sometimes far ahead. */
const delay = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 1e12 }) },
);

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      k: fc.constant("schedule" as const),
      dt: delay,
      type: fc.integer({ min: 0, max: 1000 }),
      b: fc.maxSafeInteger(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant("insert" as const),
      dt: delay,
      type: fc.integer({ min: 0, max: 1000 }),
      b: fc.maxSafeInteger(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("cancel" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("cancelBogus" as const),
      handle: fc.constantFrom(-1, -(2 ** 24), 0.5, Number.NaN),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("reschedule" as const), pick: fc.nat(), dt: delay }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("pop" as const), n: fc.integer({ min: 1, max: 6 }) }) },
);

/** expect() only on a mismatch: calling it for each of thousands of steps is slow. */
function same<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected)) expect(actual, what).toBe(expected);
}

/** Pops one event from both and expects the same event at the same time. */
function popBoth(q: EventQueue, ref: RefQueue): void {
  const want = ref.pop();
  same(q.pop(), want !== undefined, "pop() result");
  if (want === undefined) return;
  same(q.lastA, want.id, "popped event");
  same(q.now, want.time, "time of the popped event");
  same(q.lastType, want.type, "type of the popped event");
  same(q.lastB, want.b, "b of the popped event");
}

function checkPending(q: EventQueue, ref: RefQueue, handles: number[]): void {
  expect(q.peekTime()).toBe(ref.peekTime());
  const pendingMismatch = handles.filter((h) => q.isPending(h) !== (ref.find(h) !== undefined));
  expect(pendingMismatch).toEqual([]);
  // Inserted events (negative reference handles) have no handle to ask about.
  for (const e of ref.events) if (e.handle >= 0) expect(q.timeOf(e.handle)).toBe(e.time);
}

/**
 * Runs the operations on both queues. `checkEach` compares pending state and times after every
 * operation (quadratic, so long scripted runs check them at the end only).
 */
function runOps(ops: Op[], checkEach = true): void {
  // The smallest capacity, so that any run with more than 16 live events grows the arrays.
  const q = new EventQueue(16);
  const ref = new RefQueue();
  const handles: number[] = [];
  let nextId = 0;
  for (const o of ops) {
    switch (o.k) {
      case "schedule": {
        const id = nextId++;
        const h = q.schedule(ref.now + o.dt, o.type, id, o.b);
        same(ref.find(h), undefined, "a fresh handle must not name a live event");
        ref.add({ handle: h, time: ref.now + o.dt, type: o.type, id, b: o.b });
        handles.push(h);
        break;
      }
      case "insert": {
        // Never cancelled, so no handle: the reference keys it by a negative number of its own.
        const id = nextId++;
        q.insert(ref.now + o.dt, o.type, id, o.b);
        ref.add({ handle: -1 - id, time: ref.now + o.dt, type: o.type, id, b: o.b });
        break;
      }
      case "cancel": {
        const h = handles[o.pick % handles.length];
        if (h !== undefined) same(q.cancel(h), ref.cancel(h), "cancel() result");
        break;
      }
      case "cancelBogus":
        expect(q.isPending(o.handle)).toBe(false);
        expect(q.cancel(o.handle)).toBe(false);
        break;
      case "reschedule": {
        const h = handles[o.pick % handles.length];
        if (h === undefined) break;
        const t = ref.now + o.dt;
        if (ref.find(h) === undefined) {
          expect(() => q.reschedule(h, t)).toThrow(EventQueueError);
          break;
        }
        const h2 = q.reschedule(h, t);
        if (h2 !== h) {
          same(ref.find(h2), undefined, "a fresh handle must not name a live event");
          handles.push(h2);
        }
        ref.reschedule(h, t, h2);
        break;
      }
      case "pop":
        for (let i = 0; i < o.n; i++) popBoth(q, ref);
        break;
    }
    same(q.size, ref.events.length, "size");
    if (checkEach) checkPending(q, ref, handles);
  }
  checkPending(q, ref, handles);
  while (ref.events.length > 0) popBoth(q, ref);
  expect(q.pop()).toBe(false);
  expect(q.size).toBe(0);
  expect(q.peekTime()).toBe(Number.POSITIVE_INFINITY);
}

describe("EventQueue against a sorted reference", () => {
  it("agrees on pop order, sizes, pending state and times for random operation sequences", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 250 }), (ops) => runOps(ops)),
      { numRuns: 150 },
    );
  });

  it("agrees when cancelled events pile up far ahead and get cleared out", () => {
    // Thousands of far-future events, most cancelled before they are reached, mixed with a busy
    // near future: cancelled entries must neither run nor disturb the order of the others.
    for (const seed of [1, 2, 3]) {
      const rng = new Rng(seed, "cancel-heavy");
      const ops: Op[] = [];
      for (let i = 0; i < 3000; i++) ops.push({ k: "schedule", dt: 1e6 + rng.int(1e6), type: 1, b: i });
      // Cancel 2500 distinct far-future events (handles 0..2999) while the near future stays busy,
      // so that cancelled entries come to outnumber live ones.
      const order = Array.from({ length: 3000 }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (let i = 0; i < 2500; i++) {
        ops.push({ k: "cancel", pick: order[i]! });
        if (i % 3 === 0) ops.push({ k: "schedule", dt: rng.int(3), type: 2, b: i }, { k: "pop", n: 1 });
      }
      for (let i = 0; i < 2000; i++) {
        const r = rng.int(10);
        if (r < 4) ops.push({ k: "cancel", pick: rng.int(2 ** 31) });
        else if (r < 8) ops.push({ k: "schedule", dt: rng.int(1e6), type: 3, b: i });
        else ops.push({ k: "pop", n: 1 + rng.int(3) });
      }
      runOps(ops, false);
    }
  });

  it("keeps insertion order along a long zero-delay chain at one time", () => {
    const q = new EventQueue(16);
    const ids: number[] = [];
    let id = 0;
    const add = () => {
      ids.push(id);
      q.schedule(0, 0, id++, 0);
    };
    for (let i = 0; i < 12; i++) add();
    const popped: number[] = [];
    for (let i = 0; i < 10; i++) {
      q.pop();
      popped.push(q.lastA);
    }
    // Two left after the ten popped; 30 more reuse the popped space and then need more room.
    for (let i = 0; i < 30; i++) add();
    while (q.pop()) popped.push(q.lastA);
    expect(popped).toEqual(ids);
  });

  it("orders thousands of events correctly after growing from the minimum capacity", () => {
    const rng = new Rng(1, "growth");
    const q = new EventQueue(16);
    const times = Array.from({ length: 5000 }, () => rng.int(300));
    times.forEach((t, i) => q.schedule(t, 1, i, 0));
    expect(q.size).toBe(5000);
    const order: number[] = [];
    while (q.pop()) order.push(q.lastA);
    const expected = times.map((t, i) => [t, i] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    expect(order).toEqual(expected.map(([, i]) => i));
  });

  it("orders times across the whole safe-integer range", () => {
    const times = [2 ** 53 - 1, 2 ** 32, 2 ** 32 - 1, 2 ** 52 + 3, 0, 2 ** 52 + 3, 1, 2 ** 31, 2 ** 53 - 2];
    const q = new EventQueue(16);
    times.forEach((t, i) => q.schedule(t, 0, i, 0));
    const out: number[] = [];
    while (q.pop()) out.push(q.now);
    expect(out).toEqual([...times].sort((x, y) => x - y));
  });

  it("runs an event scheduled at the current time after earlier-scheduled events at that time", () => {
    const q = new EventQueue();
    q.schedule(5, 0, 1, 0);
    q.schedule(5, 0, 2, 0);
    q.pop();
    q.schedule(5, 0, 3, 0); // now = 5: goes to the FIFO, behind event 2 from the heap
    const order: number[] = [];
    while (q.pop()) order.push(q.lastA);
    expect(order).toEqual([2, 3]);
  });
});

describe("EventQueue argument errors", () => {
  it("rejects negative, fractional, NaN and unsafe times with a TimeError", () => {
    const q = new EventQueue();
    for (const t of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => q.schedule(t, 0, 0, 0)).toThrow(TimeError);
      expect(() => q.schedule(t, 0, 0, 0)).toThrow(/event time must be a non-negative integer/);
    }
    expect(q.size).toBe(0);
  });

  it("rejects scheduling before the current time", () => {
    const q = new EventQueue();
    q.schedule(10, 0, 0, 0);
    q.pop();
    expect(() => q.schedule(9, 0, 0, 0)).toThrow(EventQueueError);
    expect(() => q.schedule(9, 0, 0, 0)).toThrow(/before the current time 10 ns/);
  });

  it("rejects a bad reschedule and leaves the event where it was", () => {
    const q = new EventQueue();
    q.schedule(10, 0, 0, 0);
    q.pop();
    const inFifo = q.schedule(10, 0, 1, 0);
    const inHeap = q.schedule(20, 0, 2, 0);
    for (const h of [inFifo, inHeap]) {
      const t = q.timeOf(h);
      expect(() => q.reschedule(h, 5)).toThrow(EventQueueError);
      expect(() => q.reschedule(h, 12.5)).toThrow(TimeError);
      expect(q.isPending(h)).toBe(true);
      expect(q.timeOf(h)).toBe(t);
    }
    expect(q.size).toBe(2);
  });

  it("rejects reschedule and timeOf for stale handles", () => {
    const q = new EventQueue();
    const h = q.schedule(1, 0, 0, 0);
    q.pop();
    expect(() => q.reschedule(h, 3)).toThrow(/not pending/);
    expect(() => q.timeOf(h)).toThrow(EventQueueError);
    expect(q.cancel(h)).toBe(false);
  });

  it("recognises handles beyond int32 (a slot reused past generation 127) and their stale ones", () => {
    const q = new EventQueue(16);
    let stale = -1;
    let h = -1;
    for (let i = 0; i < 300; i++) {
      stale = h;
      h = q.schedule(i, 0, i, 0);
      q.pop();
    }
    h = q.schedule(1000, 0, 7, 0);
    expect(h).toBeGreaterThan(2 ** 31);
    expect(q.isPending(h)).toBe(true);
    expect(q.timeOf(h)).toBe(1000);
    expect(q.isPending(stale)).toBe(false);
    expect(q.cancel(stale)).toBe(false);
    const moved = q.reschedule(h, 1001);
    expect(q.isPending(h)).toBe(false);
    expect(q.cancel(moved)).toBe(true);
    expect(q.size).toBe(0);
  });
});

describe("EventQueue with permuteTies", () => {
  const drain = (q: EventQueue): { time: number; id: number }[] => {
    const out: { time: number; id: number }[] = [];
    while (q.pop()) out.push({ time: q.now, id: q.lastA });
    return out;
  };

  it("still pops in time order, with every event exactly once", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), fc.nat(), (times, seed) => {
        const q = new EventQueue(16, new Rng(seed, "sim.ties"));
        times.forEach((t, i) => q.schedule(t, 0, i, 0));
        const out = drain(q);
        expect(out.map((e) => e.time)).toEqual([...times].sort((x, y) => x - y));
        expect(out.map((e) => e.id).sort((x, y) => x - y)).toEqual(times.map((_, i) => i));
      }),
    );
  });

  /** Pops four events tied at t = 10 (plus a same-time pair scheduled at now = 10) for one seed. */
  const tieOrder = (seed: number): string => {
    const q = new EventQueue(16, new Rng(seed, "sim.ties"));
    q.schedule(20, 0, 9, 0);
    for (let id = 0; id < 4; id++) q.schedule(10, 0, id, 0);
    const out: number[] = [];
    q.pop();
    out.push(q.lastA);
    q.schedule(10, 0, 4, 0); // at the current time: permuted too, not FIFO
    while (q.pop()) out.push(q.lastA);
    expect(out.at(-1)).toBe(9);
    return out.join("");
  };

  it("orders ties by seed: identical for the same seed, and all 24 orders of 4 ties appear", () => {
    expect(tieOrder(7)).toBe(tieOrder(7));
    const firstFour = new Set<string>();
    const all = new Set<string>();
    for (let seed = 0; seed < 400; seed++) {
      const order = tieOrder(seed);
      expect(tieOrder(seed)).toBe(order);
      firstFour.add(
        order
          .split("")
          .filter((c) => c !== "4")
          .slice(0, 4)
          .join(""),
      );
      all.add(order);
    }
    expect(firstFour.size).toBe(24);
    // The event scheduled at the current time does not always run last among its ties.
    expect([...all].some((o) => o.indexOf("4") < 4)).toBe(true);
  });

  it("keeps time order when events are rescheduled onto existing ties", () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.array(fc.nat({ max: 49 }), { minLength: 1, maxLength: 100 }),
        (seed, picks) => {
          const q = new EventQueue(16, new Rng(seed, "sim.ties"));
          const hs = Array.from({ length: 50 }, (_, i) => q.schedule(1 + (i % 5), 0, i, 0));
          const want = new Map(hs.map((_, i) => [i, 1 + (i % 5)]));
          for (const p of picks) {
            const t = 1 + ((p * 7) % 5);
            hs[p] = q.reschedule(hs[p]!, t);
            want.set(p, t);
          }
          const out = drain(q);
          expect(out.map((e) => e.time)).toEqual([...want.values()].sort((x, y) => x - y));
          for (const e of out) expect(want.get(e.id)).toBe(e.time);
        },
      ),
    );
  });
});
