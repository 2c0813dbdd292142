/**
 * Parameter sweeps: the cartesian product of `--grid` values × seeds, each point a full scenario run in
 * a worker thread, every finished run committed to a SQLite results store (store.ts) by this thread.
 *
 * Identity and resume. A campaign is identified by a hash of
 *   - the scenarioHash of the base resolved scenario (the source with the sweep's --set overrides),
 *   - the grid (axes by path, values sorted),
 *   - the package version, and
 *   - a hash of the model's source: every module that run.ts imports, transitively (sweep-identity.ts).
 * The git commit is recorded for people but is not part of the identity: a source hash also tells a
 * dirty checkout from its commit, works outside git (an installed package), and ignores commits that
 * touch only tests, docs, reports or the CLI. Seeds are not part of it either, so raising --seeds adds
 * runs to the same campaign. A point is (campaign, parameter assignment, seed); re-running a sweep runs
 * only the points its campaign lacks, and a changed scenario or model makes a new campaign. Workers
 * report the source hash of the code they loaded, and a sweep stops rather than store a run made by
 * other code than its campaign's (files edited on disk while it runs).
 *
 * Seeds: `--seeds N` runs seeds s, s+1, …, s+N−1 where s is the resolved scenario's `seed` (1 in the
 * presets, so 1..N); set another start with `--set seed=…`.
 *
 * Sharing a store: sweeps in several processes may run on one store at once (store.ts): each claims a
 * point before computing it and skips points another live sweep has claimed or finished, so every
 * point is computed once; a sweep killed mid-run leaves claims that the next sweep takes over.
 *
 * Determinism: a run's result depends only on its resolved scenario, so the store's rows (fingerprints,
 * summaries) are the same whatever --jobs is, apart from wall times and the order of run ids.
 */
import { availableParallelism, hostname } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Piscina } from "piscina";
import { ScenarioError, type ScenarioIssue } from "../scenario/errors.ts";
import { readScenario, scenarioHash } from "../scenario/load.ts";
import { parsePath } from "../scenario/overrides.ts";
import { isPresetName } from "../scenario/presets.ts";
import { formatPath } from "../scenario/walk.ts";
import {
  type GridAxis,
  gridAssignments,
  paramOverrides,
  parseGrid,
  type Shard,
  type SweepPoint,
  shardPoints,
  sweepPoints,
} from "./grid.ts";
import { resolveScenario } from "./run.ts";
import {
  type Campaign,
  type CampaignInfo,
  CLAIM_LEASE_MS,
  ResultStore,
  type RunRecord,
  runKey,
  type StoredRun,
} from "./store.ts";
import { campaignKey, codeIdentity } from "./sweep-identity.ts";
import type { RunTask, TaskResult } from "./worker.ts";
import { workerPool } from "./bundle.ts";

export interface SweepOptions {
  /** A preset name or a scenario file. */
  scenario: string;
  /** `path=v1,v2,…` axes. */
  grid?: readonly string[];
  /** `path=value` overrides applied to every point before its grid values. */
  set?: readonly string[];
  /** How many seeds per point (default 1). */
  seeds?: number;
  /** Worker threads (default: the machine's available parallelism). */
  jobs?: number;
  /** The results store file. */
  store: string;
  /** Run only this shard of the points. */
  shard?: Shard;
  /** Run failed points again (by default a failed run counts as done: it failed deterministically). */
  retryFailed?: boolean;
  /** Called once the plan is known and before any run starts. */
  onStart?: (s: SweepStart) => void;
  /** Called after each run is committed. */
  onRun?: (p: SweepProgress, r: RunRecord) => void;
}

export interface SweepPlan {
  campaign: CampaignInfo;
  axes: GridAxis[];
  seeds: number[];
  /** This shard's points in canonical order (all points without a shard). */
  points: SweepPoint[];
  /** Points of the whole sweep, before sharding. */
  totalPoints: number;
  /** Raw scenario and origin, as the workers resolve it. */
  raw: unknown;
  origin: string;
}

