/**
 * `vnetlab merge`: combine the stores of a sharded sweep (one per array task) into one. The inputs must
 * hold the same campaigns (same identity: scenario, grid, code), or the merge is refused. A run present
 * in several inputs is kept once; two successful runs of one point with different fingerprints mean
 * the model was not deterministic, and the merge fails rather than pick one.
 *
 * Corrupt rows (see store.ts) are refused, all of them named, rather than copied.
 *
 * The output is built in a temporary file beside it and renamed into place, so it appears whole or not
 * at all; an existing output is never overwritten.
 */
import { existsSync, rmSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { removeStaleTemps, tempPrefix } from "../report/write.ts";
import { SweepUsageError } from "./grid.ts";
import { CorruptRowError, ResultStore, runKey } from "./store.ts";

export interface MergeResult {
  campaigns: number;
  runs: number;
  /** Runs found in more than one input and kept once. */
  duplicates: number;
}

export class MergeConflictError extends Error {
  override name = "MergeConflictError";
}

/** SQLite's side files of a database; a stale -wal would be replayed into a new file of the same name. */
function sideFiles(path: string): string[] {
  return [`${path}-wal`, `${path}-shm`, `${path}-journal`];
}

export function mergeStores(inputs: readonly string[], output: string): MergeResult {
  if (inputs.length === 0) throw new SweepUsageError("merge needs at least one store");
  if (existsSync(output))
    throw new SweepUsageError(`${output} exists; merge writes a new file (remove it or choose another -o)`);
  const stores: ResultStore[] = [];
  removeStaleTemps(output);
  const temp = join(dirname(output), `${tempPrefix(output)}tmp`);
  try {
    for (const path of inputs) stores.push(ResultStore.open(path, { mustExist: true }));
    const keysOf = (s: ResultStore) =>
      s
        .campaigns()
        .map((c) => c.key)
        .sort()
        .join(", ");
    const expected = keysOf(stores[0]!);
    if (expected === "") throw new SweepUsageError(`${inputs[0]} holds no campaign`);
    const corrupt: string[] = [];
    for (const s of stores) {
      for (const c of s.campaigns()) {
        for (const run of s.runs(c.id)) {
          try {
            s.summary(run);
          } catch (e) {
            if (!(e instanceof CorruptRowError)) throw e;
            corrupt.push(`  ${e.message}`);
          }
        }
      }
    }
    if (corrupt.length > 0) {
      throw new CorruptRowError(
        `refusing to merge ${corrupt.length} corrupt run${corrupt.length === 1 ? "" : "s"} ` +
          `(re-run their sweep on that store to replace them):\n${corrupt.slice(0, 20).join("\n")}` +
          (corrupt.length > 20 ? `\n  … and ${corrupt.length - 20} more` : ""),
      );
    }
    const differing = stores.filter((s) => keysOf(s) !== expected);
    if (differing.length > 0) {
      const list = stores.map((s) => `  ${s.path}: ${keysOf(s) || "none"}`).join("\n");
      throw new SweepUsageError(
        `the stores hold different campaigns (scenario, grid or code differ); refusing to merge:\n${list}`,
      );
    }

    for (const f of [temp, ...sideFiles(temp)]) rmSync(f, { force: true });
    const out = ResultStore.open(temp);
    let runs = 0;
    let duplicates = 0;
    try {
      for (const c of stores[0]!.campaigns()) {
        const target = out.ensureCampaign(c, c.createdAt);
        const kept = new Map<string, { status: string; fingerprint: string | null; from: string }>();
        for (const s of stores) {
          for (const run of s.runs(s.campaignByKey(c.key)!.id)) {
            const k = runKey(run.point, run.seed);
            const prev = kept.get(k);
            if (prev !== undefined) {
              duplicates++;
              if (prev.status === "ok" && run.status === "ok" && prev.fingerprint !== run.fingerprint) {
                throw new MergeConflictError(
                  `point ${run.point} seed ${run.seed} of campaign ${c.key} has fingerprint ${prev.fingerprint} in ` +
                    `${prev.from} but ${run.fingerprint} in ${s.path}: the runs were not deterministic`,
                );
              }
              if (prev.status === "ok" || run.status === "failed") continue;
            } else runs++;
            kept.set(k, { status: run.status, fingerprint: run.fingerprint, from: s.path });
            out.insertRun(target.id, s.record(run), run.finishedAt);
          }
        }
      }
    } finally {
      out.close();
    }
    for (const f of sideFiles(output)) rmSync(f, { force: true });
    renameSync(temp, output);
    return { campaigns: stores[0]!.campaigns().length, runs, duplicates };
  } finally {
    for (const s of stores) s.close();
    for (const f of [temp, ...sideFiles(temp)]) rmSync(f, { force: true });
  }
}
