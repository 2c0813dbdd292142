/**
 * A small simulated guest for tests and benchmarks: a Simulator, a Kernel and an Mm, and a helper
 * running kernel code in a thread while recording when it finished and what it returned.
 */
import { Simulator } from "../../sim/simulator.ts";
import type { Ns } from "../../sim/time.ts";
import { Kernel, type KernelCode } from "../sched/kernel.ts";
import { GFP_ATOMIC } from "./gfp.ts";
import { Mm, type MmOptions } from "./mm.ts";
import { OWNER_SKB } from "./page-table.ts";

export interface MmFixture {
  sim: Simulator;
  k: Kernel;
  mm: Mm;
}

/** 1 vCPU at HZ 250 unless told otherwise. */
export function mmFixture(opts: MmOptions, kernel: { vcpus?: number; hz?: number } = {}): MmFixture {
  const sim = new Simulator({ seed: 1 });
  const k = new Kernel(sim, { vcpus: kernel.vcpus ?? 1, hz: kernel.hz ?? 250 });
  return { sim, k, mm: new Mm(k, opts) };
}

export interface ThreadResult<T> {
  done: boolean;
  value: T | undefined;
  /** Simulated time the body returned. */
  at: Ns;
}

/** Spawns a thread on vCPU 0 running `body`; the returned record fills in when it returns. */
export function runInThread<T>(k: Kernel, name: string, body: () => KernelCode<T>): ThreadResult<T> {
  const r: ThreadResult<T> = { done: false, value: undefined, at: -1 };
  k.spawn(name, 0, function* () {
    r.value = yield* body();
    r.done = true;
    r.at = k.now;
  });
  return r;
}

/** At `at`, an interrupt on vCPU 0 takes GFP_ATOMIC pages until the allocator refuses (a receive burst). */
export function exhaustAtomicAt({ sim, k, mm }: MmFixture, at: Ns): void {
  const ev = sim.register("test.rx", () => {
    k.hardirq(0, () => {
      while (mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) >= 0);
    });
  });
  sim.at(at, ev);
}