export interface SweepStart {
  plan: SweepPlan;
  campaign: Campaign;
  /** True when this sweep created the campaign in the store. */
  newCampaign: boolean;
  /** Points of this shard already in the store. */
  alreadyDone: number;
  /** Points to run now. */
  todo: number;
  jobs: number;
}

export interface SweepProgress {
  done: number;
  total: number;
  failed: number;
  /** Points left to other sweeps on the same store: finished or claimed by them meanwhile. */
  skipped: number;
}

export interface SweepResult extends SweepProgress {
  campaign: Campaign;
  alreadyDone: number;
  jobs: number;
  wallMs: number;
}

// ---- Planning ----

function pathOf(assignment: string): string {
  const eq = assignment.indexOf("=");
  const path = parsePath((eq < 0 ? assignment : assignment.slice(0, eq)).trim());
  return path === undefined ? assignment : formatPath(path);
}

/**
 * Reads the scenario, parses the grid and resolves every parameter assignment once, so that a bad path
 * or value anywhere in the grid is a ScenarioError before anything runs.
 */
export function planSweep(opts: Omit<SweepOptions, "jobs" | "store" | "onStart" | "onRun">): SweepPlan {
  const axes = parseGrid(opts.grid ?? []);
  const sets = [...(opts.set ?? [])];
  const seedCount = opts.seeds ?? 1;
  if (!Number.isInteger(seedCount) || seedCount < 1) {
    throw new ScenarioError([{ path: "--seeds", value: seedCount, message: "must be a whole number ≥ 1" }]);
  }
  const clashes: ScenarioIssue[] = sets
    .filter((s) => axes.some((a) => a.path === pathOf(s)))
    .map((s) => ({ path: pathOf(s), value: s, message: "is given by both --set and --grid" }));
  if (clashes.length > 0) throw new ScenarioError(clashes, "in the sweep");

  const { raw, origin } = readScenario(opts.scenario);
  const base = resolveScenario({ raw, origin }, { set: sets });
  const issues = new Map<string, ScenarioIssue>();
  for (const params of gridAssignments(axes)) {
    try {
      resolveScenario({ raw, origin }, { set: [...sets, ...paramOverrides(params)] });
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      for (const i of e.issues) issues.set(`${i.path}\0${i.message}`, i);
    }
  }
  if (issues.size > 0) throw new ScenarioError([...issues.values()], `${origin} with the sweep grid`);

  const seeds = Array.from({ length: seedCount }, (_, i) => base.seed + i);
  const all = sweepPoints(axes, seeds);
  const code = codeIdentity();
  const info = {
    scenarioName: base.name,
    source: isPresetName(opts.scenario) ? opts.scenario : resolve(opts.scenario),
    scenarioHash: scenarioHash(base),
    scenarioRaw: raw,
    sets,
    grid: axes,
    ...code,
  };
  return {
    campaign: { key: campaignKey(info), ...info },
    axes,
    seeds,
    points: shardPoints(all, opts.shard),
    totalPoints: all.length,
    raw,
    origin,
  };
}

// ---- Running ----

/** A worker loaded other model code than the campaign's: the files changed on disk during the sweep. */
export class SourceChangedError extends Error {
  override name = "SourceChangedError";
}

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

/** A pool of `threads` workers that run RunTasks. */
export function createRunPool(threads: number): Promise<Piscina<RunTask, TaskResult>> {
  return workerPool<RunTask, TaskResult>(WORKER, threads);
}

export function taskOf(plan: Pick<SweepPlan, "raw" | "origin" | "campaign">, p: SweepPoint): RunTask {
  return {
    raw: plan.raw,
    origin: plan.origin,
    set: [...plan.campaign.sets, ...paramOverrides(p.params)],
    seed: p.seed,
    point: p.key,
  };
}

/** This process as a claim owner. */
export function claimOwner(): string {
  return `${hostname()}:${process.pid}`;
}

