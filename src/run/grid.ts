/**
 * Sweep grids: `--grid path=v1,v2,…` axes, their cartesian product with seeds, the identity of a
 * point, and the deterministic split of the points into shards for cluster array jobs.
 *
 * A grid value is the text of a `--set` value (YAML), so `guest.memory=128MiB,256MiB` sweeps memory
 * and `guest.driver.version=v3.2,patch1` sweeps the driver. Commas inside brackets, braces or quotes do
 * not split, so a list value such as `[1, 2]` is one value.
 */
import { ScenarioError, type ScenarioIssue } from "../scenario/errors.ts";
import { canonicalJson } from "../scenario/load.ts";
import { parsePath } from "../scenario/overrides.ts";
import { formatPath } from "../scenario/walk.ts";

/** Bad sweep input that is not a scenario field (a shard spec, stores of different campaigns): exit 2. */
export class SweepUsageError extends Error {
  override name = "UsageError";
}

export interface GridAxis {
  /** Canonical path, e.g. "network.senders[0].rtt". */
  path: string;
  /** Value texts in the order given. */
  values: string[];
}

/** One parameter assignment: canonical path → value text. */
export type Params = Readonly<Record<string, string>>;

export interface SweepPoint {
  params: Params;
  seed: number;
  /** Canonical JSON of params (keys sorted): the point's identity within a campaign, with the seed. */
  key: string;
}

/** Splits "a,b,[1, 2],'x,y'" at top-level commas. */
function splitValues(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote !== null) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "[" || ch === "{") depth++;
    else if (ch === "]" || ch === "}") depth--;
    else if (ch === "," && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(text.slice(start).trim());
  return out;
}

/**
 * Parses `--grid` arguments into axes with canonical paths. Throws ScenarioError naming every bad
 * argument: no "=", a malformed path, an empty or repeated value, a path given twice, or `seed` (which
 * `--seeds` sweeps). Whether a path exists and a value is valid is checked when points resolve.
 */
export function parseGrid(args: readonly string[]): GridAxis[] {
  const issues: ScenarioIssue[] = [];
  const axes: GridAxis[] = [];
  for (const arg of args) {
    const eq = arg.indexOf("=");
    const pathText = eq < 0 ? arg : arg.slice(0, eq).trim();
    const path = parsePath(pathText);
    if (eq < 0 || path === undefined || path.length === 0) {
      issues.push({
        path: pathText,
        value: undefined,
        message: "--grid expects path=v1,v2,…, e.g. guest.driver.version=v3.2,patch1",
      });
      continue;
    }
    const canonical = formatPath(path);
    const values = splitValues(arg.slice(eq + 1));
    const problem =
      canonical === "seed"
        ? "is swept by --seeds, not --grid"
        : axes.some((a) => a.path === canonical)
          ? "is given by more than one --grid"
          : values.some((v) => v === "")
            ? "has an empty value; write values separated by commas"
            : new Set(values).size !== values.length
              ? "lists a value twice"
              : undefined;
    if (problem !== undefined) {
      issues.push({ path: canonical, value: arg.slice(eq + 1), message: problem });
      continue;
    }
    axes.push({ path: canonical, values });
  }
  if (issues.length > 0) throw new ScenarioError(issues, "in --grid");
  return axes;
}

/** The grid as it enters a campaign's identity: axes by path, values sorted (order is presentation). */
export function canonicalGrid(axes: readonly GridAxis[]): GridAxis[] {
  return [...axes]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((a) => ({ path: a.path, values: [...a.values].sort() }));
}

/** Every assignment of one value per axis (the first axis varies slowest); [{}] for no axes. */
export function gridAssignments(axes: readonly GridAxis[]): Params[] {
  let out: Record<string, string>[] = [{}];
  for (const axis of axes) out = out.flatMap((p) => axis.values.map((v) => ({ ...p, [axis.path]: v })));
  return out;
}

export function pointKey(params: Params): string {
  return canonicalJson(params);
}

/** `path=value` override strings for a point, in canonical path order. */
export function paramOverrides(params: Params): string[] {
  return Object.keys(params)
    .sort()
    .map((p) => `${p}=${params[p]}`);
}

/**
 * All points of a sweep in canonical order: by seed, then by point key. The order does not depend on
 * the order of the --grid flags or of their values, so every shard of an array job sees the same list.
 */
export function sweepPoints(axes: readonly GridAxis[], seeds: readonly number[]): SweepPoint[] {
  const keyed = gridAssignments(axes)
    .map((params) => ({ params, key: pointKey(params) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return [...seeds].sort((a, b) => a - b).flatMap((seed) => keyed.map((p) => ({ ...p, seed })));
}

export interface Shard {
  /** 1-based: shard `index` of `count`. */
  index: number;
  count: number;
}

/** "2/3" → { index: 2, count: 3 } (1-based, as Playwright's and pytest-split's shards). */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (m === null || count < 1 || index < 1 || index > count) {
    throw new SweepUsageError(`--shard must be i/n with 1 ≤ i ≤ n (e.g. 2/3), got "${text}"`);
  }
  return { index, count };
}

/** Where the shard was read from, for messages. */
export interface DetectedShard extends Shard {
  from: string;
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new SweepUsageError(`${name} must be a whole number, got "${v}"`);
  return n;
}

/**
 * The shard of a cluster array task, or undefined outside one. Both schedulers give a 0-based task index
 * (shard index + 1) and the count comes from VNETLAB_SHARD_COUNT:
 * - Slurm job arrays (sbatch --array=0-(N−1)): SLURM_ARRAY_TASK_ID. Slurm's SLURM_ARRAY_TASK_COUNT,
 *   _MIN and _MAX describe only the tasks of one submission, so a task resubmitted alone
 *   (`sbatch --array=3`) sees count 1 and would silently run the whole sweep; the count must be given.
 * - Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX; the manifest sets VNETLAB_SHARD_COUNT to the Job's
 *   spec.completions (Kubernetes exports the index but not the count).
 */
export function shardFromEnv(env: NodeJS.ProcessEnv = process.env): DetectedShard | undefined {
  for (const [from, hint] of [
    ["SLURM_ARRAY_TASK_ID", "the number of shards, with array indices 0..count−1"],
    ["JOB_COMPLETION_INDEX", "the Job's spec.completions"],
  ] as const) {
    const taskIndex = envInt(env, from);
    if (taskIndex === undefined) continue;
    const count = envInt(env, "VNETLAB_SHARD_COUNT");
    if (count === undefined)
      throw new SweepUsageError(`${from} is set but VNETLAB_SHARD_COUNT is not; set it to ${hint}`);
    return checked({ index: taskIndex + 1, count, from });
  }
  return undefined;
}

function checked(s: DetectedShard): DetectedShard {
  if (s.count < 1 || s.index > s.count) {
    throw new SweepUsageError(
      `${s.from} = ${s.index - 1} with VNETLAB_SHARD_COUNT = ${s.count}: task indices must be 0..${s.count - 1}`,
    );
  }
  return s;
}

/** The points of one shard: every count-th point of the canonical order, starting at index − 1. */
export function shardPoints<T>(points: readonly T[], shard: Shard | undefined): T[] {
  if (shard === undefined) return [...points];
  return points.filter((_, i) => i % shard.count === shard.index - 1);
}
