/**
 * Future-event-set benchmark: our Simulator (typed-array radix heap, handler table, lazy timers)
 * against a naive binary heap of JS event objects with closures, on two workloads:
 *
 * - "ns3-bench-scheduler": ns-3's utils/bench-scheduler.cc defaults (Bench::RunBench / Bench::Cb):
 *   100 000 pending events, 1 000 000 executed, each executed event schedules one successor after an
 *   Exp(mean 100 ns) delay. The rate is executed events over the run phase (ns-3's "Simulation" rate).
 * - "timer-rearm": 10 000 flows, each with an ACK clock and a retransmission timer that every ACK
 *   pushes back to now + RTO (net/ipv4/tcp_input.c tcp_rearm_rto: "RFC2988 recommends to restart
 *   timer to now+rto"); 1 % of ACK gaps exceed the RTO, so the timer expires and re-arms itself
 *   with a doubled timeout (net/ipv4/tcp_timer.c tcp_retransmit_timer doubles icsk_rto). The naive
 *   baseline cancels (lazy deletion flag) and re-inserts on every re-arm.
 *
 * Each implementation is warmed up once, then the best of `runs` timed runs (alternating) counts.
 */
import { Rng } from "../sim/rng.ts";
import { Simulator } from "../sim/simulator.ts";

export interface FesOptions {
  /** Multiplies every count (1 = the full workloads); small values make quick runs for tests. */
  scale?: number;
  /** Timed runs per implementation, after one warm-up run; the best counts. */
  runs?: number;
  seed?: number;
}

export interface FesWorkloadResult {
  name: string;
  /** Workload events asked for per run (ns3: executed events; timer-rearm: ACK events). */
  requested: number;
  /** Workload events our Simulator executed in a run. */
  executed: number;
  /** Workload events the naive baseline executed in a run. */
  baselineExecuted: number;
  /** Handler calls per second (timer-rearm also counts expiries), best run. */
  eventsPerSecond: number;
  baselineEventsPerSecond: number;
  /** eventsPerSecond / baselineEventsPerSecond. */
  ratio: number;
}

export interface FesResult {
  workloads: FesWorkloadResult[];
}

/** One run's outcome; equal for both implementations of a workload (same draws, same tie order). */
export interface WorkloadRun {
  /** Workload events executed (see FesWorkloadResult.requested). */
  executed: number;
  /** Handler calls: executed plus timer expiries. */
  calls: number;
  expiries: number;
  /** Simulated time of the last event, ns. */
  endTime: number;
  /** Wall time of the event loop, s. */
  seconds: number;
}

export interface Ns3Params {
  population: number;
  total: number;
  seed: number;
}

export interface TimerParams {
  timers: number;
  events: number;
  seed: number;
}

/** ns-3 GetRandomStream's default: "exponential time distribution ... with mean delay of 100 ns". */
const NS3_MEAN_DELAY_NS = 100;
/** Retransmission timeout of the timer-rearm flows, and their mean ACK gap (20 ACKs per RTO). */
const RTO_NS = 200_000;
const ACK_GAP_NS = 10_000;
/** One ACK gap in STALL_ODDS outlasts the RTO, so the timer expires. */
const STALL_ODDS = 100;

const wallSeconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/**
 * Next ACK gap of a timer-rearm flow. A stall gap lies in (RTO, 2·RTO], a normal one in [1, 2·gap],
 * so an ACK never lands exactly on its own timer's deadline and the outcome cannot hinge on how the
 * two implementations order same-time events.
 */
function ackGap(rng: Rng): number {
  return rng.int(STALL_ODDS) === 0 ? RTO_NS + 1 + rng.int(RTO_NS) : 1 + rng.int(2 * ACK_GAP_NS);
}

export function runNs3Simulator(p: Ns3Params): WorkloadRun {
  const rng = new Rng(p.seed, "bench.ns3");
  const sim = new Simulator({ seed: p.seed, initialCapacity: p.population });
  let count = 0;
  const cb = sim.register("bench.ns3", () => {
    sim.after(Math.round(rng.exponential(NS3_MEAN_DELAY_NS)), cb);
    if (++count === p.total) sim.stop();
  });
  for (let i = 0; i < p.population; i++) sim.at(Math.round(rng.exponential(NS3_MEAN_DELAY_NS)), cb);
  const start = process.hrtime.bigint();
  sim.run(Number.MAX_SAFE_INTEGER);
  const seconds = wallSeconds(start);
  return { executed: count, calls: count, expiries: 0, endTime: sim.now, seconds };
}

export function runTimerSimulator(p: TimerParams): WorkloadRun {
  const rng = new Rng(p.seed, "bench.timer");
  const sim = new Simulator({ seed: p.seed, initialCapacity: 2 * p.timers });
  let acks = 0;
  let expiries = 0;
  const expire = sim.register("bench.rto", (f) => {
    expiries++;
    sim.armTimer(f, sim.now + 2 * RTO_NS);
  });
  const ack = sim.register("bench.ack", (f) => {
    sim.armTimer(f, sim.now + RTO_NS);
    sim.after(ackGap(rng), ack, f);
    if (++acks === p.events) sim.stop();
  });
  for (let f = 0; f < p.timers; f++) {
    sim.createTimer(expire, f);
    sim.at(rng.int(ACK_GAP_NS), ack, f);
  }
  const start = process.hrtime.bigint();
  sim.run(Number.MAX_SAFE_INTEGER);
  const seconds = wallSeconds(start);
  return { executed: acks, calls: acks + expiries, expiries, endTime: sim.now, seconds };
}

