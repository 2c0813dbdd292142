/**
 * The future event set: a 4-ary min-heap ordered by (time, tiebreak), plus a FIFO for events
 * scheduled at the current time (OMNeT++'s cEventHeap keeps the same circular buffer, because
 * zero-delay chains are the common case). Event fields live in slot-indexed typed arrays; the heap
 * keeps each entry's key (time, tiebreak) inline beside its slot number, so sifting reads the four
 * children from adjacent memory instead of chasing slot indices (src/bench/fes.ts measures this).
 *
 * Events are slots in a pool; a handle is `generation · 2^24 + slot`, so a stale handle (its event
 * already ran or was cancelled) is recognised and ignored. Nothing is allocated per event.
 *
 * Ties at equal times run in insertion order. With `permuteTies` the tiebreak is a seeded random key
 * instead (and the FIFO is bypassed), so tests can explore the interleavings of same-time events.
 */
import type { Rng } from "./rng.ts";
import { checkTime } from "./time.ts";

const SLOT_BITS = 24;
const SLOT_LIMIT = 1 << SLOT_BITS;
const GEN_LIMIT = 1 << 28;
const FREE = -1;
const IN_FIFO = -2;

export class EventQueueError extends Error {
  override name = "EventQueueError";
}

export class EventQueue {
  private cap: number;
  // Per slot.
  private type: Int32Array;
  private argA: Int32Array;
  private argB: Float64Array;
  private gen: Int32Array;
  /** Heap position of a slot, or FREE / IN_FIFO. */
  private where: Int32Array;
  private free: Int32Array;
  private freeTop = 0;
  // Per heap position.
  private hTime: Float64Array;
  private hTie: Float64Array;
  private hSlot: Int32Array;
  private heapSize = 0;
  private fifo: Int32Array;
  private fifoHead = 0;
  private fifoLen = 0;
  /** Live (scheduled, not cancelled) events; cancelled FIFO entries linger until popped. */
  private live = 0;
  private seq = 0;
  /** Time of the last popped event: scheduling before it is an error. */
  now = 0;

  /** Fields of the event popped last. */
  lastType = 0;
  lastA = 0;
  lastB = 0;

