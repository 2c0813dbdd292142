/**
 * The future event set: a radix heap (Ahuja, Mehlhorn, Orlin & Tarjan 1990) with 4-bit digits over
 * integer times. Simulated time never goes backwards, so every pending event's time is ≥ `last`, the
 * time of the latest pop. An event at `last` sits in bucket 0, which is consumed in order like
 * OMNeT++'s cEventHeap FIFO for zero-delay chains; any other event sits in the bucket named by the
 * highest 4-bit digit p where its time differs from `last` and by its own value v of that digit.
 * Buckets in (p, v) order hold ever later times, and a level-0 bucket holds one exact time. When
 * bucket 0 runs dry, the first non-empty bucket supplies the next time: a level-0 bucket simply
 * becomes bucket 0; a higher one is scanned for its minimum, which becomes `last`, and its events move
 * to lower levels. An event moves at most 13 times and usually once or never, and every step reads
 * and appends typed arrays sequentially. On the ns-3 hold-model workload of src/bench/fes.ts (100 000
 * pending events) the queue alone ran about 4× faster than the typed-array 4-ary heap it replaced.
 *
 * Ties at equal times run in insertion order without any sequence number: appends go to the end of a
 * bucket, and a bucket is only emptied into buckets that are themselves empty, so every bucket stays
 * in insertion order. With `permuteTies` the events of bucket 0 are ordered by a seeded random key
 * instead, so tests can explore the interleavings of same-time events.
 *
 * Events are slots in a pool; a handle is `generation · 2^24 + slot`, so a stale handle (its event
 * already ran or was cancelled) is recognised and ignored. A cancelled event stays in its bucket,
 * marked dead, until it is reached or the buckets are compacted. Nothing is allocated per event.
 *
 * An event that is never cancelled (`insert`) and is earlier than every pending one is held in a
 * single front register instead of a bucket: a chain of events each posting the next (a packet's
 * path through vhost, the interrupt, softirq and the scheduler) then never touches the buckets.
 * The register's event stays strictly earlier than everything in the buckets: a bucket insert at or
 * before its time first moves it into the buckets, where, being older, it goes ahead of the newcomer.
 * Pop order is therefore exactly the buckets' alone. With `permuteTies` the register is not used.
 */
import type { Rng } from "./rng.ts";
import { checkTime } from "./time.ts";
import { grown } from "./typed.ts";

const SLOT_BITS = 24;
const SLOT_LIMIT = 1 << SLOT_BITS;
const SLOT_MASK = SLOT_LIMIT - 1;
const GEN_LIMIT = 1 << 28;
/** 16 digit values at each of 14 levels of 4 bits (times are below 2^53), plus bucket 0. */
const LEVELS = 14;
const BUCKETS = 1 + 16 * LEVELS;
const TWO_32 = 4294967296;
// Slot states.
const FREE = 0;
const LIVE = 1;
const DEAD = 2;
/**
 * A slot's fields in one 32-byte record, so that scheduling and popping an event touch one cache
 * line rather than one per field (with thousands of flows, thousands of events are pending and
 * their slots are no longer all in cache): doubles at SLOT_F64·s + S_TIME / S_B, int32s of the
 * same bytes at SLOT_I32·s + S_A / S_TYPE / S_GEN / S_STATE.
 */
const SLOT_BYTES = 32;
const SLOT_F64 = SLOT_BYTES / 8;
const SLOT_I32 = SLOT_BYTES / 4;
const S_TIME = 0;
/** b, any safe integer. */
const S_B = 1;
const S_A = 4;
const S_TYPE = 5;
const S_GEN = 6;
const S_STATE = 7;
/** Compact once dead entries outnumber live ones by this many. */
const COMPACT_SLACK = 1024;

export class EventQueueError extends Error {
  override name = "EventQueueError";
}

