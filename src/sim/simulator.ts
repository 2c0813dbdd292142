/**
 * The simulation kernel: the clock, the event queue, a table of handlers indexed by small integers,
 * lazy re-armable timers, named random streams and the trace fingerprint.
 *
 * Models register a handler once (`register`) and then schedule events as (time, type, a, b): no
 * closure or object is created per event. Handlers receive the two integer arguments.
 */
import { EventQueue } from "./event-queue.ts";
import { Fingerprint } from "./fingerprint.ts";
import { Rng } from "./rng.ts";
import { checkTime, type Ns } from "./time.ts";
import { Tracer } from "./trace.ts";
import { grown } from "./typed.ts";

export type Handler = (a: number, b: number) => void;

export interface SimulatorOptions {
  seed: number;
  /** Run same-time events in a seeded random order instead of insertion order. */
  permuteTies?: boolean;
  /** Seed for the tie permutation (defaults to the run seed). */
  tieSeed?: number;
  initialCapacity?: number;
  /**
   * Livelock guard: more than this many events at one simulated instant stop run() with a ModelError
   * naming the handlers that ran last (default DEFAULT_MAX_EVENTS_PER_INSTANT).
   */
  maxEventsPerInstant?: number;
}

/**
 * Far above any legitimate burst (a full 32768-entry ring drained and refilled at one instant is some
 * 10^5 events) and reached in well under a second by a handler that re-schedules itself at delay 0.
 */
export const DEFAULT_MAX_EVENTS_PER_INSTANT = 1_000_000;
/** Events before the limit whose handlers the livelock message counts. */
const LIVELOCK_WINDOW = 1024;

export class ModelError extends Error {
  override name = "ModelError";
}

const NO_HANDLE = -1;
// Fields of a timer, TIMER_STRIDE doubles apart: what arming reads and writes shares a cache line
// (a sender's RTO timer is re-armed per ACK; with thousands of flows, one array per field cost a
// cache miss per field).
const T_DEADLINE = 0;
/** The pending event's handle, or NO_HANDLE. */
const T_HANDLE = 1;
/** When the pending event runs (valid while the handle is set). */
const T_EVENT_AT = 2;
/** The handler the timer calls (an int32 in a double). */
const T_TYPE = 3;
const TIMER_STRIDE = 4;

export class Simulator {
  readonly seed: number;
  readonly queue: EventQueue;
  readonly fingerprint = new Fingerprint();
  /** Tracepoints (off unless a trace is started). */
  readonly trace: Tracer = new Tracer(this);
  private handlers: Handler[] = [];
  private handlerNames: string[] = [];
  /** Per event type: 1 for observers (samplers), whose events the fingerprint leaves out. */
  private observer = new Uint8Array(64);
  /** Events executed so far. */
  events = 0;
  /** Called after every event when set (invariant checkers in tests; costs one branch otherwise). */
  afterEvent: (() => void) | null = null;
  private stopped = false;
  /** The bound of the run() in progress (-1 outside one): claimNext() must not pass it. */
  private runUntil = -1;
  readonly maxEventsPerInstant: number;
  /** The instant the current run of same-time events is at, and how many ran there after the first. */
  private instant = -1;
  private sameInstant = 0;
  /** Handler counts over the last LIVELOCK_WINDOW events before the limit (filled only near it). */
  private readonly livelockCounts = new Map<string, number>();
  private livelockInstant = -1;

  // Lazy timers (perf budget: "keep its deadline in a field and at most one pending event").
  private timerCount = 0;
  /** Timer id's fields at TIMER_STRIDE·id + T_*. */
  private timers = new Float64Array(64 * TIMER_STRIDE);
  /** The argument a timer passes its handler (read only when it fires). */
  private timerArg = new Int32Array(64);
  private readonly timerEvent: number;

