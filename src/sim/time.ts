/**
 * Simulated time is an integer count of nanoseconds held in a JS number. Integers are exact up to
 * Number.MAX_SAFE_INTEGER (2^53 - 1 ns ≈ 104 days), far beyond any run; anything that is not a
 * non-negative safe integer is rejected so that rounding can never creep into the event order.
 */
export type Ns = number;

export const NS_PER_US = 1_000;
export const NS_PER_MS = 1_000_000;
export const NS_PER_S = 1_000_000_000;

export class TimeError extends RangeError {
  override name = "TimeError";
}

/** Throws unless `t` is a non-negative safe integer number of nanoseconds. */
export function checkTime(t: number, what = "time"): Ns {
  if (!Number.isSafeInteger(t) || t < 0) {
    throw new TimeError(
      `${what} must be a non-negative integer number of nanoseconds ≤ ${Number.MAX_SAFE_INTEGER}, got ${t}`,
    );
  }
  return t;
}

export const ms = (x: number): Ns => Math.round(x * NS_PER_MS);
export const us = (x: number): Ns => Math.round(x * NS_PER_US);
export const sec = (x: number): Ns => Math.round(x * NS_PER_S);

/**
 * HZ values the model accepts: the Kconfig choices whose tick is a whole number of nanoseconds
 * (kernel/Kconfig.hz offers 100/250/300/1000; 300 would give a 3333333.3 ns tick).
 */
export const SUPPORTED_HZ = [100, 250, 1000] as const;
export type Hz = (typeof SUPPORTED_HZ)[number];

/** A jiffies clock at a given HZ: jiffy k spans [k·tick, (k+1)·tick). Immutable. */
export class Jiffies {
  private static readonly shared = new Map<number, Jiffies>();

  /**
   * The one clock of each HZ, for objects that exist per flow: thousands of senders then read one
   * object that stays in cache instead of one each.
   */
  static of(hz: number): Jiffies {
    let j = Jiffies.shared.get(hz);
    if (j === undefined) {
      j = new Jiffies(hz);
      Jiffies.shared.set(hz, j);
    }
    return j;
  }

  readonly tickNs: Ns;
  /**
   * at()'s last argument and result: the code handling one event reads the clock several times at
   * one instant (tcp_time_stamp up to four times per segment), and a division is dearer than a compare.
   * NaN until the first call: it equals no time, where a number would answer for that time unread.
   */
  private lastT = Number.NaN;
  private lastJ = 0;
  constructor(readonly hz: number) {
    if (!(SUPPORTED_HZ as readonly number[]).includes(hz)) {
      throw new TimeError(`HZ must be one of ${SUPPORTED_HZ.join(", ")}, got ${hz}`);
    }
    this.tickNs = NS_PER_S / hz;
  }
  /** The jiffies counter at time t. */
  at(t: Ns): number {
    if (t !== this.lastT) {
      this.lastT = t;
      this.lastJ = Math.floor(t / this.tickNs);
    }
    return this.lastJ;
  }
  /** A duration of j jiffies, in ns. */
  toNs(j: number): Ns {
    return j * this.tickNs;
  }
  /**
   * When a timer armed at `now` for `j` jiffies fires: the timer wheel expires it at the tick
   * where jiffies reaches jiffies(now) + j (kernel/timer.c: expires = jiffies + delay). An already
   * expired timer (j ≤ 0) waits for the next tick: internal_add_timer files it under
   * base->timer_jiffies, which __run_timers next processes at the following tick.
   */
  timerExpiry(now: Ns, j: number): Ns {
    return (this.at(now) + Math.max(j, 1)) * this.tickNs;
  }
  /** msecs_to_jiffies (include/linux/jiffies.h): rounds up. */
  msecsToJiffies(m: number): number {
    return Math.ceil((m * this.hz) / 1000);
  }
}
