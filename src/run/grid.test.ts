import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { ScenarioError } from "../scenario/errors.ts";
import {
  canonicalGrid,
  gridAssignments,
  paramOverrides,
  parseGrid,
  parseShard,
  shardFromEnv,
  shardPoints,
  SweepUsageError,
  sweepPoints,
} from "./grid.ts";

function issues(f: () => unknown): { path: string; message: string }[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues.map((i) => ({ path: i.path, message: i.message }));
    throw e;
  }
  throw new Error("expected a ScenarioError");
}

describe("parseGrid", () => {
  test("splits values at top-level commas only and canonicalises paths", () => {
    expect(parseGrid(["network.senders.0.rtt=1ms, 10ms", "a.b=[1, 2],{x: 1, y: 2},'p,q'"])).toEqual([
      { path: "network.senders[0].rtt", values: ["1ms", "10ms"] },
      { path: "a.b", values: ["[1, 2]", "{x: 1, y: 2}", "'p,q'"] },
    ]);
  });

  test("reports every malformed argument at once", () => {
    const found = issues(() =>
      parseGrid(["guest.memory", "x..y=1", "seed=1,2", "a=1,,2", "b=1,1", "c=1", "c=2", "d[0]=1"]),
    );
    expect(found.map((i) => i.path)).toEqual(["guest.memory", "x..y", "seed", "a", "b", "c"]);
    expect(found[2]!.message).toContain("--seeds");
    expect(found[5]!.message).toContain("more than one --grid");
  });

  test("the canonical grid ignores the order of axes and values", () => {
    const a = canonicalGrid(parseGrid(["x=2,1", "a.b=q,p"]));
    const b = canonicalGrid(parseGrid(["a.b=p,q", "x=1,2"]));
    expect(a).toEqual(b);
  });
});

describe("points", () => {
  test("the product of the axes, first axis slowest, as override strings", () => {
    const axes = parseGrid(["b=1,2", "a=x,y,z"]);
    const all = gridAssignments(axes);
    expect(all).toHaveLength(6);
    expect(all[0]).toEqual({ b: "1", a: "x" });
    expect(all[1]).toEqual({ b: "1", a: "y" });
    expect(paramOverrides(all[5]!)).toEqual(["a=z", "b=2"]);
    expect(gridAssignments([])).toEqual([{}]);
  });

  test("canonical order is by seed, then point, whatever the order of flags and values", () => {
    const p1 = sweepPoints(parseGrid(["b=1,2", "a=x,y"]), [2, 1]);
    const p2 = sweepPoints(parseGrid(["a=y,x", "b=2,1"]), [1, 2]);
    expect(p1).toEqual(p2);
    expect(p1.map((p) => p.seed)).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    expect(new Set(p1.map((p) => `${p.key}/${p.seed}`)).size).toBe(8);
  });
});

describe("shards", () => {
  test("parseShard takes 1-based i/n and rejects the rest", () => {
    expect(parseShard("2/3")).toEqual({ index: 2, count: 3 });
    for (const bad of ["0/3", "4/3", "1/0", "2", "a/b", "1/2/3"]) {
      expect(() => parseShard(bad), bad).toThrow(SweepUsageError);
    }
  });

  test("shards partition the points: disjoint, complete, sizes within one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 12 }), (n, count) => {
        const points = Array.from({ length: n }, (_, i) => i);
        const shards = Array.from({ length: count }, (_, i) => shardPoints(points, { index: i + 1, count }));
        const all = shards.flat().sort((a, b) => a - b);
        expect(all).toEqual(points);
        const sizes = shards.map((s) => s.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });

  test("detected from Slurm job arrays: 0-based SLURM_ARRAY_TASK_ID of VNETLAB_SHARD_COUNT", () => {
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: "0", VNETLAB_SHARD_COUNT: "4" })).toMatchObject({
      index: 1,
      count: 4,
      from: "SLURM_ARRAY_TASK_ID",
    });
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: "4", VNETLAB_SHARD_COUNT: "4" })).toThrow(
      /SLURM_ARRAY_TASK_ID = 4 with VNETLAB_SHARD_COUNT = 4: task indices must be 0..3/,
    );
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "4" })).toThrow(
      /VNETLAB_SHARD_COUNT is not/,
    );
  });

  test("a Slurm task resubmitted alone keeps its shard (Slurm's own counts describe the resubmission)", () => {
    // What slurmd exports to `sbatch --array=3` resubmitting task 3 of an array of 8 (seen on Slurm 22.05).
    const resubmitted = {
      SLURM_ARRAY_TASK_ID: "3",
      SLURM_ARRAY_TASK_COUNT: "1",
      SLURM_ARRAY_TASK_MIN: "3",
      SLURM_ARRAY_TASK_MAX: "3",
      VNETLAB_SHARD_COUNT: "8",
    };
    expect(shardFromEnv(resubmitted)).toMatchObject({ index: 4, count: 8 });
  });

  test("detected from Kubernetes Indexed Jobs with VNETLAB_SHARD_COUNT", () => {
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: "2", VNETLAB_SHARD_COUNT: "3" })).toMatchObject({
      index: 3,
      count: 3,
      from: "JOB_COMPLETION_INDEX",
    });
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: "0" })).toThrow(/VNETLAB_SHARD_COUNT/);
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: "x", VNETLAB_SHARD_COUNT: "3" })).toThrow(
      SweepUsageError,
    );
    expect(shardFromEnv({})).toBeUndefined();
  });
});
