import { describe, expect, test } from "vitest";
import { exportCsv, exportJsonl, type ExportRun, flattenSummary } from "./sweep-export.ts";
import { syntheticSweep } from "./sweep-fixtures.ts";

const input = syntheticSweep(
  [
    { path: "guest.driver.version", values: ["v3.2", "patch1"] },
    { path: "guest.memory", values: ["128MiB", "256MiB"] },
  ],
  [1, 2],
  1,
);
const runs: ExportRun[] = input.runs.map((r) => ({
  ...r,
  fingerprint: r.summary?.fingerprint ?? null,
  wallMs: 12.5,
}));

/** RFC 4180 parser for the checks (quoted fields with doubled quotes, CRLF records). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += ch;
  }
  return rows;
}

describe("CSV", () => {
  test("one row per run; grid axes, then the summary's scalar leaves", () => {
    const rows = parseCsv(exportCsv(input.campaign, runs));
    expect(rows).toHaveLength(1 + 8);
    const [header, ...body] = rows;
    expect(header!.slice(0, 5)).toEqual(["run", "campaign", "guest.driver.version", "guest.memory", "seed"]);
    expect(header).toContain("summary.host.qdiscDrops");
    expect(header).toContain("summary.memory.allocFail.GFP_ATOMIC");
    expect(header!.some((h) => h.startsWith("summary.flows") || h.startsWith("summary.series"))).toBe(false);
    for (const r of body) expect(r).toHaveLength(header!.length);
    const col = (name: string) => header!.indexOf(name);
    const failed = body.find((r) => r[col("status")] === "failed")!;
    expect(failed[col("error")]).toBe("ModelError: synthetic failure");
    expect(failed[col("summary.goodputBps")]).toBe("");
    const ok = body.find((r) => r[col("run")] === "2")!;
    expect(Number(ok[col("summary.goodputBps")])).toBe(input.runs[1]!.summary!.goodputBps);
  });

  test("fields with commas, quotes or line breaks are quoted", () => {
    const odd = [{ ...runs[0]!, params: { "guest.driver.version": 'a,"b"', "guest.memory": "x\ny" } }];
    const rows = parseCsv(exportCsv(input.campaign, odd));
    expect(rows[1]!.slice(2, 4)).toEqual(['a,"b"', "x\ny"]);
  });

  test("flattenSummary keeps scalars and leaves out lists", () => {
    const flat = flattenSummary(input.runs[1]!.summary!);
    expect(flat.get("stalls.totalMs")).toBe(input.runs[1]!.summary!.stalls.totalMs);
    expect(flat.get("driverNotInLinux")).toBe(false);
    expect([...flat.keys()].filter((k) => /flows|refillRunTimes|series|scenarioConfig/.test(k))).toEqual([]);
  });
});

describe("JSON Lines", () => {
  test("one object per run, series only on request", () => {
    const without = exportJsonl(input.campaign, runs, false)
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(without).toHaveLength(8);
    expect(without[0]).toMatchObject({
      run: 1,
      status: "failed",
      summary: null,
      campaign: input.campaign.key,
    });
    expect(without[1].summary.series).toBeUndefined();
    expect(without[1].summary.flows).toHaveLength(4);
    const withSeries = JSON.parse(exportJsonl(input.campaign, runs.slice(1, 2), true));
    expect(withSeries.summary.series.t).toEqual(input.runs[1]!.summary!.series.t);
  });
});
