/**
 * Memory hogs and spikes: user processes that fault in anonymous memory and keep it (a hog) or free
 * it after a while (a spike). A hog may re-touch its footprint at a rate, as memhog's loop does, and
 * may be started again after the OOM killer kills it (a shell loop around memhog).
 */
import type { Mm } from "../mm/mm.ts";
import type { MmTask } from "../mm/task.ts";
import { type Kernel, type KernelCode, WaitQueue } from "../sched/kernel.ts";

/** Pages faulted per allocAnon call: the thread checks for its own kill between chunks. */
const FAULT_CHUNK = 256;
const NS_PER_SECOND = 1_000_000_000;

export interface HogSpec {
  /** Task and thread name. */
  name: string;
  cpu: number;
  /** Start time, ns. */
  at: number;
  pages: number;
  /** When a spike frees its memory, ns; -1 for a hog, which keeps it. */
  until: number;
  /** Pages re-touched per second once allocated (0: none). */
  touchRate: number;
  oomScoreAdj: number;
  /** Restart after an OOM kill: delay in ns and how many times (-1: always); null: never. */
  restart: { delay: number; count: number } | null;
}

/** A spec with memory only: kept until killed, never touched, no oom_score_adj, no restart. */
export function hogSpec(over: Pick<HogSpec, "name" | "cpu" | "at" | "pages"> & Partial<HogSpec>): HogSpec {
  return { until: -1, touchRate: 0, oomScoreAdj: 0, restart: null, ...over };
}

/** One hog or spike and its thread; `lives` lists its processes, the current one last. */
export class Hog {
  readonly lives: MmTask[] = [];
  /** Its sleep while it holds memory untouched: a kill wakes it to restart. */
  private readonly wait: WaitQueue;

  constructor(
    private readonly k: Kernel,
    private readonly mm: Mm,
    readonly spec: HogSpec,
  ) {
    this.wait = new WaitQueue(`${spec.name}_sigkill`);
    k.spawn(spec.name, spec.cpu, () => this.run());
  }

  /** Times the hog was started again after a kill. */
  get restarts(): number {
    return Math.max(this.lives.length - 1, 0);
  }

  private *run(): KernelCode {
    const { k, spec } = this;
    const tick = k.jiffies.tickNs;
    if (spec.at > k.now) yield k.sleepJiffies(Math.ceil((spec.at - k.now) / tick));
    for (;;) {
      const task = this.mm.registerTask(spec.name);
      task.oomScoreAdj = spec.oomScoreAdj;
      task.sigkill = this.wait;
      this.lives.push(task);
      yield* this.life(task);
      const r = spec.restart;
      if (!task.killed || r === null || (r.count >= 0 && this.restarts >= r.count)) return;
      yield k.sleepJiffies(Math.ceil(r.delay / tick));
    }
  }

  /** One process: fault in the pages, then hold (touching) or free them; returns when it ends. */
  private *life(task: MmTask): KernelCode {
    const { k, mm, spec } = this;
    const tick = k.jiffies.tickNs;
    for (let done = 0; done < spec.pages && !task.killed; done += FAULT_CHUNK) {
      yield* mm.allocAnon(task, Math.min(FAULT_CHUNK, spec.pages - done));
    }
    if (task.killed) return;
    if (spec.until >= 0) {
      if (spec.until > k.now) yield k.sleepJiffies(Math.ceil((spec.until - k.now) / tick));
      if (!task.killed) mm.freeAnon(task, task.anonPages.length);
      return;
    }
    if (spec.touchRate === 0) {
      while (!task.killed) yield k.waitOn(this.wait);
      return;
    }
    // touchRate pages per second, paced per jiffy; the remainder carries over in integer ns-pages.
    const perTick = spec.touchRate * tick;
    let owed = 0;
    let cursor = 0;
    while (!task.killed) {
      owed += perTick;
      const n = Math.floor(owed / NS_PER_SECOND);
      owed -= n * NS_PER_SECOND;
      cursor = yield* mm.touchAnon(task, cursor, n);
      yield k.sleepJiffies(1);
    }
  }
}
