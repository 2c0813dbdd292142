/**
 * Shared by the sweep's tests: a scenario whose runs take a fraction of a second and whose results
 * depend on the seed (Bernoulli loss), and a view of a store's rows that leaves out what legitimately
 * differs between two sweeps of the same points (run ids, wall times, finish times).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canonicalJson } from "../scenario/load.ts";
import { ResultStore } from "./store.ts";

export const SMALL_SCENARIO = `# Two lossy flows for half a second: quick, and the seed matters.
name: sweep-test
duration: 500ms
warmup: 100ms
network:
  senders:
    - { name: s, count: 2, rtt: 2ms, loss: 0.001 }
`;

/** Two drivers × two loss rates. */
export const SMALL_GRID = ["guest.driver.version=v3.2,patch1", "network.senders[0].loss=0.001,0.02"];

/** A fresh temp directory holding small.yaml; returns the directory. */
export function scenarioDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "vnetlab-sweep-"));
  writeFileSync(join(dir, "small.yaml"), SMALL_SCENARIO);
  return dir;
}

/**
 * One line per run of every campaign: campaign key, point, seed, status, fingerprint, the summary
 * without its timing fields, and a hash of the series blobs; sorted.
 */
export function comparableRows(path: string): string[] {
  const store = ResultStore.open(path, { mustExist: true });
  try {
    return store
      .campaigns()
      .flatMap((c) =>
        store.runs(c.id).map((r) => {
          let summary = "";
          if (r.summaryJson !== null) {
            const {
              wallMs: _w,
              eventsPerSecond: _e,
              ...rest
            } = JSON.parse(r.summaryJson) as Record<string, unknown>;
            summary = canonicalJson(rest);
          }
          const series = createHash("sha256");
          for (const s of store.encodedSeries(r.id)) series.update(s.name).update(s.data);
          return [c.key, r.point, r.seed, r.status, r.fingerprint, summary, series.digest("hex")].join(" | ");
        }),
      )
      .sort();
  } finally {
    store.close();
  }
}
