/**
 * Sweep results as flat files: CSV (one row per run, the summary's scalar counters as dotted columns)
 * for spreadsheets and data frames, and JSON Lines (one object per run, the summary whole) for scripts.
 */

import type { Params } from "../run/grid.ts";
import type { CampaignInfo } from "../run/store.ts";
import type { RunSummary } from "../run/types.ts";

export interface ExportRun {
  id: number;
  params: Params;
  seed: number;
  status: "ok" | "failed";
  fingerprint: string | null;
  wallMs: number;
  error: string | null;
  /** Undefined for a failed run. */
  summary: RunSummary | undefined;
}

type Scalar = number | string | boolean;

/**
 * The scalar leaves of a summary as "host.qdiscDrops" → value, in the summary's key order. Lists (flows,
 * refill times, series) and the resolved scenario are left out: they are not one value per run.
 */
export function flattenSummary(s: RunSummary): Map<string, Scalar> {
  const out = new Map<string, Scalar>();
  const walk = (v: unknown, prefix: string): void => {
    if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") out.set(prefix, v);
    else if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) walk(x, prefix === "" ? k : `${prefix}.${k}`);
    }
  };
  const { series: _series, scenarioConfig: _config, ...rest } = s;
  walk(rest, "");
  return out;
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
function csvField(v: Scalar | null | undefined): string {
  if (v === null || v === undefined) return "";
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Fixed columns, one per grid axis, then every summary leaf that any run has (first-seen order). */
export function exportCsv(campaign: CampaignInfo, runs: readonly ExportRun[]): string {
  const axes = campaign.grid.map((a) => a.path);
  const flat = runs.map((r) =>
    r.summary === undefined ? new Map<string, Scalar>() : flattenSummary(r.summary),
  );
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const f of flat) {
    for (const k of f.keys()) {
      if (!seen.has(k)) {
        seen.add(k);
        columns.push(k);
      }
    }
  }
  const fixed = ["run", "campaign", ...axes, "seed", "status", "fingerprint", "wall_ms", "error"];
  const lines = [[...fixed, ...columns.map((c) => `summary.${c}`)].map(csvField).join(",")];
  runs.forEach((r, i) => {
    const head: (Scalar | null)[] = [
      r.id,
      campaign.key,
      ...axes.map((a) => r.params[a] ?? null),
      r.seed,
      r.status,
      r.fingerprint,
      r.wallMs,
      r.error === null ? null : (r.error.split("\n")[0] ?? ""),
    ];
    const f = flat[i]!;
    lines.push([...head, ...columns.map((c) => f.get(c))].map(csvField).join(","));
  });
  return `${lines.join("\r\n")}\r\n`;
}

/** One JSON object per run; with `series` false the sampled series are left out. */
export function exportJsonl(campaign: CampaignInfo, runs: readonly ExportRun[], series: boolean): string {
  return runs
    .map((r) => {
      let summary: unknown = null;
      if (r.summary !== undefined) {
        const { series: s, scenarioConfig: _config, ...rest } = r.summary;
        summary = series ? { ...rest, series: s } : rest;
      }
      const row = {
        run: r.id,
        campaign: campaign.key,
        params: r.params,
        seed: r.seed,
        status: r.status,
        fingerprint: r.fingerprint,
        wallMs: r.wallMs,
        error: r.error,
        summary,
      };
      return `${JSON.stringify(row)}\n`;
    })
    .join("");
}
