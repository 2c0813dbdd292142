import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Rng } from "./rng.ts";
import { ModelError, Simulator } from "./simulator.ts";
import { TimeError } from "./time.ts";

describe("Simulator dispatch and run()", () => {
  it("calls the registered handler with its two arguments at the scheduled time", () => {
    const sim = new Simulator({ seed: 1 });
    const log: string[] = [];
    const ping = sim.register("ping", (a, b) => log.push(`ping@${sim.now}:${a},${b}`));
    const pong = sim.register("pong", (a, b) => log.push(`pong@${sim.now}:${a},${b}`));
    sim.at(20, pong, 7, 2 ** 40);
    sim.at(10, ping, -3, 0);
    sim.after(15, ping);
    expect(sim.run(100)).toBe(3);
    expect(log).toEqual(["ping@10:-3,0", "ping@15:0,0", `pong@20:7,${2 ** 40}`]);
    expect(sim.handlerName(ping)).toBe("ping");
    expect(sim.handlerName(99)).toBe("#99");
    expect(sim.events).toBe(3);
  });

  it("post() schedules like at(), in insertion order with at()'s events, and is fingerprinted the same", () => {
    const trace = (usePost: boolean) => {
      const sim = new Simulator({ seed: 1 });
      const log: string[] = [];
      const ev = sim.register("ev", (a, b) => log.push(`${sim.now}:${a},${b}`));
      // Times past 2^32 ns and a tie at 2^32 + 5 between the two ways of scheduling.
      const t0 = 2 ** 32;
      sim.at(t0 + 5, ev, 1, 0);
      if (usePost) sim.post(t0 + 5, ev, 2, 2 ** 40);
      else sim.at(t0 + 5, ev, 2, 2 ** 40);
      if (usePost) sim.post(t0 + 3, ev, 3, 0);
      else sim.at(t0 + 3, ev, 3, 0);
      sim.run(t0 + 10);
      return { log, fp: sim.fingerprint.digest() };
    };
    const posted = trace(true);
    expect(posted.log).toEqual([`${2 ** 32 + 3}:3,0`, `${2 ** 32 + 5}:1,0`, `${2 ** 32 + 5}:2,${2 ** 40}`]);
    expect(posted).toEqual(trace(false));
  });

  it("after() counts from the current time", () => {
    const sim = new Simulator({ seed: 1 });
    const times: number[] = [];
    const ev = sim.register("ev", (n) => {
      times.push(sim.now);
      if (n > 0) sim.after(n * 10, ev, n - 1);
    });
    sim.at(5, ev, 3);
    sim.run(1000);
    expect(times).toEqual([5, 35, 55, 65]);
  });

  it("run(until) runs events at exactly `until`, not after, and leaves the clock at `until`", () => {
    const sim = new Simulator({ seed: 1 });
    const ran: number[] = [];
    const ev = sim.register("ev", () => ran.push(sim.now));
    for (const t of [100, 200, 200, 201]) sim.at(t, ev);
    expect(sim.run(200)).toBe(3);
    expect(ran).toEqual([100, 200, 200]);
    expect(sim.now).toBe(200);
    expect(sim.queue.size).toBe(1);
    expect(sim.run(150)).toBe(0);
    expect(sim.run(500)).toBe(1);
    expect(sim.now).toBe(500);
    // Nothing pending: the clock still moves to `until`, and scheduling before it is refused.
    expect(sim.run(800)).toBe(0);
    expect(sim.now).toBe(800);
    expect(() => sim.at(799, ev)).toThrow(/before the current time/);
  });

  it("runs an event scheduled at `until` from within a handler at `until`", () => {
    const sim = new Simulator({ seed: 1 });
    const ran: string[] = [];
    const second = sim.register("second", () => ran.push(`second@${sim.now}`));
    const first = sim.register("first", () => {
      ran.push(`first@${sim.now}`);
      sim.after(0, second);
    });
    sim.at(50, first);
    sim.run(50);
    expect(ran).toEqual(["first@50", "second@50"]);
  });

  it("stop() ends run() after the current event and leaves the clock there", () => {
    const sim = new Simulator({ seed: 1 });
    const ran: number[] = [];
    const ev = sim.register("ev", (stop) => {
      ran.push(sim.now);
      if (stop) sim.stop();
    });
    sim.at(10, ev);
    sim.at(20, ev, 1);
    sim.at(20, ev);
    sim.at(30, ev);
    expect(sim.run(1000)).toBe(2);
    expect(sim.now).toBe(20);
    expect(sim.queue.size).toBe(2);
    expect(sim.run(1000)).toBe(2);
    expect(ran).toEqual([10, 20, 20, 30]);
  });

  it("rejects bad seeds and run ends", () => {
    expect(() => new Simulator({ seed: 0.5 })).toThrow(ModelError);
    const sim = new Simulator({ seed: 1 });
    expect(() => sim.run(-1)).toThrow(TimeError);
    expect(() => sim.run(1.5)).toThrow(TimeError);
  });
});