  constructor(opts: SimulatorOptions) {
    if (!Number.isSafeInteger(opts.seed))
      throw new ModelError(`seed must be a safe integer, got ${opts.seed}`);
    this.seed = opts.seed;
    const limit = opts.maxEventsPerInstant ?? DEFAULT_MAX_EVENTS_PER_INSTANT;
    if (!(Number.isSafeInteger(limit) && limit >= 1))
      throw new ModelError(`maxEventsPerInstant must be an integer >= 1, got ${limit}`);
    this.maxEventsPerInstant = limit;
    const tieRng = opts.permuteTies ? new Rng(opts.tieSeed ?? opts.seed, "sim.ties") : null;
    this.queue = new EventQueue(opts.initialCapacity ?? 4096, tieRng);
    this.timerEvent = this.register("sim.timer", (t) => this.fireTimer(t));
  }

  get now(): Ns {
    return this.queue.now;
  }

  /**
   * Registers a handler; the returned integer is the event type to schedule. An observer only reads
   * the model (samplers, the stall close-up, trace counters): its events are executed and counted but
   * left out of the fingerprint, so what is observed does not change a run's identity.
   */
  register(name: string, fn: Handler, opts?: { observer?: boolean }): number {
    const type = this.handlers.length;
    this.handlers.push(fn);
    this.handlerNames.push(name);
    if (type >= this.observer.length) {
      this.observer = grown(this.observer, this.observer.length * 2);
    }
    this.observer[type] = opts?.observer === true ? 1 : 0;
    return type;
  }

  handlerName(type: number): string {
    return this.handlerNames[type] ?? `#${type}`;
  }

  /** Schedules handler `type` at absolute time `t`. */
  at(t: Ns, type: number, a = 0, b = 0): number {
    return this.queue.schedule(t, type, a, b);
  }

  /**
   * at() for an event that is never cancelled (a link's arrivals, vhost's work and signals, the
   * guest's interrupts, softirq and tick events): no handle, which past 2^30 would be a fresh heap
   * number per call.
   */
  post(t: Ns, type: number, a: number, b: number): void {
    this.queue.insert(t, type, a, b);
  }

  /** Schedules handler `type` after `delay` ns. */
  after(delay: Ns, type: number, a = 0, b = 0): number {
    return this.queue.schedule(this.queue.now + delay, type, a, b);
  }

  cancel(handle: number): boolean {
    return this.queue.cancel(handle);
  }

  /** A random stream independent of every other name. */
  rng(name: string): Rng {
    return new Rng(this.seed, name);
  }

  /** Creates a timer that, when it expires, calls handler `type` with (a, 0). */
  createTimer(type: number, a = 0): number {
    const id = this.timerCount++;
    if (id >= this.timerArg.length) {
      this.timers = grown(this.timers, this.timers.length * 2);
      this.timerArg = grown(this.timerArg, this.timerArg.length * 2);
    }
    const i = id * TIMER_STRIDE;
    this.timers[i + T_DEADLINE] = -1;
    this.timers[i + T_HANDLE] = NO_HANDLE;
    this.timers[i + T_TYPE] = type;
    this.timerArg[id] = a;
    return id;
  }

  /**
   * Arms (or re-arms) a timer for absolute time t. A later deadline only updates a field: the
   * pending event, when it fires early, re-schedules itself for the stored deadline.
   */
  armTimer(id: number, t: Ns): void {
    // A bad deadline would otherwise only surface when the early event fires and re-schedules.
    if (!Number.isSafeInteger(t)) checkTime(t, "timer deadline");
    const timers = this.timers;
    const i = id * TIMER_STRIDE;
    timers[i + T_DEADLINE] = t;
    const h = timers[i + T_HANDLE]!;
    // A timer's event is pending while its handle is set: only fireTimer and this method replace
    // or clear the handle, and nothing else can cancel it (the handle never leaves the simulator).
    if (h !== NO_HANDLE) {
      if (timers[i + T_EVENT_AT]! <= t) return;
      timers[i + T_HANDLE] = this.queue.reschedule(h, t);
    } else {
      timers[i + T_HANDLE] = this.queue.schedule(t, this.timerEvent, id, 0);
    }
    timers[i + T_EVENT_AT] = t;
  }

  disarmTimer(id: number): void {
    this.timers[id * TIMER_STRIDE + T_DEADLINE] = -1;
  }

