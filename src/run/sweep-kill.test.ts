/**
 * kill -9 during a sweep: a real `vnetlab sweep` child process is SIGKILLed as soon as it has committed
 * a run; the store must be sound, and resuming must run exactly the missing points, keeping what was
 * committed (no run lost, none duplicated).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { expect, test } from "vitest";
import { main } from "../cli/main.ts";
import { ResultStore } from "./store.ts";
import { TSX_LOADER } from "./tsx-loader.ts";
import { SMALL_GRID, scenarioDir } from "./sweep-testing.ts";

const MAIN = fileURLToPath(new URL("../cli/main.ts", import.meta.url));

function committed(path: string): number {
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT count(*) FROM runs").pluck().get() as number;
  } catch {
    return 0; // the schema is not there yet
  } finally {
    db.close();
  }
}

function exited(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
}

test("SIGKILL mid-sweep, then resume: no run lost or duplicated, the store intact", async () => {
  const dir = scenarioDir();
  const store = join(dir, "killed.sqlite");
  const args = ["sweep", join(dir, "small.yaml"), ...SMALL_GRID.flatMap((g) => ["--grid", g])];
  args.push("--seeds", "3", "--jobs", "2", "--store", store);
  const total = 12;

  const child = spawn(process.execPath, ["--import", TSX_LOADER, MAIN, ...args], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const exit = exited(child);
  const deadline = Date.now() + 60_000;
  while (committed(store) === 0) {
    if (child.exitCode !== null) throw new Error(`the sweep exited before the kill: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`no run committed within 60 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGKILL");
  expect(await exit).toBe("SIGKILL");

  const s = ResultStore.open(store, { mustExist: true });
  expect(s.integrityCheck()).toBe("ok");
  const campaign = s.selectCampaign();
  const before = s
    .runs(campaign.id)
    .map((r) => ({ id: r.id, point: r.point, seed: r.seed, fp: r.fingerprint }));
  s.close();
  expect(before.length).toBeGreaterThan(0);
  expect(before.length).toBeLessThan(total);

  const out: string[] = [];
  const io = { out: (x: string) => out.push(x), err: () => {}, isTTY: false };
  expect(await main(args, io)).toBe(0);
  expect(out.join("")).toContain(`ran ${total - before.length} (0 failed), ${before.length} already stored`);

  const t = ResultStore.open(store, { mustExist: true });
  expect(t.integrityCheck()).toBe("ok");
  expect(t.campaigns().map((c) => c.key)).toEqual([campaign.key]);
  const after = t.runs(campaign.id);
  t.close();
  expect(after).toHaveLength(total);
  expect(new Set(after.map((r) => `${r.point}/${r.seed}`)).size).toBe(total);
  for (const b of before) {
    expect(after.find((r) => r.id === b.id)).toMatchObject({
      point: b.point,
      seed: b.seed,
      fingerprint: b.fp,
    });
  }
});
