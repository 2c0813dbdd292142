/**
 * compare on worker threads: the same plan and results as compare() (runs are independent and
 * deterministic, so the thread a run lands on changes nothing but wall time), in plan order.
 */
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import type { Piscina } from "piscina";
import type { CompareOutcome, CompareTask } from "./compare-worker.ts";
import { type CompareOptions, resolveScenario, type ScenarioSource } from "./run.ts";
import type { CompareResult } from "./types.ts";
import { rebuildError } from "./worker-errors.ts";
import { workerPool } from "./bundle.ts";

const WORKER = fileURLToPath(new URL("./compare-worker.ts", import.meta.url));

export interface ParallelCompareOptions
  extends Omit<CompareOptions, "onProgress" | "permuteTies" | "checkInvariants"> {
  /** Worker threads (default: the machine's parallelism). */
  jobs?: number;
  /** A pool shared with other compares (comparePool; the caller destroys it); jobs is then unused. */
  pool?: ComparePool;
}

export type ComparePool = Piscina<CompareTask, CompareOutcome>;

/**
 * Worker threads for compare runs, at most `tasks` of them. Compares sharing one queue their runs in
 * the order they were started, so one compare's last runs overlap the next one's first (npm start's
 * two presets) and the workers load the model once.
 */
export function comparePool(jobs: number | undefined, tasks: number): Promise<ComparePool> {
  const threads = Math.max(1, Math.min(jobs ?? availableParallelism(), tasks));
  return workerPool<CompareTask, CompareOutcome>(WORKER, threads);
}

export async function compareParallel(
  source: ScenarioSource,
  opts: ParallelCompareOptions,
): Promise<CompareResult> {
  const base = resolveScenario(source, opts);
  const seeds = opts.seeds ?? [base.seed];
  const resolve = {
    ...(opts.set !== undefined && { set: opts.set }),
    ...(opts.duration !== undefined && { duration: opts.duration }),
  };
  const tasks: CompareTask[] = opts.drivers.flatMap((driver) =>
    seeds.map((seed) => ({
      source,
      resolve: { ...resolve, driver, seed },
      ...(opts.budget !== undefined && { budget: opts.budget }),
    })),
  );
  // Validate every point before anything runs: a bad driver name is a usage error, not a worker crash.
  for (const t of tasks) resolveScenario(t.source, t.resolve);
  const pool = opts.pool ?? (await comparePool(opts.jobs, tasks.length));
  let done = 0;
  try {
    const runs = await Promise.all(
      tasks.map(async (t) => {
        const outcome = await pool.run(t);
        if ("error" in outcome) throw rebuildError(outcome.error);
        const r = outcome.summary;
        opts.onRun?.(++done, tasks.length, r);
        return r;
      }),
    );
    return { scenario: base.name, drivers: [...opts.drivers], seeds: [...seeds], runs };
  } finally {
    if (opts.pool === undefined) await pool.destroy();
  }
}
