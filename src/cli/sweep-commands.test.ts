/**
 * The sweep commands through main() with a captured Io: exit codes, the progress bar only on a TTY,
 * report/export/show on a real store, and `show --command` reproducing a run's fingerprint.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { scenarioDir } from "../run/sweep-testing.ts";
import { main } from "./main.ts";
import { formatDuration, shellQuote } from "./sweep-commands.ts";
import { type CampaignInfo, ResultStore } from "../run/store.ts";
import { reproduceArgs } from "../run/sweep.ts";
import { type CapturedIo, capture } from "./testing.ts";

async function cli(args: string[], isTTY = false): Promise<CapturedIo & { code: number }> {
  const io = capture(isTTY);
  const code = await main(args, io);
  return Object.assign(io, { code });
}

/** Splits what shellQuote produced back into words. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)) {
    words.push(m[1] === undefined ? m[2]! : m[1].replace(/'\\''/g, "'"));
  }
  return words;
}

const dir = scenarioDir();
const scenario = join(dir, "small.yaml");
const store = join(dir, "cli.sqlite");
const LOSS = "network.senders[0].loss";
const sweepArgs = [
  "sweep",
  scenario,
  "--grid",
  `${LOSS}=0.001,0.02`,
  "--seeds",
  "2",
  "--jobs",
  "2",
  "--store",
  store,
];

describe("usage errors exit 2 before anything runs", () => {
  test.each([
    [["--grid", "guest.memroy=1MiB"], /guest\.memroy.*did you mean "memory"/],
    [["--grid", "guest.memory=lots"], /guest\.memory = "lots"/],
    [["--grid", "guest.memory"], /--grid expects path=v1,v2/],
    [["--shard", "4/3"], /--shard must be i\/n/],
    [["--seeds", "0"], /must be a whole number from 1 to 10000/],
    [["--seeds", "1e308"], /--seeds.*must be a whole number from 1 to 10000, got "1e308"/],
    [["--jobs", "two"], /must be a whole number from 1 to 1024/],
    [
      ["--grid", "guest.memory=512MiB,536870912B"],
      /guest\.memory = "536870912B": means the same as "512MiB"/,
    ],
    [["--grid", "guest.__proto__=1"], /guest\.__proto__.*key "__proto__" is not allowed/],
    [
      ["--grid", "guest={__proto__: {memory: 1GiB}},{}"],
      /guest\.__proto__ = .*key "__proto__" \(line 1, column 2\) is not allowed/,
    ],
  ])("%s", async (extra, message) => {
    const path = join(dir, "never.sqlite");
    const r = await cli(["sweep", scenario, "--store", path, ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(path)).toBe(false);
  });

  test("results commands on a missing store or run", async () => {
    expect((await cli(["report", join(dir, "none.sqlite")])).code).toBe(2);
    expect((await cli(["export", join(dir, "none.sqlite"), "--format", "csv"])).code).toBe(2);
    expect((await cli(["export", join(dir, "none.sqlite"), "--format", "xml"])).code).toBe(2);
  });
});

describe("a sweep and its results", () => {
  let first: CapturedIo & { code: number };
  beforeAll(async () => {
    first = await cli(sweepArgs, true);
  }, 120_000);

  test("sweep runs every point and draws a progress bar on a TTY", () => {
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/ran 4 \(0 failed\), 0 already stored/);
    expect(first.stderr).toMatch(/new campaign [0-9a-f]{16} of sweep-test: 4 runs/);
    expect(first.stderr).toMatch(/0\/4 runs \| – runs\/s \| ETA – \| failed 0/);
    expect(first.stderr).toMatch(/4\/4 runs \| [\d.]+ runs\/s \| ETA 0s \| failed 0/);
  });

  test("re-running finds everything stored; no bar without a TTY", async () => {
    const r = await cli(sweepArgs);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ran 0 \(0 failed\), 4 already stored/);
    const other = await cli([
      ...sweepArgs.slice(0, -1),
      join(dir, "other.sqlite"),
      "--set",
      "duration=400ms",
    ]);
    expect(other.code).toBe(0);
    expect(other.stderr).not.toMatch(/ETA/);
    const merged = await cli(["merge", store, join(dir, "other.sqlite"), "-o", join(dir, "m.sqlite")]);
    expect(merged.code).toBe(2);
    expect(merged.stderr).toMatch(/different campaigns/);
  });

  test("export csv: one row per run, parameters and counters as columns", async () => {
    const r = await cli(["export", store, "--format", "csv"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\r\n");
    expect(lines).toHaveLength(5);
    const header = lines[0]!.split(",");
    expect(header.slice(0, 4)).toEqual(["run", "campaign", LOSS, "seed"]);
    expect(header).toContain("summary.goodputBps");
    expect(header).toContain("summary.host.qdiscDrops");
    const goodput = header.indexOf("summary.goodputBps");
    for (const l of lines.slice(1)) expect(Number(l.split(",")[goodput])).toBeGreaterThan(0);
  });

  test("export jsonl to a file, with series on request", async () => {
    const file = join(dir, "out", "runs.jsonl");
    expect((await cli(["export", store, "--format", "jsonl", "--series", "-o", file])).code).toBe(0);
    const rows = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(4);
    expect(rows[0].summary.series.t.length).toBeGreaterThan(0);
    expect(rows.map((x: { params: Record<string, string> }) => x.params[LOSS]).sort()).toEqual([
      "0.001",
      "0.001",
      "0.02",
      "0.02",
    ]);
  });

  test("report writes HTML with a chart per metric against the swept parameter", async () => {
    const r = await cli(["report", store]);
    expect(r.code).toBe(0);
    const html = readFileSync(join(dir, "cli.html"), "utf8");
    expect(r.stdout.trim()).toBe(join(dir, "cli.html"));
    expect(html).toContain("goodput vs network.senders[0].loss");
    expect(html.match(/<figure class="chart"/g)!.length).toBeGreaterThanOrEqual(4);
    expect(html.match(/<table class="points">[\s\S]*?<\/table>/)![0].match(/<tr>/g)).toHaveLength(3);
  });

  test("show --command prints a `vnetlab run` command that reproduces the fingerprint", async () => {
    const s = ResultStore.open(store, { mustExist: true });
    const run = s.runs(s.selectCampaign().id).find((r) => r.seed === 2 && r.params[LOSS] === "0.02")!;
    s.close();
    const shown = await cli(["show", store, String(run.id), "--command"]);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toBe("");
    const words = shellWords(shown.stdout.trim());
    expect(words.slice(0, 3)).toEqual(["vnetlab", "run", scenario]);
    const again = await cli([...words.slice(1), "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).fingerprint).toBe(run.fingerprint);

    const text = await cli(["show", store, String(run.id)]);
    expect(text.stdout).toContain(`${LOSS} = 0.02`);
    expect(text.stdout).toContain(`fingerprint ${run.fingerprint}`);
    expect((await cli(["show", store, "999"])).code).toBe(2);
  });
});

test("shellQuote leaves safe words bare and quotes the rest", () => {
  expect(shellQuote("guest.memory=128MiB")).toBe("guest.memory=128MiB");
  expect(shellQuote("a[0]=it's")).toBe("'a[0]=it'\\''s'");
  expect(shellWords(`x ${shellQuote("a b'c")} y`)).toEqual(["x", "a b'c", "y"]);
});

test("formatDuration", () => {
  expect([42, 187, 7500].map(formatDuration)).toEqual(["42s", "3m07s", "2h05m"]);
});

test("a reproducing command gives the seed once, so `run` accepts it (--set seed= would conflict)", async () => {
  const campaign = { source: scenario, sets: ["seed=7", "duration=300ms"] } as unknown as CampaignInfo;
  const args = reproduceArgs(campaign, { params: {}, seed: 8 });
  expect(args).toEqual(["run", scenario, "--set", "duration=300ms", "--seed", "8"]);
  const r = await cli([...args, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout).seed).toBe(8);
});