  timerArmed(id: number): boolean {
    return this.timers[id * TIMER_STRIDE + T_DEADLINE]! >= 0;
  }

  timerDeadlineOf(id: number): Ns {
    return this.timers[id * TIMER_STRIDE + T_DEADLINE]!;
  }

  private fireTimer(id: number): void {
    const timers = this.timers;
    const i = id * TIMER_STRIDE;
    const d = timers[i + T_DEADLINE]!;
    timers[i + T_HANDLE] = NO_HANDLE;
    if (d < 0) return;
    if (d > this.queue.now) {
      timers[i + T_HANDLE] = this.queue.schedule(d, this.timerEvent, id, 0);
      timers[i + T_EVENT_AT] = d;
      return;
    }
    timers[i + T_DEADLINE] = -1;
    this.handlers[timers[i + T_TYPE]!]!(this.timerArg[id]!, 0);
  }

  /**
   * Runs the event (time t, handler `type`, a, b) now, inside the handler that calls this, instead of
   * scheduling it, when it would be the next event popped anyway: t is later than now, earlier than
   * every pending event and within the run() in progress, and stop() was not called. The clock, the
   * event count, the fingerprint and afterEvent see exactly what they would for the scheduled event.
   * Returns false, changing nothing, otherwise: the caller then schedules it. A source of events in
   * time order (a link's arrivals) thus runs a burst in one handler call without a queue operation
   * per event, when nothing else happens in between.
   */
  claimNext(t: Ns, type: number, a: number, b: number): boolean {
    const q = this.queue;
    if (this.stopped || !(t > q.now) || t > this.runUntil || t >= q.peekTime()) return false;
    // The calling handler's own event ends here.
    if (this.afterEvent !== null) this.afterEvent();
    q.now = t;
    if (this.observer[type] === 0) this.fingerprint.mixEvent(t, type, a, b);
    this.events++;
    return true;
  }

  /** Ends the current run() after the event being executed. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Executes events with time ≤ until (or until stop()); leaves the clock at `until` when the queue
   * ran dry or the limit was reached. Returns the number of events executed.
   */
  run(until: Ns): number {
    checkTime(until, "run end");
    const q = this.queue;
    const fp = this.fingerprint;
    const handlers = this.handlers;
    const observer = this.observer;
    const start = this.events;
    const watchFrom = Math.max(0, this.maxEventsPerInstant - LIVELOCK_WINDOW);
    let instant = this.instant;
    let same = this.sameInstant;
    this.stopped = false;
    this.runUntil = until;
    while (!this.stopped && q.popUntil(until)) {
      const type = q.lastType;
      const a = q.lastA;
      const b = q.lastB;
      // The guard's whole hot-path cost: one compare while time stands still.
      if (q.now !== instant) {
        instant = q.now;
        same = 0;
      } else if (++same >= watchFrom) {
        this.sameInstant = same;
        this.watchLivelock(type, a);
      }
      if (observer[type] === 0) fp.mixEvent(q.now, type, a, b);
      this.events++;
      handlers[type]!(a, b);
      if (this.afterEvent !== null) this.afterEvent();
    }
    this.runUntil = -1;
    this.instant = instant;
    this.sameInstant = same;
    if (!this.stopped && q.now < until) q.now = until;
    return this.events - start;
  }

  /**
   * Near the per-instant limit: counts which handlers run (a timer by the handler it fires), and at
   * the limit throws before running the event.
   */
  private watchLivelock(type: number, a: number): void {
    const counts = this.livelockCounts;
    if (this.livelockInstant !== this.now) {
      counts.clear();
      this.livelockInstant = this.now;
    }
    const name = this.handlerName(type === this.timerEvent ? this.timers[a * TIMER_STRIDE + T_TYPE]! : type);
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (this.sameInstant < this.maxEventsPerInstant) return;
    const last = [...counts].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
    throw new ModelError(
      `livelock: more than ${this.maxEventsPerInstant} events at simulated time ${this.now} ns without time ` +
        `advancing; the last ${last.reduce((n, e) => n + e[1], 0)} ran ` +
        last.map(([n, c]) => `${n} ×${c}`).join(", "),
    );
  }
}
