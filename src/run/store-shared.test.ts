/**
 * A store shared by several sweeps, and a store with a damaged row: sweeps started at once on a new
 * store (real child processes) all succeed and compute each point once; a claim left by a dead process
 * is taken over; a corrupt row is named and skipped by export/report/show (exit 2), refused by merge
 * and run again by a resumed sweep.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { describe, expect, test } from "vitest";
import { main } from "../cli/main.ts";
import { CLAIM_LEASE_MS, ResultStore } from "./store.ts";
import { ownerAlive } from "./sweep.ts";
import { TSX_LOADER } from "./tsx-loader.ts";
import { scenarioDir } from "./sweep-testing.ts";
import { capture } from "../cli/testing.ts";

const MAIN = fileURLToPath(new URL("../cli/main.ts", import.meta.url));
const LOSS = "network.senders[0].loss";

function sweepChild(
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", TSX_LOADER, MAIN, ...args], { cwd });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

test("sweeps started at once on a new store all succeed and compute every point once", async () => {
  const dir = scenarioDir();
  const args = (store: string) => [
    "sweep",
    join(dir, "small.yaml"),
    "--grid",
    `${LOSS}=0.001,0.002,0.005,0.02`,
    "--seeds",
    "2",
    "--jobs",
    "1",
    "--store",
    store,
  ];
  // Before claims and the IMMEDIATE schema, 4 trials in 12 failed (UNIQUE constraint failed:
  // campaigns.key, or "is not a vnetlab results store") and every sweep computed every point.
  for (let trial = 0; trial < 2; trial++) {
    const store = join(dir, `shared-${trial}.sqlite`);
    const results = await Promise.all([1, 2, 3].map(() => sweepChild(args(store), dir)));
    let ran = 0;
    for (const r of results) {
      expect(r.code, r.stderr).toBe(0);
      ran += Number(/ran (\d+) \(0 failed\)/.exec(r.stdout)![1]);
    }
    expect(ran).toBe(8);
    const db = new Database(store, { readonly: true });
    expect(db.prepare("SELECT count(*) FROM runs").pluck().get()).toBe(8);
    expect(db.prepare("SELECT count(*) FROM campaigns").pluck().get()).toBe(1);
    expect(db.prepare("SELECT count(*) FROM claims").pluck().get()).toBe(0);
    db.close();
  }
}, 300_000);

describe("claims", () => {
  const info = {
    key: "k",
    scenarioName: "t",
    source: "iperf-lowmem",
    scenarioHash: "h",
    scenarioRaw: {},
    sets: [],
    grid: [],
    packageVersion: "0",
    gitCommit: null,
    sourceHash: "s",
  };

  test("a live owner's claim holds; a dead process's or an expired one is taken over", () => {
    const store = ResultStore.open(join(scenarioDir(), "claims.sqlite"));
    const c = store.ensureCampaign(info);
    const me = `${hostname()}:${process.pid}`;
    const parent = `${hostname()}:${process.ppid}`;
    // A pid above the kernel's pid_max (4194304, include/linux/threads.h PID_MAX_LIMIT) never runs.
    const dead = `${hostname()}:4194305`;
    expect(ownerAlive(parent)).toBe(true);
    expect(ownerAlive(dead)).toBe(false);
    expect(ownerAlive("elsewhere:1")).toBe(true);

    expect(store.claim(c.id, "{}", 1, parent, false, ownerAlive, 1000)).toBe(true);
    expect(store.claim(c.id, "{}", 1, me, false, ownerAlive, 2000)).toBe(false);
    expect(store.claim(c.id, "{}", 1, me, false, ownerAlive, 1000 + CLAIM_LEASE_MS)).toBe(true);
    expect(store.claim(c.id, "{}", 2, dead, false, ownerAlive, 1000)).toBe(true);
    expect(store.claim(c.id, "{}", 2, me, false, ownerAlive, 1001)).toBe(true);
    // A renewed claim does not expire.
    expect(store.claim(c.id, "{}", 3, "elsewhere:1", false, ownerAlive, 1000)).toBe(true);
    store.renewClaims("elsewhere:1", CLAIM_LEASE_MS);
    expect(store.claim(c.id, "{}", 3, me, false, ownerAlive, 1000 + CLAIM_LEASE_MS)).toBe(false);
    // A finished point is not claimed again; a failed one only when retrying failures.
    store.insertRun(c.id, {
      point: "{}",
      seed: 4,
      status: "failed",
      scenarioHash: null,
      fingerprint: null,
      summary: null,
      error: "x",
      wallMs: 1,
      series: [],
    });
    expect(store.claim(c.id, "{}", 4, me, false, ownerAlive)).toBe(false);
    expect(store.claim(c.id, "{}", 4, me, true, ownerAlive)).toBe(true);
    store.releaseClaims(me);
    expect(store.claim(c.id, "{}", 1, parent, false, ownerAlive, 2000)).toBe(true);
    store.close();
  });
});

async function cli(args: string[]) {
  const io = capture();
  const code = await main(args, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

test("a corrupt row: named and skipped by export, report and show (exit 2), refused by merge, re-run on resume", async () => {
  const dir = scenarioDir();
  const store = join(dir, "corrupt.sqlite");
  const sweep = [
    "sweep",
    join(dir, "small.yaml"),
    "--grid",
    `${LOSS}=0.001,0.02`,
    "--seeds",
    "2",
    "--jobs",
    "2",
    "--store",
    store,
  ];
  expect((await cli(sweep)).code).toBe(0);
  const db = new Database(store);
  const id = db.prepare("SELECT min(id) FROM runs").pluck().get() as number;
  db.prepare("UPDATE runs SET summary = '{\"goodputBps\": 1' WHERE id = ?").run(id);
  db.close();
  const named = new RegExp(`run ${id} \\(point .*, seed \\d\\): its summary is not JSON`);

  const csv = await cli(["export", store, "--format", "csv"]);
  expect(csv.code).toBe(2);
  expect(csv.stderr).toMatch(named);
  expect(csv.stderr).toMatch(/1 corrupt run in .* skipped/);
  expect(csv.stdout.trimEnd().split("\r\n")).toHaveLength(4); // header + the 3 sound runs

  const html = join(dir, "r.html");
  const report = await cli(["report", store, "-o", html]);
  expect(report.code).toBe(2);
  expect(report.stderr).toMatch(named);
  expect(existsSync(html)).toBe(true);

  const show = await cli(["show", store, String(id)]);
  expect(show.code).toBe(2);
  expect(show.stderr).toMatch(named);

  const merged = await cli(["merge", store, "-o", join(dir, "m.sqlite")]);
  expect(merged.code).toBe(2);
  expect(merged.stderr).toMatch(/refusing to merge 1 corrupt run/);
  expect(merged.stderr).toMatch(named);
  expect(existsSync(join(dir, "m.sqlite"))).toBe(false);

  const resumed = await cli(sweep);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toMatch(/ran 1 \(0 failed\), 3 already stored/);
  expect((await cli(["export", store, "--format", "csv"])).code).toBe(0);
  expect((await cli(["merge", store, "-o", join(dir, "m.sqlite")])).code).toBe(0);
}, 120_000);
