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
import { checkJsonSchema, type JsonSchema } from "./json-schema-check.ts";
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
  test("the Slurm array script is valid bash and plans its sweep, with VNETLAB_SHARD_COUNT = array size", () => {
    const path = `${DOCS}slurm-sweep.sh`;
    execFileSync("bash", ["-n", path]);
    const text = readFileSync(path, "utf8");
    // The default sweep is the `set --` block that stands in for the script's arguments.
    const command = text.slice(text.indexOf("set -- "), text.indexOf("\nfi\n"));
    const args = sweepArgs(command.replace("set --", "sweep"));
    expect(args.grid).toHaveLength(3);
    const [, count] = /VNETLAB_SHARD_COUNT="\$\{VNETLAB_SHARD_COUNT:-(\d+)\}"/.exec(text)!;
    const [, from, to] = /#SBATCH --array=(\d+)-(\d+)/.exec(text)!;
    // Array indices are shards − 1: the array must be 0..count−1.
    expect(Number(from)).toBe(0);
    expect(Number(to) + 1).toBe(Number(count));
    const plan = planSweep({
      ...args,
      shard: shardFromEnv({ SLURM_ARRAY_TASK_ID: to, VNETLAB_SHARD_COUNT: count }),
    });
    expect(plan.totalPoints).toBe(4 * 3 * 3 * 5);
    expect(plan.points.length).toBeGreaterThan(0);
  });

  test("the Slurm script's usage creates its log directory before sbatch", () => {
    // Slurm opens --output before the script runs (a missing directory fails the task without a log, as
    // npm run test:cluster shows), so the usage line must create it.
    const text = readFileSync(`${DOCS}slurm-sweep.sh`, "utf8");
    const [, dir] = /#SBATCH --output=([^/\s]+)\//.exec(text)!;
    expect(text).toContain(`mkdir -p ${dir} && sbatch docs/cluster/slurm-sweep.sh`);
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

  test("the Kubernetes manifest is a valid batch/v1 Job (pinned schema), and the check catches mistakes", () => {
    const schema: JsonSchema = JSON.parse(readFileSync(`${DOCS}schema/job-batch-v1.json`, "utf8"));
    const text = readFileSync(`${DOCS}k8s-indexed-job.yaml`, "utf8");
    expect(checkJsonSchema(schema, YAML.parse(text))).toEqual([]);
    const broken = (edit: (job: ReturnType<typeof YAML.parse>) => void) => {
      const job = YAML.parse(text);
      edit(job);
      return checkJsonSchema(schema, job);
    };
    expect(
      broken((j) => {
        j.spec.completion = j.spec.completions;
      }),
    ).toEqual([expect.stringMatching(/^\$\.spec\.completion: unknown field/)]);
    expect(
      broken((j) => {
        j.spec.parallelism = "8";
      }),
    ).toEqual(['$.spec.parallelism: "8" is string, not integer or null']);
    expect(
      broken((j) => {
        j.spec.template.spec.containers[0].env[0].value = 8;
      }),
    ).toEqual(["$.spec.template.spec.containers[0].env[0].value: 8 is number, not string or null"]);
    expect(
      broken((j) => {
        j.spec.template.spec.containers[0].volumeMount = [];
      }),
    ).toHaveLength(1);
  });
});
