import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkTime, Jiffies, ms, NS_PER_S, SUPPORTED_HZ, sec, TimeError, us } from "./time.ts";

describe("checkTime", () => {
  it("accepts non-negative safe integers and returns them", () => {
    for (const t of [0, 1, 1_000_000_007, Number.MAX_SAFE_INTEGER]) expect(checkTime(t)).toBe(t);
  });

  it("rejects negative, fractional, NaN, infinite and unsafe values, naming what was checked", () => {
    for (const t of [
      -1,
      0.5,
      1e9 + 0.25,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.MAX_SAFE_INTEGER + 1,
    ]) {
      expect(() => checkTime(t, "link delay")).toThrow(TimeError);
      expect(() => checkTime(t, "link delay")).toThrow(/link delay must be a non-negative integer/);
    }
  });
});

describe("unit helpers", () => {
  it("convert to integer nanoseconds", () => {
    expect(ms(1.5)).toBe(1_500_000);
    expect(us(2)).toBe(2_000);
    expect(sec(0.5)).toBe(500_000_000);
    expect(Number.isInteger(us(1 / 3))).toBe(true);
  });
});

describe("Jiffies", () => {
  it("ticks every 1/HZ s at each supported HZ", () => {
    expect(SUPPORTED_HZ).toEqual([100, 250, 1000]);
    expect(new Jiffies(100).tickNs).toBe(10_000_000);
    expect(new Jiffies(250).tickNs).toBe(4_000_000);
    expect(new Jiffies(1000).tickNs).toBe(1_000_000);
  });

  it("rejects HZ values without a whole-nanosecond tick or outside Kconfig.hz", () => {
    for (const hz of [0, 300, 1200, 250.5, -250, Number.NaN])
      expect(() => new Jiffies(hz)).toThrow(TimeError);
  });

  it("Jiffies.of shares one clock per HZ and validates HZ like the constructor", () => {
    for (const hz of SUPPORTED_HZ) {
      expect(Jiffies.of(hz)).toBe(Jiffies.of(hz));
      expect(Jiffies.of(hz).tickNs).toBe(new Jiffies(hz).tickNs);
    }
    expect(Jiffies.of(100)).not.toBe(Jiffies.of(1000));
    expect(() => Jiffies.of(300)).toThrow(TimeError);
  });

  it("answers a fresh clock's first read from the division, whatever the time (the memo starts empty)", () => {
    // A sentinel time of -1 once answered at(-1) with 0: fast-check found it in CI (seed 866746941).
    for (const t of [-1, 0, -2364167006067793])
      expect(new Jiffies(100).at(t)).toBe(Math.floor(t / 10_000_000));
  });

  it("at() is floor(t / tick) whatever the order of its calls, repeated instants included", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SUPPORTED_HZ),
        fc.array(fc.oneof(fc.nat({ max: 50_000_000 }), fc.maxSafeInteger()), { maxLength: 40 }),
        (hz, times) => {
          // One shared clock: its memo of the last instant must never answer for another.
          const j = Jiffies.of(hz);
          for (const t of [...times, ...times.slice().reverse()])
            expect(j.at(t)).toBe(Math.floor(t / (NS_PER_S / hz)));
        },
      ),
    );
  });

  for (const hz of SUPPORTED_HZ) {
    describe(`HZ=${hz}`, () => {
      const j = new Jiffies(hz);
      const tick = NS_PER_S / hz;

      it("at() counts whole ticks: jiffy k spans [k·tick, (k+1)·tick)", () => {
        expect(j.at(0)).toBe(0);
        expect(j.at(tick - 1)).toBe(0);
        expect(j.at(tick)).toBe(1);
        expect(j.at(7 * tick + tick / 2)).toBe(7);
        expect(j.toNs(hz)).toBe(NS_PER_S);
      });

      it("a timer for n ≥ 1 jiffies fires at the tick where jiffies reaches jiffies(now) + n", () => {
        fc.assert(
          fc.property(fc.integer({ min: 0, max: 1e15 }), fc.integer({ min: 1, max: 10_000 }), (now, n) => {
            const t = j.timerExpiry(now, n);
            expect(t % tick).toBe(0);
            expect(j.at(t)).toBe(j.at(now) + n);
            // So the wait is in ((n-1)·tick, n·tick].
            expect(t - now).toBeGreaterThan((n - 1) * tick);
            expect(t - now).toBeLessThanOrEqual(n * tick);
          }),
        );
        expect(j.timerExpiry(2 * tick + 1, 1)).toBe(3 * tick);
        expect(j.timerExpiry(2 * tick, 1)).toBe(3 * tick);
      });

      it("an already expired timer (0 jiffies) fires at the next tick, never in the past", () => {
        expect(j.timerExpiry(2 * tick + 1, 0)).toBe(3 * tick);
        expect(j.timerExpiry(2 * tick, 0)).toBe(3 * tick);
        expect(j.timerExpiry(0, 0)).toBe(tick);
      });

      it("msecsToJiffies rounds up like msecs_to_jiffies for HZ dividing 1000", () => {
        const per = 1000 / hz;
        fc.assert(
          fc.property(fc.integer({ min: 0, max: 10_000_000 }), (m) => {
            expect(j.msecsToJiffies(m)).toBe(Math.floor((m + per - 1) / per));
          }),
        );
        expect(j.msecsToJiffies(0)).toBe(0);
        expect(j.msecsToJiffies(1)).toBe(1);
        expect(j.msecsToJiffies(500)).toBe(hz / 2);
        expect(j.msecsToJiffies(1000)).toBe(hz);
      });
    });
  }

  it("msecsToJiffies(1) is one whole jiffy even when a jiffy is longer than 1 ms", () => {
    expect(new Jiffies(100).msecsToJiffies(1)).toBe(1);
    expect(new Jiffies(100).msecsToJiffies(11)).toBe(2);
    expect(new Jiffies(250).msecsToJiffies(5)).toBe(2);
  });
});