describe("Simulator lazy timers", () => {
  const setup = () => {
    const sim = new Simulator({ seed: 1 });
    const fired: string[] = [];
    const onTimer = sim.register("timer", (a, b) => fired.push(`${a}@${sim.now}/${b}`));
    return { sim, fired, onTimer };
  };

  it("fires exactly at the deadline with its argument", () => {
    const { sim, fired, onTimer } = setup();
    const t = sim.createTimer(onTimer, 42);
    expect(sim.timerArmed(t)).toBe(false);
    sim.armTimer(t, 1234);
    expect(sim.timerArmed(t)).toBe(true);
    expect(sim.timerDeadlineOf(t)).toBe(1234);
    sim.run(1233);
    expect(fired).toEqual([]);
    sim.run(1234);
    expect(fired).toEqual(["42@1234/0"]);
    expect(sim.timerArmed(t)).toBe(false);
  });

  it("keeps each timer's handler, argument and deadline when the table grows past its first size", () => {
    const sim = new Simulator({ seed: 1 });
    const fired: string[] = [];
    const even = sim.register("even", (a) => fired.push(`even ${a}@${sim.now}`));
    const odd = sim.register("odd", (a) => fired.push(`odd ${a}@${sim.now}`));
    // Armed as they are created, so the table grows (64 → 128 → 256) under armed timers.
    const n = 200;
    for (let k = 0; k < n; k++) {
      const id = sim.createTimer(k % 2 === 0 ? even : odd, 1000 + k);
      sim.armTimer(id, 10 * (n - k));
    }
    sim.run(10 * n);
    const expected = Array.from({ length: n }, (_, j) => {
      const k = n - 1 - j;
      return `${k % 2 === 0 ? "even" : "odd"} ${1000 + k}@${10 * (n - k)}`;
    });
    expect(fired).toEqual(expected);
  });

  it("arming later only moves the deadline; the early event re-schedules itself", () => {
    const { sim, fired, onTimer } = setup();
    const t = sim.createTimer(onTimer, 1);
    sim.armTimer(t, 100);
    sim.armTimer(t, 300);
    expect(sim.queue.size).toBe(1);
    expect(sim.queue.peekTime()).toBe(100);
    expect(sim.timerDeadlineOf(t)).toBe(300);
    sim.run(1000);
    expect(fired).toEqual(["1@300/0"]);
  });

  it("arming earlier moves the pending event", () => {
    const { sim, fired, onTimer } = setup();
    const t = sim.createTimer(onTimer, 1);
    sim.armTimer(t, 300);
    sim.armTimer(t, 100);
    expect(sim.queue.size).toBe(1);
    expect(sim.queue.peekTime()).toBe(100);
    sim.run(1000);
    expect(fired).toEqual(["1@100/0"]);
  });

  it("disarm cancels the expiry; re-arming afterwards fires only at the new deadline", () => {
    const { sim, fired, onTimer } = setup();
    const a = sim.createTimer(onTimer, 1);
    const b = sim.createTimer(onTimer, 2);
    sim.armTimer(a, 100);
    sim.disarmTimer(a);
    expect(sim.timerArmed(a)).toBe(false);
    sim.armTimer(b, 100);
    sim.disarmTimer(b);
    sim.armTimer(b, 250);
    sim.run(1000);
    expect(fired).toEqual(["2@250/0"]);
  });

  it("can be armed for the current time and re-armed from its own handler", () => {
    const sim = new Simulator({ seed: 1 });
    const fired: number[] = [];
    let timer = -1;
    const onTimer = sim.register("periodic", () => {
      fired.push(sim.now);
      if (fired.length < 4) sim.armTimer(timer, sim.now + 1000);
    });
    timer = sim.createTimer(onTimer);
    const start = sim.register("start", () => sim.armTimer(timer, sim.now));
    sim.at(500, start);
    sim.run(10_000);
    expect(fired).toEqual([500, 1500, 2500, 3500]);
  });

  it("rejects a deadline that is not an integer number of ns", () => {
    const { sim, onTimer } = setup();
    const t = sim.createTimer(onTimer);
    sim.armTimer(t, 100);
    expect(() => sim.armTimer(t, 200.5)).toThrow(TimeError);
  });

  it("keeps at most one pending event per timer however often it is re-armed", () => {
    const sim = new Simulator({ seed: 1 });
    const rng = new Rng(1, "rearm");
    let fired = 0;
    const onTimer = sim.register("rto", () => fired++);
    const timers = Array.from({ length: 20 }, (_, i) => sim.createTimer(onTimer, i));
    let maxTimerEvents = 0;
    let acks = 0;
    const ack = sim.register("ack", () => {
      // Mostly later deadlines (as on each ACK), sometimes earlier ones, sometimes a disarm.
      for (let k = 0; k < 50; k++) {
        const t = timers[rng.int(timers.length)]!;
        const r = rng.int(10);
        if (r === 0) sim.disarmTimer(t);
        else sim.armTimer(t, sim.now + (r === 1 ? 1 + rng.int(50) : 1000 + rng.int(1000)));
      }
      maxTimerEvents = Math.max(maxTimerEvents, sim.queue.size - 1);
      if (++acks < 2000) sim.after(10, ack);
    });
    sim.at(0, ack);
    sim.run(10_000_000);
    expect(acks).toBe(2000);
    expect(maxTimerEvents).toBeLessThanOrEqual(timers.length);
    expect(fired).toBeGreaterThan(0);
  });

  it("fires every timer exactly at its last deadline, as a plain deadline table says", () => {
    type Op = { timer: number; disarm: boolean; delay: number };
    const opArb = fc.record({
      timer: fc.integer({ min: 0, max: 3 }),
      disarm: fc.boolean(),
      // Even delays from odd driver times: a deadline never ties with a driver event.
      delay: fc.integer({ min: 0, max: 40 }).map((x) => 2 * x + 1),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), opArb), { maxLength: 60 }), (steps) => {
        const sim = new Simulator({ seed: 1 });
        const fired: string[] = [];
        const onTimer = sim.register("timer", (id) => fired.push(`${id}@${sim.now}`));
        const ids = [0, 1, 2, 3].map((i) => sim.createTimer(onTimer, i));
        const ops: Op[] = [];
        const driver = sim.register("driver", (i) => {
          const o = ops[i]!;
          if (o.disarm) sim.disarmTimer(ids[o.timer]!);
          else sim.armTimer(ids[o.timer]!, sim.now + o.delay);
        });
        // Reference: driver events in time order update a deadline table; a deadline strictly
        // before the next driver event fires first.
        const sorted = steps.map(([t, o], i) => ({ time: 2 * t + 1, o, i })).sort((x, y) => x.time - y.time);
        const deadline: (number | null)[] = [null, null, null, null];
        const expected: { time: number; id: number }[] = [];
        const fireBefore = (limit: number) => {
          deadline.forEach((d, id) => {
            if (d !== null && d < limit) {
              expected.push({ time: d, id });
              deadline[id] = null;
            }
          });
        };
        steps.forEach(([t, o]) => {
          sim.at(2 * t + 1, driver, ops.length);
          ops.push(o);
        });
        for (const { time, o } of sorted) {
          fireBefore(time);
          deadline[o.timer] = o.disarm ? null : time + o.delay;
        }
        fireBefore(Number.POSITIVE_INFINITY);
        sim.run(1_000_000);
        const key = (e: { time: number; id: number }) => `${e.id}@${e.time}`;
        const byTime = (x: { time: number; id: number }, y: { time: number; id: number }) =>
          x.time - y.time || x.id - y.id;
        const got = fired.map((f) => {
          const [id, time] = f.split("@").map(Number) as [number, number];
          return { time, id };
        });
        expect(got.sort(byTime).map(key)).toEqual(expected.sort(byTime).map(key));
      }),
    );
  });
});

