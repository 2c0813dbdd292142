/**
 * The cluster examples in docs/cluster name sweeps that plan (valid scenario, paths and values), and
 * their shard counts agree with what vnetlab will read from the scheduler's environment.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import YAML from "yaml";
import { shardFromEnv } from "./grid.ts";
import { planSweep } from "./sweep.ts";

const DOCS = fileURLToPath(new URL("../../docs/cluster/", import.meta.url));

/** The arguments after `vnetlab.js sweep` in a command text, without the ones shell variables fill in. */
function sweepArgs(command: string): { scenario: string; grid: string[]; set: string[]; seeds: number } {
  const words = command
    .replace(/\\\n/g, " ")
    .split(/\s+/)
    .filter((w) => w !== "");
  const at = words.indexOf("sweep");
  const rest = words.slice(at + 1);
  const values = (flag: string) => rest.flatMap((w, i) => (rest[i - 1] === flag ? [w] : []));
  return {
    scenario: rest[0]!,
    grid: values("--grid"),
    set: values("--set"),
    seeds: Number(values("--seeds")[0]),
  };
}

describe("docs/cluster", () => {
  test("the Slurm array script is valid bash and plans its sweep", () => {
    const path = `${DOCS}slurm-sweep.sh`;
    execFileSync("bash", ["-n", path]);
    const text = readFileSync(path, "utf8");
    const command = text.slice(text.indexOf("node bin/vnetlab.js sweep"), text.indexOf("# The last task"));
    const args = sweepArgs(command);
    expect(args.grid).toHaveLength(3);
    const plan = planSweep({
      ...args,
      shard: shardFromEnv({ SLURM_ARRAY_TASK_ID: "7", SLURM_ARRAY_TASK_COUNT: "8" }),
    });
    expect(plan.totalPoints).toBe(4 * 3 * 3 * 5);
    const [, from, to] = /#SBATCH --array=(\d+)-(\d+)/.exec(text)!;
    expect(Number(to) - Number(from) + 1).toBe(8);
  });

  test("the Kubernetes Indexed Job plans its sweep, with VNETLAB_SHARD_COUNT = completions", () => {
    const job = YAML.parse(readFileSync(`${DOCS}k8s-indexed-job.yaml`, "utf8"));
    expect(job.spec.completionMode).toBe("Indexed");
    const container = job.spec.template.spec.containers[0];
    const count = container.env.find((e: { name: string }) => e.name === "VNETLAB_SHARD_COUNT").value;
    expect(Number(count)).toBe(job.spec.completions);
    const command: string = container.command.at(-1);
    expect(command).toContain("$JOB_COMPLETION_INDEX");
    const shard = shardFromEnv({ JOB_COMPLETION_INDEX: "0", VNETLAB_SHARD_COUNT: count });
    expect(planSweep({ ...sweepArgs(command), shard }).points.length).toBeGreaterThan(0);
  });
});
