/**
 * Sweeps of real (half-second) runs: validation before anything runs, campaign identity, missing-only
 * resume, results independent of --jobs, and 3 shards + merge equal to the unsharded sweep.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, test } from "vitest";
import { ScenarioError } from "../scenario/errors.ts";
import { mergeStores } from "./store-merge.ts";
import { ResultStore } from "./store.ts";
import { planSweep, runSweep } from "./sweep.ts";
import { campaignKey, codeIdentity, moduleGraph } from "./sweep-identity.ts";
import { comparableRows, SMALL_GRID, scenarioDir } from "./sweep-testing.ts";

const dir = scenarioDir();
const scenario = join(dir, "small.yaml");
const base = { scenario, grid: SMALL_GRID, seeds: 2 };

describe("planning", () => {
  test("a bad path or value anywhere in the grid is a ScenarioError naming it", () => {
    const bad = (grid: string[], set: string[] = []) => {
      try {
        planSweep({ scenario, grid, set });
      } catch (e) {
        expect(e).toBeInstanceOf(ScenarioError);
        return (e as ScenarioError).issues.map((i) => `${i.path}: ${i.message}`);
      }
      throw new Error("expected the plan to fail");
    };
    expect(bad(["guest.memroy=128MiB"])[0]).toMatch(/unknown key "memroy" \(did you mean "memory"\?\)/);
    expect(bad(["guest.driver.version=v3.2,nonsense"])[0]).toMatch(/^guest\.driver\.version: /);
    expect(bad(["network.senders[0].loss=0.1,2"])[0]).toMatch(/^network\.senders\[0\]\.loss: /);
    expect(bad(["guest.memory=128MiB"], ["guest.memory=64MiB"])[0]).toMatch(/both --set and --grid/);
    // Every combination is checked: each value is valid in some point, warm-up 500ms with 300ms is not.
    expect(bad(["duration=300ms,1s", "warmup=100ms,500ms"])).toEqual([
      "warmup: must be below duration (300ms)",
    ]);
  });

  test("seeds count up from the scenario's seed; points are grid × seeds", () => {
    const plan = planSweep({ ...base, seeds: 3, set: ["seed=7"] });
    expect(plan.seeds).toEqual([7, 8, 9]);
    expect(plan.points).toHaveLength(12);
    expect(plan.totalPoints).toBe(12);
    expect(planSweep({ ...base, shard: { index: 2, count: 5 } }).points).toHaveLength(2);
  });

  test("the campaign is the same for reordered flags and more seeds, new for a changed scenario or code", () => {
    const key = planSweep(base).campaign.key;
    expect(planSweep({ ...base, grid: [...SMALL_GRID].reverse(), seeds: 5 }).campaign.key).toBe(key);
    expect(planSweep({ ...base, set: ["duration=400ms"] }).campaign.key).not.toBe(key);
    expect(planSweep({ ...base, grid: [SMALL_GRID[0]!] }).campaign.key).not.toBe(key);
    const c = planSweep(base).campaign;
    expect(campaignKey({ ...c, sourceHash: "0000000000000000" })).not.toBe(key);
    expect(campaignKey({ ...c, packageVersion: "9.9.9" })).not.toBe(key);
  });

  test("the source hash covers the model's modules and not the sweep's or the tests'", () => {
    const files = moduleGraph(join(import.meta.dirname, "run.ts")).map((f) => f.split("/src/")[1]);
    expect(files).toContain("run/run.ts");
    expect(files).toContain("sim/simulator.ts");
    expect(files).toContain("guest/net/virtio_net/versions/index.ts");
    expect(files.filter((f) => /\.test\.ts$|sweep|store|cli\//.test(f!))).toEqual([]);
    expect(codeIdentity().sourceHash).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe("running", () => {
  const one = join(dir, "jobs1.sqlite");
  const two = join(dir, "jobs2.sqlite");

  beforeAll(async () => {
    const r1 = await runSweep({ ...base, jobs: 1, store: one });
    const r2 = await runSweep({ ...base, jobs: 2, store: two });
    expect([r1.done, r1.failed, r2.done, r2.jobs]).toEqual([8, 0, 8, 2]);
  }, 120_000);

  test("--jobs 1 and --jobs 2 store the same runs, fingerprints and series", () => {
    const rows = comparableRows(one);
    expect(rows).toHaveLength(8);
    expect(comparableRows(two)).toEqual(rows);
    // The seed and the loss rate change the runs, so equal rows are not equal by accident.
    const fingerprints = new Set(rows.map((r) => r.split(" | ")[4]));
    expect(fingerprints.size).toBeGreaterThanOrEqual(4);
  });

  test("three shards merged hold exactly the rows of the unsharded sweep", async () => {
    const shards = [1, 2, 3].map((i) => join(dir, `shard-${i}.sqlite`));
    const sizes: number[] = [];
    for (const [i, store] of shards.entries()) {
      const r = await runSweep({ ...base, jobs: 1, store, shard: { index: i + 1, count: 3 } });
      sizes.push(r.done);
    }
    expect(sizes).toEqual([3, 3, 2]);
    const merged = join(dir, "merged.sqlite");
    expect(mergeStores(shards, merged)).toMatchObject({ campaigns: 1, runs: 8, duplicates: 0 });
    expect(comparableRows(merged)).toEqual(comparableRows(two));
  });

  test("re-running runs only the missing points: none, then deleted rows and new seeds", async () => {
    const again = await runSweep({ ...base, jobs: 2, store: one });
    expect([again.done, again.alreadyDone]).toEqual([0, 8]);

    const before = comparableRows(one);
    const db = new Database(one);
    db.prepare("DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE seed = 2 ORDER BY id LIMIT 2)").run();
    db.close();
    const refill = await runSweep({ ...base, seeds: 3, jobs: 2, store: one });
    expect([refill.done, refill.alreadyDone]).toEqual([2 + 4, 6]);
    const after = comparableRows(one);
    expect(after).toHaveLength(12);
    expect(after.filter((r) => before.includes(r))).toEqual(before);
  });

  // After the shard test, which compares with this store's first campaign.
  test("a changed scenario makes a second campaign in the same store", async () => {
    const r = await runSweep({ ...base, seeds: 1, set: ["duration=400ms"], jobs: 2, store: two });
    expect([r.done, r.alreadyDone]).toEqual([4, 0]);
    const s = ResultStore.open(two, { mustExist: true });
    const [a, b] = s.campaigns();
    expect(b!.key).toBe(r.campaign.key);
    expect(b!.key).not.toBe(a!.key);
    expect(s.runs(a!.id)).toHaveLength(8);
    const simulated = s
      .runs(b!.id)
      .map((x) => (JSON.parse(x.summaryJson!) as { simulatedNs: number }).simulatedNs);
    expect(simulated).toEqual([4e8, 4e8, 4e8, 4e8]);
    s.close();
  });

  test("nothing is created when the plan is invalid", async () => {
    const path = join(dir, "never.sqlite");
    await expect(runSweep({ scenario, grid: ["guest.nope=1"], store: path })).rejects.toThrow(ScenarioError);
    expect(existsSync(path)).toBe(false);
  });
});
