/**
 * The Completely Fair Scheduler of Linux 3.2 (kernel/sched_fair.c, kernel/sched.c), reduced to one
 * cfs_rq per vCPU with tasks only (no group scheduling, no migration between vCPUs): per-thread
 * vruntime advanced at NICE_0_LOAD / weight of real time, min_vruntime, place_entity, the leftmost
 * pick, and the two preemption rules (check_preempt_tick, check_preempt_wakeup).
 *
 * Left out: buddies. NEXT_BUDDY is off and LAST_BUDDY only acts when nr_running ≥ sched_nr_latency
 * (8; check_preempt_wakeup's `scale`); the next buddy set on a wake-up preemption is the woken
 * thread, which the pick prefers only while it is within the wake-up granularity of the leftmost.
 */
import { ModelError } from "../../sim/simulator.ts";
import type { Ns } from "../../sim/time.ts";

/** NICE_0_LOAD = SCHED_LOAD_SCALE = 1 << 10 (include/linux/sched.h, v3.2). */
export const NICE_0_LOAD = 1024;

/** prio_to_weight[] (kernel/sched.c, v3.2): nice -20 … 19, each step about 1.25×. */
const PRIO_TO_WEIGHT = Int32Array.of(
  88761,
  71755,
  56483,
  46273,
  36291,
  29154,
  23254,
  18705,
  14949,
  11916,
  9548,
  7620,
  6100,
  4904,
  3906,
  3121,
  2501,
  1991,
  1586,
  1277,
  1024,
  820,
  655,
  526,
  423,
  335,
  272,
  215,
  172,
  137,
  110,
  87,
  70,
  56,
  45,
  36,
  29,
  23,
  18,
  15,
);

/** MIN_NICE, MAX_NICE (set_user_nice's range, kernel/sched.c v3.2). */
export const MIN_NICE = -20;
export const MAX_NICE = 19;

/** The load weight of a nice value: prio_to_weight[nice + 20] (set_load_weight). */
export function niceToWeight(nice: number): number {
  if (!Number.isInteger(nice) || nice < MIN_NICE || nice > MAX_NICE)
    throw new ModelError(`nice must be an integer in [${MIN_NICE}, ${MAX_NICE}], got ${nice}`);
  return PRIO_TO_WEIGHT[nice - MIN_NICE]!;
}

/**
 * calc_delta_mine(delta, weight, lw): delta × weight / lw.weight. The kernel multiplies by the
 * 2^32 fixed-point inverse (prio_to_wmult) and rounds (SRR); exact division rounded to the nearest
 * ns differs from it by at most 1 ns and keeps the model independent of 64-bit integer arithmetic.
 */
export function calcDeltaMine(delta: Ns, weight: number, load: number): Ns {
  return Math.round((delta * weight) / load);
}

/** calc_delta_fair: real time → vruntime at weight `weight` (identity at NICE_0_LOAD). */
export function calcDeltaFair(delta: Ns, weight: number): Ns {
  return weight === NICE_0_LOAD ? delta : calcDeltaMine(delta, NICE_0_LOAD, weight);
}

/** The scheduler tunables after sched_init_granularity → update_sysctl (kernel/sched.c, v3.2). */
export interface CfsTunables {
  /** sysctl_sched_latency: the period in which every runnable thread runs once (ns). */
  latency: Ns;
  /** sysctl_sched_min_granularity: the shortest slice, and __sched_period's per-thread step (ns). */
  minGranularity: Ns;
  /** sysctl_sched_wakeup_granularity: the vruntime lead a woken thread needs to preempt (ns). */
  wakeupGranularity: Ns;
  /** sched_nr_latency: threads that fit in one latency period. */
  nrLatency: number;
}

/**
 * get_update_sysctl_factor with sysctl_sched_tunable_scaling = SCHED_TUNABLESCALING_LOG (the
 * default, kernel/sched_fair.c v3.2): 1 + ilog2(min(online CPUs, 8)).
 */
export function sysctlFactor(ncpus: number): number {
  return 1 + (31 - Math.clz32(Math.min(ncpus, 8)));
}

/**
 * normalized_sysctl_sched_latency 6 ms, _min_granularity 0.75 ms, _wakeup_granularity 1 ms, each
 * times the factor (update_sysctl); sched_nr_latency = 8 is only recomputed on a sysctl write, and
 * DIV_ROUND_UP(latency, min_granularity) is 8 at any factor (kernel/sched_fair.c, v3.2).
 */
export function cfsTunables(ncpus: number): CfsTunables {
  const f = sysctlFactor(ncpus);
  return {
    latency: f * 6_000_000,
    minGranularity: f * 750_000,
    wakeupGranularity: f * 1_000_000,
    nrLatency: 8,
  };
}