describe("Simulator fingerprint", () => {
  /** A little model: two random-delay event chains that hand work to each other. */
  const runModel = (firstTime: number): string => {
    const sim = new Simulator({ seed: 5 });
    const rng = sim.rng("model");
    let left = 500;
    const b = sim.register("b", (x) => {
      if (--left > 0) sim.after(rng.int(100), x % 2 === 0 ? a : b, x + 1, left);
    });
    const a = sim.register("a", (x) => {
      if (--left > 0) sim.after(1 + rng.int(100), b, x + 1);
    });
    sim.at(firstTime, a, 0);
    sim.at(400, b, 1);
    sim.run(1_000_000);
    // Both chains run until the shared budget is spent.
    expect(sim.events).toBeGreaterThan(500);
    return sim.fingerprint.digest();
  };

  it("is equal for identical runs", () => {
    expect(runModel(1000)).toMatch(/^[0-9a-f]{16}$/);
    expect(runModel(1000)).toBe(runModel(1000));
  });

  it("changes when one event time changes by 1 ns", () => {
    expect(runModel(1001)).not.toBe(runModel(1000));
  });

  it("changes when a single event of a fixed trace moves by 1 ns", () => {
    const digest = (times: number[]): string => {
      const sim = new Simulator({ seed: 1 });
      const ev = sim.register("ev", () => {});
      times.forEach((t, i) => sim.at(t, ev, i));
      sim.run(1000);
      return sim.fingerprint.digest();
    };
    expect(digest([10, 20, 30])).toBe(digest([10, 20, 30]));
    expect(digest([10, 21, 30])).not.toBe(digest([10, 20, 30]));
  });

  it("changes with the event arguments and type", () => {
    const digest = (type: number, a: number, b: number): string => {
      const sim = new Simulator({ seed: 1 });
      sim.register("x", () => {});
      sim.register("y", () => {});
      sim.at(10, type, a, b);
      sim.run(10);
      return sim.fingerprint.digest();
    };
    const base = digest(1, 1, 1);
    expect(digest(1, 1, 1)).toBe(base);
    expect(digest(2, 1, 1)).not.toBe(base);
    expect(digest(1, 2, 1)).not.toBe(base);
    expect(digest(1, 1, 2)).not.toBe(base);
  });
});