  constructor(
    initialCapacity = 1024,
    private readonly tieRng: Rng | null = null,
  ) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.cap = cap;
    this.type = new Int32Array(cap);
    this.argA = new Int32Array(cap);
    this.argB = new Float64Array(cap);
    this.gen = new Int32Array(cap);
    this.where = new Int32Array(cap).fill(FREE);
    this.free = new Int32Array(cap);
    this.hTime = new Float64Array(cap);
    this.hTie = new Float64Array(cap);
    this.hSlot = new Int32Array(cap);
    this.fifo = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeTop = cap;
  }

  get size(): number {
    return this.live;
  }

  /** Schedules an event; returns its handle. `a` is an int32, `b` any safe integer. */
  schedule(time: number, type: number, a: number, b: number): number {
    this.checkFuture(time, "schedule at");
    if (this.freeTop === 0) this.grow();
    const s = this.free[--this.freeTop]!;
    this.type[s] = type;
    this.argA[s] = a;
    this.argB[s] = b;
    this.live++;
    if (this.tieRng === null && time === this.now) {
      this.seq++;
      this.where[s] = IN_FIFO;
      this.fifo[(this.fifoHead + this.fifoLen) & (this.cap - 1)] = s;
      this.fifoLen++;
    } else {
      this.siftUp(this.heapSize++, time, this.nextTie(), s);
    }
    return this.gen[s]! * SLOT_LIMIT + s;
  }

  /** True if the handle names an event that has not run or been cancelled. */
  isPending(handle: number): boolean {
    const s = handle % SLOT_LIMIT;
    return (
      handle >= 0 && s < this.cap && this.gen[s] === Math.floor(handle / SLOT_LIMIT) && this.where[s] !== FREE
    );
  }

  /** Scheduled time of a pending event. */
  timeOf(handle: number): number {
    if (!this.isPending(handle)) throw new EventQueueError(`event ${handle} is not pending`);
    const w = this.where[handle % SLOT_LIMIT]!;
    // FIFO events were scheduled at the current time, and the clock cannot pass them.
    return w === IN_FIFO ? this.now : this.hTime[w]!;
  }

  /** Cancels a pending event; returns false if it already ran or was cancelled. */
  cancel(handle: number): boolean {
    if (!this.isPending(handle)) return false;
    const s = handle % SLOT_LIMIT;
    const w = this.where[s]!;
    if (w === IN_FIFO) {
      // Left in the ring and skipped when reached; the slot is released then.
      this.type[s] = -1;
      this.gen[s] = (this.gen[s]! + 1) % GEN_LIMIT;
      this.live--;
      return true;
    }
    this.removeAt(w);
    this.release(s);
    this.live--;
    return true;
  }

  /**
   * Moves a pending event to a new time, as if cancelled and scheduled anew (it gets a fresh
   * tiebreak), keeping its handle when it stays in the heap. Returns the (possibly new) handle.
   */
  reschedule(handle: number, time: number): number {
    if (!this.isPending(handle)) throw new EventQueueError(`event ${handle} is not pending`);
    this.checkFuture(time, "reschedule to");
    const s = handle % SLOT_LIMIT;
    const w = this.where[s]!;
    if (w === IN_FIFO || (time === this.now && this.tieRng === null)) {
      const type = this.type[s]!;
      const a = this.argA[s]!;
      const b = this.argB[s]!;
      this.cancel(handle);
      return this.schedule(time, type, a, b);
    }
    const tie = this.nextTie();
    // The new key may be smaller than the old one even at the same time (a random tiebreak).
    const p = (w - 1) >> 2;
    if (w > 0 && (time < this.hTime[p]! || (time === this.hTime[p]! && tie < this.hTie[p]!))) {
      this.siftUp(w, time, tie, s);
    } else {
      this.siftDown(w, time, tie, s);
    }
    return handle;
  }

  /** Time of the next event, or Infinity. */
  peekTime(): number {
    this.skipCancelledFifo();
    if (this.fifoLen > 0) {
      // A heap event at the current time was scheduled before now reached it: it goes first.
      return this.now;
    }
    return this.heapSize > 0 ? this.hTime[0]! : Number.POSITIVE_INFINITY;
  }

  /**
   * Removes the next event, advances `now` to its time and leaves its fields in lastType / lastA /
   * lastB. Returns false when empty.
   */
  pop(): boolean {
    return this.popUntil(Number.POSITIVE_INFINITY);
  }

  /** pop(), but only if the next event's time is ≤ until; returns whether it popped. */
  popUntil(until: number): boolean {
    this.skipCancelledFifo();
    let s: number;
    if (this.fifoLen > 0 && !(this.heapSize > 0 && this.hTime[0] === this.now)) {
      if (this.now > until) return false;
      s = this.fifo[this.fifoHead]!;
      this.fifoHead = (this.fifoHead + 1) & (this.cap - 1);
      this.fifoLen--;
    } else if (this.heapSize > 0) {
      const t = this.hTime[0]!;
      if (t > until) return false;
      s = this.hSlot[0]!;
      this.now = t;
      const n = --this.heapSize;
      if (n > 0) this.siftDown(0, this.hTime[n]!, this.hTie[n]!, this.hSlot[n]!);
    } else {
      return false;
    }
    this.lastType = this.type[s]!;
    this.lastA = this.argA[s]!;
    this.lastB = this.argB[s]!;
    this.release(s);
    this.live--;
    return true;
  }

  private checkFuture(time: number, what: string): void {
    if (!(time >= this.now) || !Number.isSafeInteger(time)) {
      checkTime(time, "event time");
      throw new EventQueueError(`cannot ${what} ${time} ns: before the current time ${this.now} ns`);
    }
  }

  private nextTie(): number {
    const seq = this.seq++;
    return this.tieRng === null ? seq : this.tieRng.nextU32() * 1048576 + (seq & 0xfffff);
  }

  private skipCancelledFifo(): void {
    while (this.fifoLen > 0) {
      const s = this.fifo[this.fifoHead]!;
      if (this.type[s] !== -1) return;
      this.fifoHead = (this.fifoHead + 1) & (this.cap - 1);
      this.fifoLen--;
      this.where[s] = FREE;
      this.free[this.freeTop++] = s;
    }
  }

  private release(s: number): void {
    this.where[s] = FREE;
    this.gen[s] = (this.gen[s]! + 1) % GEN_LIMIT;
    this.free[this.freeTop++] = s;
  }

  private removeAt(i: number): void {
    const n = --this.heapSize;
    if (i === n) return;
    const t = this.hTime[n]!;
    const k = this.hTie[n]!;
    const s = this.hSlot[n]!;
    const p = (i - 1) >> 2;
    if (i > 0 && (t < this.hTime[p]! || (t === this.hTime[p]! && k < this.hTie[p]!))) this.siftUp(i, t, k, s);
    else this.siftDown(i, t, k, s);
  }

  /** Places the entry (t, k, s) at position i or above, moving greater ancestors down. */
  private siftUp(i: number, t: number, k: number, s: number): void {
    const hTime = this.hTime;
    const hTie = this.hTie;
    const hSlot = this.hSlot;
    const where = this.where;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pt = hTime[p]!;
      if (t > pt || (t === pt && k > hTie[p]!)) break;
      hTime[i] = pt;
      hTie[i] = hTie[p]!;
      const ps = hSlot[p]!;
      hSlot[i] = ps;
      where[ps] = i;
      i = p;
    }
    hTime[i] = t;
    hTie[i] = k;
    hSlot[i] = s;
    where[s] = i;
  }

  /** Places the entry (t, k, s) at position i or below, moving smaller children up. */
  private siftDown(i: number, t: number, k: number, s: number): void {
    const hTime = this.hTime;
    const hTie = this.hTie;
    const hSlot = this.hSlot;
    const where = this.where;
    const n = this.heapSize;
    for (;;) {
      const c = 4 * i + 1;
      if (c >= n) break;
      let b = c;
      let bt = hTime[c]!;
      let bk = hTie[c]!;
      const end = c + 4 < n ? c + 4 : n;
      for (let j = c + 1; j < end; j++) {
        const jt = hTime[j]!;
        if (jt < bt || (jt === bt && hTie[j]! < bk)) {
          b = j;
          bt = jt;
          bk = hTie[j]!;
        }
      }
      if (t < bt || (t === bt && k < bk)) break;
      hTime[i] = bt;
      hTie[i] = bk;
      const bs = hSlot[b]!;
      hSlot[i] = bs;
      where[bs] = i;
      i = b;
    }
    hTime[i] = t;
    hTie[i] = k;
    hSlot[i] = s;
    where[s] = i;
  }

  private grow(): void {
    const old = this.cap;
    const cap = old * 2;
    if (cap > SLOT_LIMIT) throw new EventQueueError(`more than ${SLOT_LIMIT} pending events`);
    const f64 = (a: Float64Array) => {
      const n = new Float64Array(cap);
      n.set(a);
      return n;
    };
    const i32 = (a: Int32Array) => {
      const n = new Int32Array(cap);
      n.set(a);
      return n;
    };
    this.argB = f64(this.argB);
    this.type = i32(this.type);
    this.argA = i32(this.argA);
    this.gen = i32(this.gen);
    this.hTime = f64(this.hTime);
    this.hTie = f64(this.hTie);
    this.hSlot = i32(this.hSlot);
    const where = new Int32Array(cap).fill(FREE);
    where.set(this.where);
    this.where = where;
    // Unroll the FIFO ring into the bigger one.
    const fifo = new Int32Array(cap);
    for (let k = 0; k < this.fifoLen; k++) fifo[k] = this.fifo[(this.fifoHead + k) & (old - 1)]!;
    this.fifo = fifo;
    this.fifoHead = 0;
    const free = new Int32Array(cap);
    for (let i = 0; i < cap - old; i++) free[i] = cap - 1 - i;
    this.free = free;
    this.freeTop = cap - old;
    this.cap = cap;
  }
}