export class EventQueue {
  private cap: number;
  /** The slots' records, as doubles and as int32s. */
  private f64: Float64Array;
  private i32: Int32Array;
  /** Per slot, the tie key (permuteTies only). */
  private tie: Float64Array;
  private free: Int32Array;
  private freeTop = 0;
  /** Slot lists per bucket, each in insertion order (bucket 0: in tie order with permuteTies). */
  private buckets: Int32Array[] = [];
  private lens = new Int32Array(BUCKETS);
  /** Per level, bit v set when bucket (level, v) is not empty. */
  private occupied = new Int32Array(LEVELS);
  /** Bit p set when level p has a non-empty bucket: findMin goes to the first one without a loop. */
  private levels = 0;
  /** Next entry of bucket 0 to pop. */
  private head = 0;
  /** Time of the latest pop, as two 32-bit halves for the bucket index. */
  private last = 0;
  private lastHi = 0;
  private lastLo = 0;
  private live = 0;
  private dead = 0;
  /**
   * The smallest time outside bucket 0 and its bucket, kept from the last scan until an event
   * scheduled before it or its cancellation invalidates it (minBucket -1), so that run(until) called
   * in short steps does not rescan a big bucket each time.
   */
  private minBucket = -1;
  private minTime = Number.NEGATIVE_INFINITY;
  /**
   * Clock: the time of the latest pop, or later if the simulator advanced it. It must never move
   * back: the buckets rely on no event being scheduled before `last`.
   */
  now = 0;

