/**
 * The sweep results store: one SQLite file (better-sqlite3) holding campaigns, one row per finished
 * run, and the runs' sampled time series.
 *
 * Durability: WAL journal with synchronous=NORMAL, and every run is inserted in its own transaction
 * when it finishes. A killed process (SIGKILL included) loses only the runs it had not committed; the
 * WAL is replayed by the next connection and the file is never left half-written. (NORMAL may lose the
 * last commits on an OS crash or power loss, not on a process crash; the sweep then simply re-runs them.)
 * Within a process one writer: the sweep's main thread; workers only compute.
 *
 * Several processes (sweeps started at once on one file, on one host or sharing it over a file system
 * with working locks) are safe: every connection waits up to BUSY_TIMEOUT_MS for the lock, the schema
 * is created inside one IMMEDIATE transaction, a campaign is inserted with OR IGNORE, and a sweep
 * claims each point before computing it (claims table) so two sweeps never compute the same one. A
 * claim names its owner (host:pid) and is renewed while the owner runs; it is stale, and taken over,
 * when its owner is a dead process on this host or it was not renewed for CLAIM_LEASE_MS.
 *
 * Corrupt rows (a point or summary that is not the JSON the sweep wrote, a series that does not
 * decode) are reported per row: StoredRun.problem says what is wrong, readers skip such rows, merge
 * refuses them and a resumed sweep runs their points again.
 *
 * Layout:
 * - campaigns: what a set of runs is comparable under (see sweep.ts for the identity).
 * - runs: unique per (campaign, point, seed); ids are never reused (AUTOINCREMENT), so a run id that
 *   `vnetlab show` was given once never names another run. The summary is the run's JSON (RunSummary
 *   without its series and resolved scenario), queryable with SQLite's json_extract.
 * - series: one row per run and series name; samples as little-endian float64, deflate-compressed
 *   (t is in integer ns, exact in a float64 up to 2^53).
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import Database from "better-sqlite3";
import type { RunSummary, Series } from "./types.ts";
import { type GridAxis, type Params, SweepUsageError } from "./grid.ts";

const SCHEMA_VERSION = "1";

/** How long a connection waits for another process's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 60_000;
/** A claim not renewed for this long is stale (its owner is gone or cut off). */
export const CLAIM_LEASE_MS = 10 * 60_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  scenario_name TEXT NOT NULL,
  scenario_source TEXT NOT NULL,
  scenario_hash TEXT NOT NULL,
  scenario_raw TEXT NOT NULL,
  sets TEXT NOT NULL,
  grid TEXT NOT NULL,
  package_version TEXT NOT NULL,
  git_commit TEXT,
  source_hash TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  point TEXT NOT NULL,
  seed INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
  scenario_hash TEXT,
  fingerprint TEXT,
  summary TEXT,
  error TEXT,
  wall_ms REAL NOT NULL,
  finished_at TEXT NOT NULL,
  UNIQUE (campaign_id, point, seed)
);
CREATE TABLE IF NOT EXISTS series (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  point TEXT NOT NULL,
  seed INTEGER NOT NULL,
  owner TEXT NOT NULL,
  renewed_at INTEGER NOT NULL,
  PRIMARY KEY (campaign_id, point, seed)
) WITHOUT ROWID;
`;

/** What identifies and describes a campaign (see sweep.ts: campaignKey). */
export interface CampaignInfo {
  /** 16 hex digits over (base scenario hash, canonical grid, package version, source hash). */
  key: string;
  scenarioName: string;
  /** A preset name or an absolute file path: what `vnetlab run` takes. */
  source: string;
  /** scenarioHash of the base resolved scenario (the source with `sets`, before any grid value). */
  scenarioHash: string;
  /** The raw scenario as read (extends merged), so the campaign is self-contained. */
  scenarioRaw: unknown;
  /** The sweep's --set overrides, applied before each point's grid values. */
  sets: string[];
  /** Axes in the order first given. */
  grid: GridAxis[];
  packageVersion: string;
  /** HEAD of the git checkout the code ran from, or null outside one. */
  gitCommit: string | null;
  /** Hash of the model's source files (src/, tests excluded). */
  sourceHash: string;
}

export interface Campaign extends CampaignInfo {
  id: number;
  createdAt: string;
}

export interface EncodedSeries {
  name: string;
  data: Uint8Array;
}

/** A finished run as a worker hands it to the writer. */
export interface RunRecord {
  /** Point key (canonical JSON of the parameters). */
  point: string;
  seed: number;
  status: "ok" | "failed";
  scenarioHash: string | null;
  fingerprint: string | null;
  /** JSON of the RunSummary without series and scenarioConfig; null for a failed run. */
  summary: string | null;
  error: string | null;
  wallMs: number;
  series: EncodedSeries[];
}

export interface StoredRun {
  id: number;
  campaignId: number;
  point: string;
  params: Params;
  seed: number;
  status: "ok" | "failed";
  scenarioHash: string | null;
  fingerprint: string | null;
  summaryJson: string | null;
  error: string | null;
  wallMs: number;
  finishedAt: string;
  /** Why this row cannot be read back (a corrupted point or summary), or null when it is sound. */
  problem: string | null;
}

interface CampaignRow {
  id: number;
  key: string;
  scenario_name: string;
  scenario_source: string;
  scenario_hash: string;
  scenario_raw: string;
  sets: string;
  grid: string;
  package_version: string;
  git_commit: string | null;
  source_hash: string;
  created_at: string;
}

interface RunRow {
  id: number;
  campaign_id: number;
  point: string;
  seed: number;
  status: "ok" | "failed";
  scenario_hash: string | null;
  fingerprint: string | null;
  summary: string | null;
  error: string | null;
  wall_ms: number;
  finished_at: string;
}

function campaignOf(r: CampaignRow): Campaign {
  return {
    id: r.id,
    key: r.key,
    scenarioName: r.scenario_name,
    source: r.scenario_source,
    scenarioHash: r.scenario_hash,
    scenarioRaw: JSON.parse(r.scenario_raw) as unknown,
    sets: JSON.parse(r.sets) as string[],
    grid: JSON.parse(r.grid) as GridAxis[],
    packageVersion: r.package_version,
    gitCommit: r.git_commit,
    sourceHash: r.source_hash,
    createdAt: r.created_at,
  };
}

/** A JSON object, or why the text is not one. */
function parseObject(text: string): { value: Record<string, unknown> } | { problem: string } {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === "object" && v !== null && !Array.isArray(v))
      return { value: v as Record<string, unknown> };
    return { problem: "is not a JSON object" };
  } catch (e) {
    return { problem: `is not JSON (${(e as Error).message})` };
  }
}

/** Why a row's point or summary is not what a sweep writes, or null. */
function rowProblem(r: Pick<RunRow, "point" | "status" | "summary">): string | null {
  const point = parseObject(r.point);
  if ("problem" in point) return `its point ${point.problem}`;
  if (r.status !== "ok") return null;
  if (r.summary === null) return "it is ok but has no summary";
  const summary = parseObject(r.summary);
  return "problem" in summary ? `its summary ${summary.problem}` : null;
}

function runOf(r: RunRow): StoredRun {
  const problem = rowProblem(r);
  return {
    id: r.id,
    campaignId: r.campaign_id,
    point: r.point,
    params: (problem === null ? JSON.parse(r.point) : {}) as Params,
    seed: r.seed,
    status: r.status,
    scenarioHash: r.scenario_hash,
    fingerprint: r.fingerprint,
    summaryJson: r.summary,
    error: r.error,
    wallMs: r.wall_ms,
    finishedAt: r.finished_at,
    problem,
  };
}

/** "run 7 (point {…}, seed 2)": how messages name a row. */
export function describeRow(run: Pick<StoredRun, "id" | "point" | "seed">): string {
  const point = run.point.length > 80 ? `${run.point.slice(0, 77)}...` : run.point;
  return `run ${run.id} (point ${JSON.stringify(point)}, seed ${run.seed})`;
}

/** A row that cannot be read back: bad input, named by store path and row (exit 2 in the CLI). */
export class CorruptRowError extends SweepUsageError {}

// ---- Series encoding ----

/** Samples as little-endian float64, deflated. */
export function encodeSamples(xs: readonly number[]): Uint8Array {
  const b = Buffer.allocUnsafe(xs.length * 8);
  for (let i = 0; i < xs.length; i++) b.writeDoubleLE(xs[i]!, i * 8);
  return deflateRawSync(b);
}

export function decodeSamples(data: Uint8Array): number[] {
  const b = inflateRawSync(data);
  const out = new Array<number>(b.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = b.readDoubleLE(i * 8);
  return out;
}

/**
 * Splits a finished run into the columns the store keeps: the summary JSON without its series and
 * resolved scenario (the campaign and the point reproduce the latter), and each series encoded.
 */
export function encodeRun(point: string, summary: RunSummary): RunRecord {
  const { series, scenarioConfig: _config, ...rest } = summary;
  return {
    point,
    seed: summary.seed,
    status: "ok",
    scenarioHash: summary.scenarioHash,
    fingerprint: summary.fingerprint,
    summary: JSON.stringify(rest),
    error: null,
    wallMs: summary.wallMs,
    series: Object.entries(series).map(([name, xs]) => ({ name, data: encodeSamples(xs) })),
  };
}

/**
 * The RunSummary of a stored run, series included; scenarioConfig is null (resolve the campaign's
 * scenario with the run's parameters and seed to get it).
 */
export function decodeRun(summaryJson: string, series: readonly EncodedSeries[]): RunSummary {
  const cols: Record<string, number[]> = {};
  for (const s of series) cols[s.name] = decodeSamples(s.data);
  return { ...(JSON.parse(summaryJson) as Omit<RunSummary, "series">), series: cols as unknown as Series };
}

// ---- The store ----

export interface OpenOptions {
  /** Fail unless the file exists (for report, export, show, merge inputs). */
  mustExist?: boolean;
}

export class ResultStore {
  private readonly insertTx: (campaignId: number, r: RunRecord, finishedAt: string) => number;

  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
  ) {
    const find = db.prepare<[number, string, number], Pick<RunRow, "id" | "point" | "status" | "summary">>(
      "SELECT id, point, status, summary FROM runs WHERE campaign_id = ? AND point = ? AND seed = ?",
    );
    const unclaim = db.prepare("DELETE FROM claims WHERE campaign_id = ? AND point = ? AND seed = ?");
    const remove = db.prepare("DELETE FROM runs WHERE id = ?");
    const insert = db.prepare(
      `INSERT INTO runs (campaign_id, point, seed, status, scenario_hash, fingerprint, summary, error, wall_ms,
         finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const put = db.prepare("INSERT INTO series (run_id, name, data) VALUES (?, ?, ?)");
    // IMMEDIATE: take the write lock at BEGIN, so two writers never deadlock upgrading a read lock.
    this.insertTx = db.transaction((campaignId: number, r: RunRecord, finishedAt: string): number => {
      unclaim.run(campaignId, r.point, r.seed);
      const existing = find.get(campaignId, r.point, r.seed);
      if (existing?.status === "ok" && rowProblem(existing) === null) return existing.id;
      if (existing !== undefined) remove.run(existing.id);
      const id = Number(
        insert.run(
          campaignId,
          r.point,
          r.seed,
          r.status,
          r.scenarioHash,
          r.fingerprint,
          r.summary,
          r.error,
          r.wallMs,
          finishedAt,
        ).lastInsertRowid,
      );
      for (const s of r.series) put.run(id, s.name, s.data);
      return id;
    }).immediate;
  }

  /** Opens (or creates) a store; throws a usage error for a missing file or one that is not a store. */
  static open(path: string, opts: OpenOptions = {}): ResultStore {
    let db: Database.Database;
    try {
      db = new Database(path, { fileMustExist: opts.mustExist === true });
    } catch (e) {
      throw new SweepUsageError(`cannot open results store ${path}: ${(e as Error).message}`);
    }
    try {
      // First, so that every later statement (the WAL switch included) waits for another process's lock.
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      // One transaction: a process starting at the same moment sees no schema or all of it.
      db.transaction(() => {
        db.exec(SCHEMA);
        const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as
          | string
          | undefined;
        if (version === undefined)
          db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
        else if (version !== SCHEMA_VERSION) {
          throw new SweepUsageError(
            `${path} is a results store of schema ${version}; this vnetlab reads ${SCHEMA_VERSION}`,
          );
        }
      }).immediate();
    } catch (e) {
      db.close();
      if (e instanceof SweepUsageError) throw e;
      throw new SweepUsageError(`${path} is not a vnetlab results store: ${(e as Error).message}`);
    }
    return new ResultStore(path, db);
  }

  close(): void {
    this.db.close();
  }

  /** The campaign with this key, created from `info` when the store does not have it yet. */
  ensureCampaign(info: CampaignInfo, createdAt: string = new Date().toISOString()): Campaign {
    const existing = this.campaignByKey(info.key);
    if (existing !== undefined) return existing;
    this.db
      .prepare(
        // OR IGNORE: another process may have created it since the lookup.
        `INSERT OR IGNORE INTO campaigns (key, scenario_name, scenario_source, scenario_hash, scenario_raw, sets, grid,
           package_version, git_commit, source_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        info.key,
        info.scenarioName,
        info.source,
        info.scenarioHash,
        JSON.stringify(info.scenarioRaw),
        JSON.stringify(info.sets),
        JSON.stringify(info.grid),
        info.packageVersion,
        info.gitCommit,
        info.sourceHash,
        createdAt,
      );
    return this.campaignByKey(info.key)!;
  }

  campaignByKey(key: string): Campaign | undefined {
    const row = this.db.prepare("SELECT * FROM campaigns WHERE key = ?").get(key) as CampaignRow | undefined;
    return row === undefined ? undefined : campaignOf(row);
  }

  /** Campaigns in creation order. */
  campaigns(): Campaign[] {
    return (this.db.prepare("SELECT * FROM campaigns ORDER BY id").all() as CampaignRow[]).map(campaignOf);
  }

  /**
   * The campaign a command means: the one whose key starts with `keyPrefix`, or the newest when no
   * prefix is given. Throws a usage error when there is none or the prefix is ambiguous.
   */
  selectCampaign(keyPrefix?: string): Campaign {
    const all = this.campaigns();
    if (keyPrefix === undefined) {
      const newest = all[all.length - 1];
      if (newest === undefined) throw new SweepUsageError(`${this.path} holds no campaign yet`);
      return newest;
    }
    const found = all.filter((c) => c.key.startsWith(keyPrefix));
    if (found.length !== 1) {
      const keys = all.map((c) => c.key).join(", ") || "none";
      throw new SweepUsageError(
        `${found.length === 0 ? "no" : "more than one"} campaign in ${this.path} matches "${keyPrefix}" (campaigns: ${keys})`,
      );
    }
    return found[0]!;
  }

  /**
   * "point\0seed" of every run of the campaign (failed ones too unless `okOnly`), corrupt rows left
   * out so that they are run again.
   */
  doneKeys(campaignId: number, okOnly = false): Set<string> {
    const rows = this.db
      .prepare(
        `SELECT point, seed, status, summary FROM runs WHERE campaign_id = ?${okOnly ? " AND status = 'ok'" : ""}`,
      )
      .all(campaignId) as Pick<RunRow, "point" | "seed" | "status" | "summary">[];
    return new Set(rows.filter((r) => rowProblem(r) === null).map((r) => runKey(r.point, r.seed)));
  }

  /**
   * Claims a point for `owner` (host:pid) unless it is done (as doneKeys counts) or claimed by a live
   * owner; `isAlive(owner)` says whether another owner's process still runs. Returns whether the
   * caller now holds the claim.
   */
  claim(
    campaignId: number,
    point: string,
    seed: number,
    owner: string,
    retryFailed: boolean,
    isAlive: (owner: string) => boolean,
    now: number = Date.now(),
  ): boolean {
    return this.db
      .transaction((): boolean => {
        const run = this.db
          .prepare("SELECT point, status, summary FROM runs WHERE campaign_id = ? AND point = ? AND seed = ?")
          .get(campaignId, point, seed) as Pick<RunRow, "point" | "status" | "summary"> | undefined;
        if (run !== undefined && rowProblem(run) === null && (run.status === "ok" || !retryFailed))
          return false;
        const held = this.db
          .prepare("SELECT owner, renewed_at FROM claims WHERE campaign_id = ? AND point = ? AND seed = ?")
          .get(campaignId, point, seed) as { owner: string; renewed_at: number } | undefined;
        if (
          held !== undefined &&
          held.owner !== owner &&
          now - held.renewed_at < CLAIM_LEASE_MS &&
          isAlive(held.owner)
        )
          return false;
        this.db
          .prepare(
            "INSERT OR REPLACE INTO claims (campaign_id, point, seed, owner, renewed_at) VALUES (?, ?, ?, ?, ?)",
          )
          .run(campaignId, point, seed, owner, now);
        return true;
      })
      .immediate();
  }

  /** Keeps `owner`'s claims from going stale. */
  renewClaims(owner: string, now: number = Date.now()): void {
    this.db.prepare("UPDATE claims SET renewed_at = ? WHERE owner = ?").run(now, owner);
  }

  /** Drops `owner`'s claims (points it will not finish). */
  releaseClaims(owner: string): void {
    this.db.prepare("DELETE FROM claims WHERE owner = ?").run(owner);
  }

  /**
   * Commits one finished run with its series, atomically. A failed run already stored for the point
   * is replaced; a successful one is kept (another writer got there first) and its id returned.
   */
  insertRun(campaignId: number, r: RunRecord, finishedAt: string = new Date().toISOString()): number {
    return this.insertTx(campaignId, r, finishedAt);
  }

  /** The campaign's runs in id order (the order they finished). */
  runs(campaignId: number): StoredRun[] {
    return (
      this.db.prepare("SELECT * FROM runs WHERE campaign_id = ? ORDER BY id").all(campaignId) as RunRow[]
    ).map(runOf);
  }

  run(id: number): StoredRun | undefined {
    const row = this.db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as RunRow | undefined;
    return row === undefined ? undefined : runOf(row);
  }

  encodedSeries(runId: number): EncodedSeries[] {
    return this.db
      .prepare("SELECT name, data FROM series WHERE run_id = ? ORDER BY name")
      .all(runId) as EncodedSeries[];
  }

  /**
   * The full RunSummary of a successful run (see decodeRun); undefined for a failed one. Throws
   * CorruptRowError naming the row when it has a problem or its series do not decode.
   */
  summary(run: StoredRun): RunSummary | undefined {
    this.checkRow(run);
    if (run.summaryJson === null) return undefined;
    try {
      return decodeRun(run.summaryJson, this.encodedSeries(run.id));
    } catch (e) {
      throw new CorruptRowError(
        `${this.path}: ${describeRow(run)}: its series do not decode (${(e as Error).message})`,
      );
    }
  }

  /** Throws CorruptRowError when the row has a problem (see StoredRun.problem). */
  checkRow(run: StoredRun): void {
    if (run.problem !== null) throw new CorruptRowError(`${this.path}: ${describeRow(run)}: ${run.problem}`);
  }

  /** The run as a RunRecord, for copying into another store. */
  record(run: StoredRun): RunRecord {
    return {
      point: run.point,
      seed: run.seed,
      status: run.status,
      scenarioHash: run.scenarioHash,
      fingerprint: run.fingerprint,
      summary: run.summaryJson,
      error: run.error,
      wallMs: run.wallMs,
      series: this.encodedSeries(run.id),
    };
  }

  /** SQLite's own consistency check ("ok" when sound). */
  integrityCheck(): string {
    return this.db.pragma("integrity_check", { simple: true }) as string;
  }
}

export function runKey(point: string, seed: number): string {
  return `${point}\0${seed}`;
}
