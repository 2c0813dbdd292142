/**
 * Synthetic sweep results for the sweep report's tests: every grid point × seed gets a synthetic run
 * (fixtures.ts) whose goodput is a known function of the point, so aggregates can be checked exactly.
 */

import { type GridAxis, gridAssignments } from "../run/grid.ts";
import type { CampaignInfo } from "../run/store.ts";
import { syntheticCompare } from "./fixtures.ts";
import { DRIVER_PATH, type SweepReportInput, type SweepReportRun } from "./sweep.ts";

/** Goodput of a synthetic run, bit/s: grows with each axis's value index and the seed. */
export function syntheticGoodputBps(indexes: readonly number[], seed: number): number {
  return (100 + indexes.reduce((a, i, k) => a + (k + 1) * 25 * i, 0) + 3 * seed) * 1e6;
}

export function syntheticSweep(grid: GridAxis[], seeds: readonly number[], failures = 0): SweepReportInput {
  const drivers = grid.find((a) => a.path === DRIVER_PATH)?.values ?? ["v3.2"];
  const template = syntheticCompare({ drivers, seeds: [...seeds], points: 20, notInLinux: drivers.slice(2) });
  const campaign: CampaignInfo = {
    key: "5ee0c0ffee5ee0c0",
    scenarioName: "synthetic",
    source: "seed-torrent",
    scenarioHash: "0123456789abcdef",
    scenarioRaw: {},
    sets: ["duration=20s"],
    grid,
    packageVersion: "0.1.0",
    gitCommit: null,
    sourceHash: "fedcba9876543210",
  };
  let id = 0;
  const runs: SweepReportRun[] = gridAssignments(grid).flatMap((params) =>
    seeds.map((seed) => {
      id++;
      const driver = params[DRIVER_PATH] ?? "v3.2";
      const base = template.runs.find((r) => r.driver === driver && r.seed === seed)!;
      const indexes = grid.map((a) => a.values.indexOf(params[a.path]!));
      const failed = id <= failures;
      return {
        id,
        params,
        seed,
        status: failed ? "failed" : "ok",
        error: failed ? "ModelError: synthetic failure\n    at somewhere" : null,
        summary: failed ? undefined : { ...base, goodputBps: syntheticGoodputBps(indexes, seed) },
      };
    }),
  );
  return { campaign, runs, storePath: "synthetic.sqlite" };
}