/** The naive baseline: a binary min-heap of event objects ordered by (time, seq). */
interface NaiveEvent {
  time: number;
  seq: number;
  fn: () => void;
  dead: boolean;
}

class NaiveHeap {
  private a: NaiveEvent[] = [];
  private seq = 0;
  now = 0;

  push(time: number, fn: () => void): NaiveEvent {
    const e: NaiveEvent = { time, seq: this.seq++, fn, dead: false };
    const a = this.a;
    let i = a.length;
    a.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = a[p]!;
      if (!before(e, pe)) break;
      a[i] = pe;
      i = p;
    }
    a[i] = e;
    return e;
  }

  pop(): NaiveEvent | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    const n = a.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(a[r]!, a[l]!) ? r : l;
      if (!before(a[c]!, last)) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }

  /** Runs events until stop() returns true after one. */
  run(stop: () => boolean): void {
    for (let e = this.pop(); e !== undefined; e = this.pop()) {
      if (e.dead) continue;
      this.now = e.time;
      e.fn();
      if (stop()) return;
    }
  }
}

function before(x: NaiveEvent, y: NaiveEvent): boolean {
  return x.time < y.time || (x.time === y.time && x.seq < y.seq);
}

export function runNs3Naive(p: Ns3Params): WorkloadRun {
  const rng = new Rng(p.seed, "bench.ns3");
  const heap = new NaiveHeap();
  let count = 0;
  const cb = (): void => {
    heap.push(heap.now + Math.round(rng.exponential(NS3_MEAN_DELAY_NS)), cb);
    count++;
  };
  for (let i = 0; i < p.population; i++) heap.push(Math.round(rng.exponential(NS3_MEAN_DELAY_NS)), cb);
  const start = process.hrtime.bigint();
  heap.run(() => count === p.total);
  const seconds = wallSeconds(start);
  return { executed: count, calls: count, expiries: 0, endTime: heap.now, seconds };
}

export function runTimerNaive(p: TimerParams): WorkloadRun {
  const rng = new Rng(p.seed, "bench.timer");
  const heap = new NaiveHeap();
  const timers: (NaiveEvent | null)[] = new Array(p.timers).fill(null);
  let acks = 0;
  let expiries = 0;
  const arm = (f: number, t: number): void => {
    const old = timers[f];
    if (old) old.dead = true;
    timers[f] = heap.push(t, () => {
      timers[f] = null;
      expiries++;
      arm(f, heap.now + 2 * RTO_NS);
    });
  };
  const ack = (f: number): void => {
    arm(f, heap.now + RTO_NS);
    heap.push(heap.now + ackGap(rng), () => ack(f));
    acks++;
  };
  for (let f = 0; f < p.timers; f++) heap.push(rng.int(ACK_GAP_NS), () => ack(f));
  const start = process.hrtime.bigint();
  heap.run(() => acks === p.events);
  const seconds = wallSeconds(start);
  return { executed: acks, calls: acks + expiries, expiries, endTime: heap.now, seconds };
}

const rateOf = (r: WorkloadRun): number => r.calls / r.seconds;

/**
 * One warm-up run of each implementation, then `runs` rounds that alternate them, so that a burst
 * of load from elsewhere on the machine hits both alike; the best run of each counts.
 */
function compare<P>(
  name: string,
  requested: number,
  ours: (p: P) => WorkloadRun,
  naive: (p: P) => WorkloadRun,
  p: P,
  runs: number,
): FesWorkloadResult {
  let a = ours(p);
  let b = naive(p);
  for (let i = 0; i < runs; i++) {
    const ra = ours(p);
    const rb = naive(p);
    if (i === 0 || rateOf(ra) > rateOf(a)) a = ra;
    if (i === 0 || rateOf(rb) > rateOf(b)) b = rb;
  }
  return {
    name,
    requested,
    executed: a.executed,
    baselineExecuted: b.executed,
    eventsPerSecond: rateOf(a),
    baselineEventsPerSecond: rateOf(b),
    ratio: rateOf(a) / rateOf(b),
  };
}

export function benchFes(opts: FesOptions = {}): FesResult {
  const scale = opts.scale ?? 1;
  const runs = opts.runs ?? 3;
  const seed = opts.seed ?? 1;
  if (!(scale > 0 && Number.isFinite(scale)))
    throw new RangeError(`scale must be a positive number, got ${scale}`);
  if (!(Number.isInteger(runs) && runs >= 1))
    throw new RangeError(`runs must be an integer ≥ 1, got ${runs}`);
  const n = (x: number): number => Math.max(1, Math.round(x * scale));
  const ns3: Ns3Params = { population: n(100_000), total: n(1_000_000), seed };
  const timer: TimerParams = { timers: n(10_000), events: n(1_000_000), seed };
  return {
    workloads: [
      compare("ns3-bench-scheduler", ns3.total, runNs3Simulator, runNs3Naive, ns3, runs),
      compare("timer-rearm", timer.events, runTimerSimulator, runTimerNaive, timer, runs),
    ],
  };
}