/** Whether a claim's owner may still be running: a process on another host is trusted to its lease. */
export function ownerAlive(owner: string): boolean {
  const colon = owner.lastIndexOf(":");
  if (owner.slice(0, colon) !== hostname()) return true;
  try {
    process.kill(Number(owner.slice(colon + 1)), 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface RunPlanOptions extends Pick<SweepOptions, "jobs" | "retryFailed" | "onStart" | "onRun"> {
  /** A pool of `jobs` threads to use (and keep) instead of a new one, e.g. warmed up by a benchmark. */
  pool?: Piscina<RunTask, TaskResult>;
}

/**
 * Runs the points of `plan` that `store` lacks on `jobs` workers and commits each as it finishes. A
 * worker that dies (not a model error: those are failed runs) stops the sweep after the runs in flight.
 */
export async function runPlan(
  plan: SweepPlan,
  store: ResultStore,
  opts: RunPlanOptions,
): Promise<SweepResult> {
  const start = performance.now();
  const newCampaign = store.campaignByKey(plan.campaign.key) === undefined;
  const campaign = store.ensureCampaign(plan.campaign);
  const done = store.doneKeys(campaign.id, opts.retryFailed === true);
  const todo = plan.points.filter((p) => !done.has(runKey(p.key, p.seed)));
  const jobs = Math.max(1, Math.min(opts.jobs ?? availableParallelism(), todo.length));
  const progress: SweepProgress = { done: 0, total: todo.length, failed: 0, skipped: 0 };
  opts.onStart?.({
    plan,
    campaign,
    newCampaign,
    alreadyDone: plan.points.length - todo.length,
    todo: todo.length,
    jobs,
  });
  if (todo.length > 0) {
    const pool = opts.pool ?? (await createRunPool(jobs));
    const owner = claimOwner();
    const renew = setInterval(() => store.renewClaims(owner), CLAIM_LEASE_MS / 4);
    renew.unref();
    let next = 0;
    let crash: unknown;
    const slot = async (): Promise<void> => {
      while (crash === undefined && next < todo.length) {
        const point = todo[next++]!;
        if (!store.claim(campaign.id, point.key, point.seed, owner, opts.retryFailed === true, ownerAlive)) {
          progress.skipped++;
          continue;
        }
        let result: TaskResult;
        try {
          result = await pool.run(taskOf(plan, point));
        } catch (e) {
          crash ??= e;
          return;
        }
        if (result.sourceHash !== campaign.sourceHash) {
          crash ??= new SourceChangedError(
            `the model's source changed on disk during the sweep (${campaign.sourceHash} → ${result.sourceHash}); ` +
              "run the sweep again to start a campaign for the new code",
          );
          return;
        }
        const record = result.record;
        store.insertRun(campaign.id, record);
        progress.done++;
        if (record.status === "failed") progress.failed++;
        opts.onRun?.({ ...progress }, record);
      }
    };
    try {
      await Promise.all(Array.from({ length: jobs }, slot));
    } finally {
      clearInterval(renew);
      store.releaseClaims(owner);
      if (opts.pool === undefined) await pool.destroy();
    }
    if (crash !== undefined) throw crash;
  }
  return {
    ...progress,
    campaign,
    alreadyDone: plan.points.length - todo.length,
    jobs,
    wallMs: performance.now() - start,
  };
}

/** planSweep + runPlan on the store file named in the options. */
export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  const plan = planSweep(opts);
  const store = ResultStore.open(opts.store);
  try {
    return await runPlan(plan, store, opts);
  } finally {
    store.close();
  }
}

// ---- Reproduction ----

/** The `vnetlab run` argv (without the program name) that reproduces one stored run. */
export function reproduceArgs(campaign: CampaignInfo, run: Pick<StoredRun, "params" | "seed">): string[] {
  // `--seed` gives the run's seed; a `--set seed=` start would conflict with it.
  const sets = [...campaign.sets, ...paramOverrides(run.params)].filter((s) => !/^\s*seed\s*=/.test(s));
  return ["run", campaign.source, ...sets.flatMap((s) => ["--set", s]), "--seed", String(run.seed)];
}