describe("Simulator permuteTies", () => {
  const order = (tieSeed: number): string => {
    const sim = new Simulator({ seed: 1, permuteTies: true, tieSeed });
    const out: number[] = [];
    const ev = sim.register("ev", (i) => out.push(i));
    for (let i = 0; i < 5; i++) sim.at(10, ev, i);
    sim.run(10);
    return out.join("");
  };

  it("orders same-time events by the tie seed, reproducibly", () => {
    const orders = new Set<string>();
    for (let s = 0; s < 50; s++) {
      expect(order(s)).toBe(order(s));
      orders.add(order(s));
    }
    expect(orders.size).toBeGreaterThan(10);
  });
});

describe("observers", () => {
  it("an observer's events run and count but leave the fingerprint as without them", () => {
    const build = (withObserver: boolean) => {
      const sim = new Simulator({ seed: 1 });
      const seen: number[] = [];
      const ev = sim.register("model", (a) => {
        seen.push(a);
        if (a < 50) sim.after(7, ev, a + 1);
      });
      sim.at(0, ev, 0);
      let observed = 0;
      if (withObserver) {
        const obs = sim.register(
          "sampler",
          () => {
            observed++;
            if (sim.now < 300) sim.after(5, obs);
          },
          { observer: true },
        );
        sim.at(0, obs);
      }
      sim.run(1000);
      return { fp: sim.fingerprint.digest(), events: sim.events, seen, observed };
    };
    const plain = build(false);
    const observed = build(true);
    expect(observed.observed).toBeGreaterThan(50);
    expect(observed.events).toBe(plain.events + observed.observed);
    expect(observed.seen).toEqual(plain.seen);
    expect(observed.fp).toBe(plain.fp);
    // The same handler registered as part of the model does change it.
    const sim = new Simulator({ seed: 1 });
    const ev = sim.register("model", (a) => {
      if (a < 50) sim.after(7, ev, a + 1);
    });
    sim.at(0, ev, 0);
    const other = sim.register("sampler", () => {
      if (sim.now < 300) sim.after(5, other);
    });
    sim.at(0, other);
    sim.run(1000);
    expect(sim.fingerprint.digest()).not.toBe(plain.fp);
  });
});