/** A thread's sched_entity: the fields CFS reads and writes. */
export interface SchedEntity {
  /** se->load.weight. */
  weight: number;
  vruntime: Ns;
  sumExecRuntime: Ns;
  /** sum_exec_runtime when the entity was last picked (its slice so far is the difference). */
  prevSumExecRuntime: Ns;
}

/**
 * One vCPU's cfs_rq. The running entity (curr) is counted in nrRunning and load but, as in the
 * kernel, is not in the queue; the queue is kept sorted by vruntime, an entity going after those
 * with an equal one (__enqueue_entity walks right on ties), so the pick is deterministic. A sorted
 * array: a guest has a handful of threads per vCPU, and insertion shifts in place without allocating.
 */
export class CfsRq<E extends SchedEntity> {
  minVruntime: Ns = 0;
  nrRunning = 0;
  /** cfs_rq->load.weight: the sum of the weights of the entities on the rq, curr included. */
  load = 0;
  readonly queue: E[] = [];

  constructor(readonly tunables: CfsTunables) {}

  /** __pick_first_entity: the leftmost queued entity. */
  first(): E | undefined {
    return this.queue[0];
  }

  /** __enqueue_entity: into the queue only (account separately). */
  insert(se: E): void {
    const q = this.queue;
    let i = q.length;
    q.push(se);
    while (i > 0 && q[i - 1]!.vruntime > se.vruntime) {
      q[i] = q[i - 1]!;
      i--;
    }
    q[i] = se;
  }

  /** Takes the leftmost entity out of the queue (it becomes curr; it stays accounted). */
  popFirst(): E | undefined {
    return this.queue.shift();
  }

  /** account_entity_enqueue / account_entity_dequeue. */
  account(se: E, sign: 1 | -1): void {
    this.nrRunning += sign;
    this.load += sign * se.weight;
  }

  /** update_min_vruntime: monotonic, follows min(curr, leftmost). */
  updateMinVruntime(curr: E | null): void {
    let v = this.minVruntime;
    if (curr !== null) v = curr.vruntime;
    const left = this.queue[0];
    if (left !== undefined) v = curr === null ? left.vruntime : Math.min(v, left.vruntime);
    this.minVruntime = Math.max(this.minVruntime, v);
  }

  /** __sched_period: sched_latency, stretched to min_granularity × nr beyond sched_nr_latency. */
  schedPeriod(nr: number): Ns {
    const t = this.tunables;
    return nr > t.nrLatency ? t.minGranularity * nr : t.latency;
  }

  /** sched_slice: the entity's weighted share of the period (counted as if on the rq). */
  schedSlice(se: E, onRq: boolean): Ns {
    const slice = this.schedPeriod(this.nrRunning + (onRq ? 0 : 1));
    return calcDeltaMine(slice, se.weight, this.load + (onRq ? 0 : se.weight));
  }

  /**
   * place_entity: a new entity (initial) starts one vslice after min_vruntime (START_DEBIT); a
   * waking one at most sched_latency/2 before it (GENTLE_FAIR_SLEEPERS); never earlier than its own
   * vruntime. Call before the entity is accounted on the rq.
   */
  placeEntity(se: E, initial: boolean): void {
    let v = this.minVruntime;
    if (initial) v += calcDeltaFair(this.schedSlice(se, false), se.weight);
    else v -= this.tunables.latency >> 1;
    se.vruntime = Math.max(se.vruntime, v);
  }

  /**
   * check_preempt_tick: curr has run past its slice, or, after at least min_granularity, is ahead
   * of the leftmost by more than its slice.
   */
  tickPreempts(curr: E): boolean {
    if (this.nrRunning <= 1) return false; // entity_tick checks only with another runnable
    const ideal = this.schedSlice(curr, true);
    const deltaExec = curr.sumExecRuntime - curr.prevSumExecRuntime;
    if (deltaExec > ideal) return true;
    if (deltaExec < this.tunables.minGranularity) return false;
    const left = this.queue[0];
    if (left === undefined) return false;
    const delta = curr.vruntime - left.vruntime;
    return delta > ideal;
  }

  /**
   * wakeup_preempt_entity(curr, se) == 1: se is behind curr by more than the wake-up granularity,
   * converted to vruntime at se's weight (wakeup_gran).
   */
  wakeupPreempts(curr: E, se: E): boolean {
    const vdiff = curr.vruntime - se.vruntime;
    if (vdiff <= 0) return false;
    return vdiff > calcDeltaFair(this.tunables.wakeupGranularity, se.weight);
  }
}
