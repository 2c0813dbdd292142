// Reads a vnetlab results store for scripts/test-cluster.sh, one line per run, sorted, so that stores can
// be compared with diff. Read-only: safe on the store of a task that is still running (WAL).
//   node scripts/cluster-store.mjs rows STORE     campaign, point, seed, status, fingerprint, series count
//                                                 and a hash of the summary without its wall-clock fields
//   node scripts/cluster-store.mjs points STORE   point and seed of each run
//   node scripts/cluster-store.mjs count STORE    number of runs (0 when the file is not there yet)
//   node scripts/cluster-store.mjs wait STORE N   returns once the store holds N runs (polls every 0.1 s,
//                                                 in one process: quick enough to catch a task mid-run)
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import Database from "better-sqlite3";

const [what, path] = process.argv.slice(2);
if (!["rows", "points", "count", "wait"].includes(what) || path === undefined) {
  console.error("usage: node scripts/cluster-store.mjs rows|points|count STORE | wait STORE N");
  process.exit(2);
}
function count() {
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT count(*) AS n FROM runs").get().n;
  } catch {
    return 0; // the task has created the file but not its tables yet
  } finally {
    db.close();
  }
}
if (what === "count") {
  console.log(count());
  process.exit(0);
}
if (what === "wait") {
  const n = Number(process.argv[4]);
  while (count() < n) await new Promise((r) => setTimeout(r, 100));
  process.exit(0);
}
const db = new Database(path, { readonly: true, fileMustExist: true });
const runs = db
  .prepare(
    `SELECT c.key, r.point, r.seed, r.status, r.fingerprint, r.summary,
            (SELECT count(*) FROM series s WHERE s.run_id = r.id) AS series
       FROM runs r JOIN campaigns c ON c.id = r.campaign_id`,
  )
  .all();
const lines = runs.map((r) => {
  if (what === "points") return `${r.point} seed=${r.seed}`;
  // wallMs and eventsPerSecond measure the machine, not the model.
  const { wallMs, eventsPerSecond, ...summary } = JSON.parse(r.summary ?? "{}");
  const digest = createHash("sha256").update(JSON.stringify(summary)).digest("hex").slice(0, 16);
  return `${r.key} ${r.point} seed=${r.seed} ${r.status} fingerprint=${r.fingerprint} series=${r.series} summary=${digest}`;
});
console.log(lines.sort().join("\n"));
