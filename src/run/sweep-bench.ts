/**
 * The sweep benchmark: throughput of CPU-bound runs through the whole sweep machinery (worker pool,
 * single-writer SQLite store) with `--jobs 2` against `--jobs 1`, and a check that both stores hold the
 * same fingerprints.
 *
 * Bench suites are synchronous and a worker pool needs an event loop, so benchSweep measures in a child
 * process (this file run as a script, from its bundle as the CLI runs) and reads its JSON; the child
 * also keeps the measurement clear of whatever the other suites left in this process's heap and JIT.
 * Steady-state throughput is measured: each pool starts, loads its workers and runs two warm-up runs
 * per thread before any clock starts.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchRow } from "../bench/index.ts";
import { LAUNCH } from "./bundle.ts";
import { ResultStore } from "./store.ts";
import { createRunPool, planSweep, runPlan, taskOf } from "./sweep.ts";

const SELF = fileURLToPath(import.meta.url);

/** iperf-lowmem shortened: one bulk flow against a memory hog, about a second of CPU per run here. */
const SCENARIO = "iperf-lowmem";
const SETS = (quick: boolean) => [
  `duration=${quick ? "300ms" : "3s"}`,
  "warmup=100ms",
  "apps.memoryHogs[0].at=50ms",
];

type Pool = Awaited<ReturnType<typeof createRunPool>>;

/**
 * A pool of `jobs` threads whose workers have loaded the model and run it twice, so V8 has optimised
 * the hot code (a cold first run of the e2e scenario takes up to twice as long as a warm one).
 */
async function warmPool(jobs: number, set: string[]): Promise<Pool> {
  const pool = await createRunPool(jobs);
  // Seeds far past the measured ones; rounds of `jobs` concurrent tasks reach every thread.
  const warm = planSweep({ scenario: SCENARIO, set: [...set, "seed=1000"], seeds: jobs });
  for (let round = 0; round < 2; round++)
    await Promise.all(warm.points.map((p) => pool.run(taskOf(warm, p))));
  return pool;
}

/** Runs/s of one sweep of `runs` seeds into a fresh store, and its "seed:fingerprint" list. */
async function measure(pool: Pool, jobs: number, runs: number, set: string[], store: string) {
  const plan = planSweep({ scenario: SCENARIO, set, seeds: runs });
  const s = ResultStore.open(store);
  try {
    const start = performance.now();
    const r = await runPlan(plan, s, { jobs, pool });
    const seconds = (performance.now() - start) / 1e3;
    if (r.failed > 0) throw new Error(`${r.failed} benchmark runs failed`);
    const fingerprints = s.runs(r.campaign.id).map((x) => `${x.seed}:${x.fingerprint}`);
    return { runsPerSecond: runs / seconds, fingerprints: fingerprints.sort().join() };
  } finally {
    s.close();
  }
}

/**
 * Alternates --jobs 1 and --jobs 2 sweeps `rounds` times and keeps each one's best rate, so a burst of
 * load from other processes on this shared machine penalises neither side more than the other.
 */
async function child(quick: boolean): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "vnetlab-sweep-bench-"));
  const set = SETS(quick);
  const runs = quick ? 4 : 8;
  const rounds = quick ? 1 : 3;
  const pools = [await warmPool(1, set), await warmPool(2, set)];
  try {
    const best = [0, 0];
    const prints = new Set<string>();
    for (let round = 0; round < rounds; round++) {
      for (const [i, pool] of pools.entries()) {
        const m = await measure(pool, i + 1, runs, set, join(dir, `r${round}-j${i + 1}.sqlite`));
        best[i] = Math.max(best[i]!, m.runsPerSecond);
        prints.add(m.fingerprints);
      }
    }
    if (prints.size !== 1)
      throw new Error(`sweeps of the same points stored different fingerprints: ${[...prints]}`);
    return [
      {
        suite: "sweep",
        name: `${runs} runs of ${SCENARIO} (${set[0]}), --jobs 2 vs --jobs 1, best of ${rounds}`,
        eventsPerSecond: best[1]!,
        baselineEventsPerSecond: best[0]!,
        ratio: best[1]! / best[0]!,
        unit: "runs/s",
      },
    ];
  } finally {
    for (const p of pools) await p.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sweep throughput rows (see the file comment); `quick` shrinks the runs for smoke tests. */
export function benchSweep(quick = false): BenchRow[] {
  const r = spawnSync(process.execPath, [LAUNCH, SELF, ...(quick ? ["--quick"] : [])], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0) throw new Error(`sweep benchmark child failed (${r.status ?? r.signal})`);
  return JSON.parse(r.stdout) as BenchRow[];
}

if (process.argv[1] === SELF) {
  process.stdout.write(JSON.stringify(await child(process.argv.includes("--quick"))));
}