  /** The front register (see above): its event's time, or -1 when empty, and its fields. */
  private frontTime = -1;
  private frontType = 0;
  private frontA = 0;
  private frontB = 0;

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
    this.f64 = new Float64Array(cap * SLOT_F64);
    this.i32 = new Int32Array(this.f64.buffer);
    this.tie = new Float64Array(tieRng === null ? 0 : cap);
    this.free = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeTop = cap;
    for (let k = 0; k < BUCKETS; k++) this.buckets.push(new Int32Array(16));
  }

  get size(): number {
    return this.live;
  }

  /** Schedules an event; returns its handle. `a` is an int32, `b` any safe integer. */
  schedule(time: number, type: number, a: number, b: number): number {
    return this.handleOf(this.enqueue(time, type, a, b));
  }

  /**
   * schedule() for an event that is never cancelled, so it has no handle: one earlier than every
   * pending event goes to the front register, any other to the buckets.
   */
  insert(time: number, type: number, a: number, b: number): void {
    if (this.frontTime >= 0) {
      if (time > this.frontTime) {
        this.enqueue(time, type, a, b);
        return;
      }
      // At or before the register's time: enqueue() moves the register's event into the buckets.
    } else if (this.tieRng === null && time < this.peekTime()) {
      if (!(time >= this.now) || !Number.isSafeInteger(time)) this.badTime(time, "schedule at");
      this.frontTime = time;
      this.frontType = type;
      this.frontA = a;
      this.frontB = b;
      this.live++;
      return;
    }
    this.enqueue(time, type, a, b);
  }

  /** Puts an event into the buckets; returns its slot. */
  private enqueue(time: number, type: number, a: number, b: number): number {
    if (!(time >= this.now) || !Number.isSafeInteger(time)) this.badTime(time, "schedule at");
    if (time <= this.frontTime) this.spillFront();
    if (this.freeTop === 0) this.grow();
    const s = this.free[--this.freeTop]!;
    this.f64[s * SLOT_F64 + S_TIME] = time;
    this.i32[s * SLOT_I32 + S_TYPE] = type;
    this.i32[s * SLOT_I32 + S_A] = a;
    this.f64[s * SLOT_F64 + S_B] = b;
    this.i32[s * SLOT_I32 + S_STATE] = LIVE;
    this.live++;
    const k = this.bucketOf(time);
    if (this.tieRng !== null) {
      this.tie[s] = this.tieRng.nextU32();
      if (k === 0) {
        this.insertByTie(s);
        return s;
      }
    }
    if (time < this.minTime && k !== 0) this.forgetMin();
    this.append(k, s);
    return s;
  }

  /**
   * A handle's slot: its low 24 bits. A handle is a safe integer beyond int32 once the generation
   * passes 127, and `handle % 2^24` on a double is a call to fmod; `>>> 0` keeps the low 32 bits
   * exactly.
   */
  private static slotOf(handle: number): number {
    return (handle >>> 0) & SLOT_MASK;
  }

  /** The handle of slot `s`'s current event: its generation above the slot's 24 bits. */
  private handleOf(s: number): number {
    return this.i32[s * SLOT_I32 + S_GEN]! * SLOT_LIMIT + s;
  }

  /** True if the handle names an event that has not run or been cancelled. */
  isPending(handle: number): boolean {
    const s = EventQueue.slotOf(handle);
    // Rebuilding the handle from the slot's generation also rejects negative and fractional ones.
    return s < this.cap && this.handleOf(s) === handle && this.i32[s * SLOT_I32 + S_STATE] === LIVE;
  }

  /** Scheduled time of a pending event. */
  timeOf(handle: number): number {
    if (!this.isPending(handle)) throw new EventQueueError(`event ${handle} is not pending`);
    return this.f64[EventQueue.slotOf(handle) * SLOT_F64 + S_TIME]!;
  }

  /** Cancels a pending event; returns false if it already ran or was cancelled. */
  cancel(handle: number): boolean {
    if (!this.isPending(handle)) return false;
    const s = EventQueue.slotOf(handle);
    if (this.f64[s * SLOT_F64 + S_TIME] === this.minTime) this.forgetMin();
    this.i32[s * SLOT_I32 + S_STATE] = DEAD;
    this.i32[s * SLOT_I32 + S_GEN] = (this.i32[s * SLOT_I32 + S_GEN]! + 1) % GEN_LIMIT;
    this.live--;
    if (++this.dead > this.live + COMPACT_SLACK) this.compact();
    return true;
  }

  /**
   * Moves a pending event to a new time, as if cancelled and scheduled anew (so it runs after the
   * events already scheduled at that time). Returns its new handle.
   */
  reschedule(handle: number, time: number): number {
    if (!this.isPending(handle)) throw new EventQueueError(`event ${handle} is not pending`);
    if (!(time >= this.now) || !Number.isSafeInteger(time)) this.badTime(time, "reschedule to");
    const s = EventQueue.slotOf(handle);
    const type = this.i32[s * SLOT_I32 + S_TYPE]!;
    const a = this.i32[s * SLOT_I32 + S_A]!;
    const b = this.f64[s * SLOT_F64 + S_B]!;
    this.cancel(handle);
    return this.schedule(time, type, a, b);
  }

  /** Time of the next event, or Infinity. */
  peekTime(): number {
    if (this.frontTime >= 0) return this.frontTime;
    this.skipDead();
    if (this.head < this.lens[0]!) return this.last;
    return this.findMin() ? this.minTime : Number.POSITIVE_INFINITY;
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
    if (this.frontTime >= 0) {
      if (this.frontTime > until) return false;
      // Earlier than every bucket's event, so it is next; `last` stays, and every pending time is
      // still ≥ it, which is all the buckets need.
      this.now = this.frontTime;
      this.lastType = this.frontType;
      this.lastA = this.frontA;
      this.lastB = this.frontB;
      this.frontTime = -1;
      this.live--;
      return true;
    }
    for (;;) {
      this.skipDead();
      if (this.head < this.lens[0]!) break;
      if (!this.refill(until)) return false;
    }
    if (this.last > until) return false;
    const s = this.buckets[0]![this.head++]!;
    this.now = this.last;
    this.lastType = this.i32[s * SLOT_I32 + S_TYPE]!;
    this.lastA = this.i32[s * SLOT_I32 + S_A]!;
    this.lastB = this.f64[s * SLOT_F64 + S_B]!;
    this.i32[s * SLOT_I32 + S_STATE] = FREE;
    this.i32[s * SLOT_I32 + S_GEN] = (this.i32[s * SLOT_I32 + S_GEN]! + 1) % GEN_LIMIT;
    this.free[this.freeTop++] = s;
    this.live--;
    return true;
  }

  /** Moves the front register's event into the buckets, behind nothing: it is the earliest. */
  private spillFront(): void {
    const t = this.frontTime;
    this.frontTime = -1;
    this.live--;
    this.enqueue(t, this.frontType, this.frontA, this.frontB);
  }

  private badTime(time: number, what: string): never {
    checkTime(time, "event time");
    throw new EventQueueError(`cannot ${what} ${time} ns: before the current time ${this.now} ns`);
  }

  /** 1 + 16·p + v, where p is the highest 4-bit digit in which time differs from last; 0 if equal. */
  private bucketOf(time: number): number {
    const hi = (time / TWO_32) | 0;
    const hx = hi ^ this.lastHi;
    if (hx !== 0) {
      // Digits do not straddle the 32-bit halves: 32 is a multiple of 4.
      const p = (63 - Math.clz32(hx)) >> 2;
      return 1 + 16 * p + ((hi >>> (4 * p - 32)) & 15);
    }
    const lo = time >>> 0;
    const lx = lo ^ this.lastLo;
    if (lx === 0) return 0;
    const p = (31 - Math.clz32(lx)) >> 2;
    return 1 + 16 * p + ((lo >>> (4 * p)) & 15);
  }

  /** Drops dead entries at the head of bucket 0. */
  private skipDead(): void {
    const b0 = this.buckets[0]!;
    const n = this.lens[0]!;
    while (this.head < n && this.i32[b0[this.head]! * SLOT_I32 + S_STATE] === DEAD)
      this.releaseDead(b0[this.head++]!);
  }

  private releaseDead(s: number): void {
    this.i32[s * SLOT_I32 + S_STATE] = FREE;
    this.free[this.freeTop++] = s;
    this.dead--;
  }

  private forgetMin(): void {
    this.minBucket = -1;
    this.minTime = Number.NEGATIVE_INFINITY;
  }

  /**
   * Finds the smallest pending time outside bucket 0 and its bucket, the first bucket with a live
   * event, into minTime and minBucket; false if there is none. Buckets holding only dead events on
   * the way are emptied. It returns a boolean, not the time: a time past 2^30 ns returned from a call
   * that is not inlined is a fresh heap number each time.
   */
  private findMin(): boolean {
    if (this.minBucket >= 0) return true;
    while (this.levels !== 0) {
      const p = 31 - Math.clz32(this.levels & -this.levels);
      while (this.occupied[p] !== 0) {
        const bits = this.occupied[p]!;
        const v = 31 - Math.clz32(bits & -bits);
        const k = 1 + 16 * p + v;
        const list = this.buckets[k]!;
        const n = this.lens[k]!;
        let min = Number.POSITIVE_INFINITY;
        if (p === 0) {
          // One exact time: last with its lowest digit replaced by v.
          for (let i = 0; i < n; i++) {
            if (this.i32[list[i]! * SLOT_I32 + S_STATE] === LIVE) {
              min = this.last - (this.lastLo & 15) + v;
              break;
            }
          }
        } else {
          for (let i = 0; i < n; i++) {
            const s = list[i]!;
            if (this.i32[s * SLOT_I32 + S_STATE] === LIVE && this.f64[s * SLOT_F64 + S_TIME]! < min)
              min = this.f64[s * SLOT_F64 + S_TIME]!;
          }
        }
        if (min < Number.POSITIVE_INFINITY) {
          this.minBucket = k;
          this.minTime = min;
          return true;
        }
        for (let i = 0; i < n; i++) this.releaseDead(list[i]!);
        this.empty(k);
      }
    }
    return false;
  }

  private empty(k: number): void {
    this.lens[k] = 0;
    const p = (k - 1) >> 4;
    const bits = this.occupied[p]! & ~(1 << ((k - 1) & 15));
    this.occupied[p] = bits;
    if (bits === 0) this.levels &= ~(1 << p);
  }

  /**
   * Bucket 0 is used up: if the next time is ≤ until, it becomes `last` and its bucket becomes
   * bucket 0 (level 0) or moves its events to lower levels, whose buckets are all empty.
   */
  private refill(until: number): boolean {
    this.lens[0] = 0;
    this.head = 0;
    if (!this.findMin() || this.minTime > until) return false;
    const min = this.minTime;
    const k = this.minBucket;
    this.forgetMin();
    this.last = min;
    this.lastHi = (min / TWO_32) | 0;
    this.lastLo = min >>> 0;
    const list = this.buckets[k]!;
    const n = this.lens[k]!;
    this.empty(k);
    if (k <= 16) {
      this.buckets[k] = this.buckets[0]!;
      this.buckets[0] = list;
      this.lens[0] = n;
    } else {
      for (let i = 0; i < n; i++) {
        const s = list[i]!;
        if (this.i32[s * SLOT_I32 + S_STATE] === DEAD) this.releaseDead(s);
        else this.append(this.bucketOf(this.f64[s * SLOT_F64 + S_TIME]!), s);
      }
    }
    if (this.tieRng !== null) this.sortBucket0();
    return true;
  }

  private append(k: number, s: number): void {
    let list = this.buckets[k]!;
    let n = this.lens[k]!;
    if (n === list.length) {
      list = this.makeRoom(k);
      n = this.lens[k]!;
    }
    list[n] = s;
    this.lens[k] = n + 1;
    if (n === 0 && k !== 0) {
      const p = (k - 1) >> 4;
      this.occupied[p] = this.occupied[p]! | (1 << ((k - 1) & 15));
      this.levels |= 1 << p;
    }
  }

  /** permuteTies: keeps the unpopped part of bucket 0 sorted by tie key. */
  private insertByTie(s: number): void {
    const b0 = this.lens[0] === this.buckets[0]!.length ? this.makeRoom(0) : this.buckets[0]!;
    let i = this.lens[0]!++;
    const key = this.tie[s]!;
    while (i > this.head && this.tie[b0[i - 1]!]! > key) {
      b0[i] = b0[i - 1]!;
      i--;
    }
    b0[i] = s;
  }

  private sortBucket0(): void {
    const b0 = this.buckets[0]!;
    const tie = this.tie;
    const sorted = Array.from(b0.subarray(0, this.lens[0]!)).sort((x, y) => tie[x]! - tie[y]! || x - y);
    b0.set(sorted);
  }

  /**
   * Makes space in bucket k's full list and returns the list. Bucket 0 first drops its popped prefix,
   * so a long zero-delay chain reuses the same space instead of growing the list.
   */
  private makeRoom(k: number): Int32Array {
    const list = this.buckets[k]!;
    const n = this.lens[k]!;
    if (k === 0 && this.head > 0) {
      list.copyWithin(0, this.head, n);
      this.lens[0] = n - this.head;
      this.head = 0;
      return list;
    }
    const next = new Int32Array(list.length * 2);
    next.set(list);
    this.buckets[k] = next;
    return next;
  }

  /** Removes dead entries from every bucket, keeping the order of the rest. */
  private compact(): void {
    for (let k = 0; k < BUCKETS; k++) {
      const list = this.buckets[k]!;
      const n = this.lens[k]!;
      let w = k === 0 ? this.head : 0;
      for (let i = w; i < n; i++) {
        const s = list[i]!;
        if (this.i32[s * SLOT_I32 + S_STATE] === DEAD) this.releaseDead(s);
        else list[w++] = s;
      }
      if (w === 0 && k !== 0) this.empty(k);
      else this.lens[k] = w;
    }
  }

  private grow(): void {
    const old = this.cap;
    const cap = old * 2;
    if (cap > SLOT_LIMIT) throw new EventQueueError(`more than ${SLOT_LIMIT} pending events`);
    this.f64 = grown(this.f64, cap * SLOT_F64);
    this.i32 = new Int32Array(this.f64.buffer);
    if (this.tie.length > 0) this.tie = grown(this.tie, cap);
    const free = new Int32Array(cap);
    for (let i = 0; i < cap - old; i++) free[i] = cap - 1 - i;
    this.free = free;
    this.freeTop = cap - old;
    this.cap = cap;
  }
}
