import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import Database from "better-sqlite3";
import { describe, expect, test } from "vitest";
import { SweepUsageError } from "./grid.ts";
import { type CampaignInfo, decodeSamples, encodeSamples, ResultStore, type RunRecord } from "./store.ts";
import { MergeConflictError, mergeStores } from "./store-merge.ts";

const dir = () => mkdtempSync(join(tmpdir(), "vnetlab-store-"));

function campaign(key: string): CampaignInfo {
  return {
    key,
    scenarioName: "t",
    source: "iperf-lowmem",
    scenarioHash: "0123456789abcdef",
    scenarioRaw: { duration: "1s" },
    sets: ["duration=1s"],
    grid: [{ path: "guest.memory", values: ["128MiB", "256MiB"] }],
    packageVersion: "0.1.0",
    gitCommit: null,
    sourceHash: "fedcba9876543210",
  };
}

function record(
  memory: string,
  seed: number,
  status: "ok" | "failed" = "ok",
  fingerprint = `fp-${memory}-${seed}`,
): RunRecord {
  return {
    point: JSON.stringify({ "guest.memory": memory }),
    seed,
    status,
    scenarioHash: "h",
    fingerprint: status === "ok" ? fingerprint : null,
    summary: status === "ok" ? JSON.stringify({ goodputBps: seed }) : null,
    error: status === "ok" ? null : "ModelError: boom",
    wallMs: 1,
    series: status === "ok" ? [{ name: "t", data: encodeSamples([1, 2, seed]) }] : [],
  };
}

describe("series encoding", () => {
  test("round-trips every float64 exactly", () => {
    fc.assert(
      fc.property(fc.array(fc.double()), (xs) => {
        expect(decodeSamples(encodeSamples(xs))).toEqual(xs);
      }),
    );
  });

  test("integer ns sample times compress well", () => {
    const t = Array.from({ length: 600 }, (_, i) => (i + 1) * 100_000_000);
    expect(encodeSamples(t).length).toBeLessThan((t.length * 8) / 2);
  });
});

describe("ResultStore", () => {
  test("keeps campaigns and runs across reopening, in WAL mode", () => {
    const path = join(dir(), "s.sqlite");
    const s = ResultStore.open(path);
    const c = s.ensureCampaign(campaign("aaaa"));
    expect(s.ensureCampaign(campaign("aaaa")).id).toBe(c.id);
    s.insertRun(c.id, record("128MiB", 1));
    s.insertRun(c.id, record("256MiB", 1, "failed"));
    s.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();

    const again = ResultStore.open(path, { mustExist: true });
    const c2 = again.selectCampaign();
    expect(c2).toMatchObject({ key: "aaaa", grid: campaign("x").grid, scenarioRaw: { duration: "1s" } });
    expect(again.doneKeys(c2.id).size).toBe(2);
    expect(again.doneKeys(c2.id, true).size).toBe(1);
    const [ok, failed] = again.runs(c2.id);
    expect(ok!.params).toEqual({ "guest.memory": "128MiB" });
    expect(again.summary(ok!)?.series).toEqual({ t: [1, 2, 1] });
    expect(again.summary(failed!)).toBeUndefined();
    expect(again.integrityCheck()).toBe("ok");
    again.close();
  });

  test("a failed run is replaced by a new result; a successful one is kept", () => {
    const s = ResultStore.open(join(dir(), "s.sqlite"));
    const c = s.ensureCampaign(campaign("aaaa"));
    const failedId = s.insertRun(c.id, record("128MiB", 1, "failed"));
    const okId = s.insertRun(c.id, record("128MiB", 1));
    expect(okId).not.toBe(failedId);
    expect(s.insertRun(c.id, record("128MiB", 1, "ok", "other"))).toBe(okId);
    const runs = s.runs(c.id);
    expect(runs.map((r) => [r.status, r.fingerprint])).toEqual([["ok", "fp-128MiB-1"]]);
    expect(s.encodedSeries(failedId)).toEqual([]);
    s.close();
  });

  test("selects campaigns by key prefix, newest by default", () => {
    const s = ResultStore.open(join(dir(), "s.sqlite"));
    expect(() => s.selectCampaign()).toThrow(SweepUsageError);
    s.ensureCampaign(campaign("ab12"));
    s.ensureCampaign(campaign("ab34"));
    expect(s.selectCampaign().key).toBe("ab34");
    expect(s.selectCampaign("ab1").key).toBe("ab12");
    expect(() => s.selectCampaign("ab")).toThrow(/more than one/);
    expect(() => s.selectCampaign("zz")).toThrow(/no campaign/);
    s.close();
  });

  test("refuses missing files and files that are not stores", () => {
    const d = dir();
    expect(() => ResultStore.open(join(d, "none.sqlite"), { mustExist: true })).toThrow(SweepUsageError);
    expect(existsSync(join(d, "none.sqlite"))).toBe(false);
    writeFileSync(join(d, "text.sqlite"), "not a database, just text that is long enough to have a header");
    expect(() => ResultStore.open(join(d, "text.sqlite"))).toThrow(/not a vnetlab results store/);
  });
});

describe("mergeStores", () => {
  function shard(d: string, name: string, key: string, records: RunRecord[]): string {
    const path = join(d, name);
    const s = ResultStore.open(path);
    const c = s.ensureCampaign(campaign(key), "2026-01-01T00:00:00.000Z");
    for (const r of records) s.insertRun(c.id, r);
    s.close();
    return path;
  }

  test("unions the runs of shards of one campaign, duplicates once, failures replaced", () => {
    const d = dir();
    const a = shard(d, "a.sqlite", "k", [record("128MiB", 1), record("256MiB", 2, "failed")]);
    const b = shard(d, "b.sqlite", "k", [record("256MiB", 1), record("128MiB", 1), record("256MiB", 2)]);
    const out = join(d, "all.sqlite");
    expect(mergeStores([a, b], out)).toEqual({ campaigns: 1, runs: 3, duplicates: 2 });
    expect(existsSync(`${out}-wal`)).toBe(false);
    const s = ResultStore.open(out, { mustExist: true });
    const c = s.selectCampaign();
    expect(c.createdAt).toBe("2026-01-01T00:00:00.000Z");
    const runs = s.runs(c.id).map((r) => `${r.params["guest.memory"]}/${r.seed}/${r.status}`);
    expect(runs.sort()).toEqual(["128MiB/1/ok", "256MiB/1/ok", "256MiB/2/ok"]);
    s.close();
    expect(() => mergeStores([a, b], out)).toThrow(/exists/);
  });

  test("refuses stores of different campaigns and leaves no output", () => {
    const d = dir();
    const a = shard(d, "a.sqlite", "k1", [record("128MiB", 1)]);
    const b = shard(d, "b.sqlite", "k2", [record("256MiB", 1)]);
    const out = join(d, "all.sqlite");
    expect(() => mergeStores([a, b], out)).toThrow(/different campaigns/);
    expect(existsSync(out)).toBe(false);
  });

  test("two successful runs of one point with different fingerprints are a conflict", () => {
    const d = dir();
    const a = shard(d, "a.sqlite", "k", [record("128MiB", 1, "ok", "x")]);
    const b = shard(d, "b.sqlite", "k", [record("128MiB", 1, "ok", "y")]);
    const out = join(d, "all.sqlite");
    expect(() => mergeStores([a, b], out)).toThrow(MergeConflictError);
    expect(existsSync(out)).toBe(false);
  });
});