describe("livelock guard", () => {
  it("stops a handler that re-schedules itself at delay 0 with a ModelError naming it", () => {
    const sim = new Simulator({ seed: 1, maxEventsPerInstant: 5000 });
    const other = sim.register("other", () => {});
    const spin = sim.register("refill_work", () => {
      sim.after(0, spin);
    });
    sim.at(10, other);
    sim.at(10, spin);
    let err: unknown;
    try {
      sim.run(1000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelError);
    expect((err as Error).message).toMatch(
      /more than 5000 events at simulated time 10 ns .*refill_work ×1025$/,
    );
    // It stopped at the limit, not later: 5000 events at t=10 (other, then 4999 refill_work).
    expect(sim.events).toBe(5000);
  });

  it("names a handler fired through a timer by the timer's handler", () => {
    const sim = new Simulator({ seed: 1, maxEventsPerInstant: 100 });
    const tick = sim.register("watchdog", () => sim.armTimer(timer, sim.now));
    const timer = sim.createTimer(tick);
    sim.armTimer(timer, 0);
    expect(() => sim.run(10)).toThrow(/watchdog ×\d+$/);
  });

  it("lets a burst up to the limit through, and counts afresh at every instant", () => {
    const sim = new Simulator({ seed: 1, maxEventsPerInstant: 3000 });
    let ran = 0;
    const ev = sim.register("ev", () => {
      if (++ran === 10500) sim.stop();
    });
    for (const t of [5, 6, 7]) for (let i = 0; i < 3000; i++) sim.at(t, ev);
    expect(sim.run(100)).toBe(9000);
    // Split across run() calls (stop() halfway), one instant still counts as one.
    for (let i = 0; i < 3001; i++) sim.at(200, ev);
    expect(sim.run(300)).toBe(1500);
    expect(() => sim.run(300)).toThrow(ModelError);
    expect(ran).toBe(12000);
  });

  it("rejects a limit below 1", () => {
    expect(() => new Simulator({ seed: 1, maxEventsPerInstant: 0 })).toThrow(/maxEventsPerInstant/);
  });
});

describe("claimNext", () => {
  /**
   * Sources of events in time order (like links' arrivals), each with one pending event at a time,
   * plus other events that feed the sources: run once with sources that schedule every event and once
   * with sources that claim the next one when they can; everything observable must be the same.
   */
  function runSources(
    claim: boolean,
    feeds: readonly { at: number; source: number; gaps: number[] }[],
    steps: readonly number[],
  ) {
    const sim = new Simulator({ seed: 5 });
    const log: string[] = [];
    let afterEvents = 0;
    sim.afterEvent = () => afterEvents++;
    /** Per source, its pending (time, value) pairs in time order. */
    const fifos: [number, number][][] = [[], [], []];
    const armed = [false, false, false];
    /** Each source's latest time: later pushes are not earlier (sources emit in time order). */
    const tail = [0, 0, 0];
    let claimed = 0;
    const types = fifos.map((fifo, i) =>
      sim.register(`source${i}`, () => {
        for (;;) {
          log.push(`${sim.now}:s${i}:${fifo.shift()![1]}`);
          if (fifo.length === 0) {
            armed[i] = false;
            return;
          }
          const [t, next] = fifo[0]!;
          if (claim && sim.claimNext(t, types[i]!, next, 0)) {
            claimed++;
            continue;
          }
          sim.at(t, types[i]!, next, 0);
          return;
        }
      }),
    );
    const feed = sim.register("feed", (k) => {
      const f = feeds[k]!;
      log.push(`${sim.now}:feed${k}`);
      const fifo = fifos[f.source]!;
      let t = Math.max(sim.now, tail[f.source]!);
      f.gaps.forEach((g, j) => {
        t += g;
        fifo.push([t, k * 100 + j]);
        if (!armed[f.source]) {
          armed[f.source] = true;
          sim.at(t, types[f.source]!, k * 100 + j, 0);
        }
      });
      tail[f.source] = t;
    });
    feeds.forEach((f, k) => sim.at(f.at, feed, k));
    for (const until of steps) sim.run(until);
    return { log, events: sim.events, fp: sim.fingerprint.digest(), afterEvents, claimed, now: sim.now };
  }

  it("runs exactly the events, times and fingerprint of scheduling each event", () => {
    const feedArb = fc.record({
      at: fc.integer({ min: 0, max: 200 }),
      source: fc.integer({ min: 0, max: 2 }),
      gaps: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 12 }),
    });
    fc.assert(
      fc.property(
        fc.array(feedArb, { maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 4 }),
        (feeds, cuts) => {
          const steps = [...cuts.sort((x, y) => x - y), 1000];
          const scheduled = runSources(false, feeds, steps);
          const claimed = runSources(true, feeds, steps);
          expect(claimed.log).toEqual(scheduled.log);
          expect(claimed.events).toBe(scheduled.events);
          expect(claimed.fp).toBe(scheduled.fp);
          expect(claimed.afterEvents).toBe(claimed.events);
          expect(claimed.now).toBe(scheduled.now);
        },
      ),
    );
    // The workload does exercise the inline path.
    const busy = runSources(true, [{ at: 0, source: 0, gaps: [1, 2, 3, 4] }], [1000]);
    expect(busy.claimed).toBe(3);
  });

  it("refuses an event that is not strictly next, past the run's end, after stop() or outside run()", () => {
    const sim = new Simulator({ seed: 1 });
    const other = sim.register("other", () => {});
    const results: boolean[] = [];
    const probe = sim.register("probe", (t) => {
      results.push(sim.claimNext(t, other, 0, 0));
    });
    sim.at(10, probe, 10); // not later than now
    sim.at(20, other);
    sim.at(15, probe, 20); // a pending event at the same time
    sim.at(16, probe, 19); // next: claimed
    sim.run(100);
    expect(results).toEqual([false, false, true]);
    sim.at(110, probe, 150); // past the end of this run()
    sim.run(120);
    const stopper = sim.register("stop", () => {
      sim.stop();
      results.push(sim.claimNext(sim.now + 1, other, 0, 0));
    });
    sim.at(130, stopper);
    sim.run(200);
    expect(results).toEqual([false, false, true, false, false]);
    expect(sim.claimNext(sim.now + 1, other, 0, 0)).toBe(false);
  });
});
