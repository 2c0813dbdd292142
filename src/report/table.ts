/**
 * Plain-text tables for the terminal: the per-driver comparison and the summary of a single run.
 * Cells come from stats.ts, which the HTML report uses too.
 */

import type { CompareResult, RunSummary, UploadSummary } from "../run/types.ts";
import {
  atomicAllocFailures,
  driverLabel,
  formatNumber,
  goodputMbps,
  hostDrops,
  MISSING,
  medianRefillSpacingMs,
  NOT_IN_LINUX_MARK,
  NOT_IN_LINUX_NOTE,
  rtoCount,
  summaryTable,
} from "./stats.ts";

/** Aligns columns two spaces apart, numbers to the right; a dashed rule under the header. */
export function alignColumns(
  header: readonly string[],
  rows: readonly string[][],
  numeric: readonly boolean[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** One row per driver: goodput with its 95 % CI, drops, stalls, refill_work, RTOs, atomic failures. */
export function formatCompareTable(c: CompareResult): string {
  const t = summaryTable(c);
  const title = `scenario ${c.scenario}: ${c.drivers.length} drivers × ${c.seeds.length} seeds`;
  const table = alignColumns(
    t.columns.map((col) => col.header),
    t.rows,
    t.columns.map((col) => col.numeric),
  );
  return [title, "", table, "", ...t.notes].join("\n");
}

/** A single run: what ran, its headline counters, and one row per flow. */
/** Failures the scenario's fault injectors caused: the total, then the sites that had any. */
function injectedText(r: RunSummary): string {
  const total = r.faults.alloc.reduce((n, a) => n + a.injected, 0);
  const sites = Object.entries(r.faults.injectedBySite)
    .filter(([, n]) => n > 0)
    .map(([site, n]) => `${site} ${formatNumber(n)}`);
  return sites.length > 0 ? `${formatNumber(total)} (${sites.join(", ")})` : formatNumber(total);
}

export function formatRunTable(r: RunSummary): string {
  const spacing = medianRefillSpacingMs([r]);
  const facts: [string, string][] = [
    ["scenario", r.scenario],
    ["driver", driverLabel(r.driver, r.driverNotInLinux)],
    ["seed", String(r.seed)],
    ["simulated s", formatNumber(r.simulatedNs / 1e9)],
    ["warm-up s", formatNumber(r.warmupNs / 1e9)],
    ["events", String(r.events)],
    ["events/s (wall)", formatNumber(Math.round(r.eventsPerSecond))],
    ["goodput Mbit/s", formatNumber(goodputMbps(r))],
    ["host drops", formatNumber(hostDrops(r))],
    [
      "stalls",
      `${r.stalls.count} (${formatNumber(r.stalls.totalMs / 1e3)} s, longest ${formatNumber(r.stalls.longestMs)} ms)`,
    ],
    [
      "refill_work runs",
      `${r.refillRunTimes.length} (median spacing ${spacing === null ? MISSING : `${formatNumber(spacing)} ms`})`,
    ],
    ["RTOs", String(rtoCount(r))],
    ["atomic alloc fails", formatNumber(atomicAllocFailures(r))],
    [
      "alloc warnings",
      `${formatNumber(Number(r.memory.allocfail_warned ?? 0))} printed, ` +
        `${formatNumber(Number(r.memory.allocfail_warn_suppressed ?? 0))} rate-limited`,
    ],
    ...(r.faults.alloc.length > 0 ? [["injected fails", injectedText(r)] as [string, string]] : []),
    ...(r.uploads !== undefined ? [["uploads", uploadsText(r.uploads)] as [string, string]] : []),
    ["fingerprint", r.fingerprint],
  ];
  const keyWidth = Math.max(...facts.map(([k]) => k.length));
  const head = facts.map(([k, v]) => `${k.padEnd(keyWidth)}  ${v}`).join("\n");
  const flows = alignColumns(
    ["flow", "group", "app", "RTT ms", "goodput Mbit/s", "segments", "retrans", "RTOs", "fast rtx", "cwnd"],
    r.flows.map((f) => [
      String(f.id),
      String(f.group),
      f.app,
      formatNumber(f.rttNs / 1e6),
      formatNumber(f.goodputBps / 1e6),
      String(f.segmentsSent),
      String(f.retransmits),
      String(f.timeouts),
      String(f.fastRetransmits),
      formatNumber(f.cwndMean),
    ]),
    [true, true, false, true, true, true, true, true, true, true],
  );
  const uploads = r.uploads === undefined ? [] : ["", uploadsTable(r.uploads)];
  const notes = r.driverNotInLinux ? ["", `${NOT_IN_LINUX_MARK} ${NOT_IN_LINUX_NOTE}`] : [];
  return [head, "", flows, ...uploads, ...notes].join("\n");
}

/** The guest's uploads in one line: how many, their acknowledged rate, and what held them back. */
function uploadsText(ups: readonly UploadSummary[]): string {
  let bps = 0;
  let retrans = 0;
  let rtos = 0;
  let waits = 0;
  for (const u of ups) {
    bps += u.goodputBps;
    retrans += u.retransmits;
    rtos += u.timeouts;
    waits += u.sndbufWaits;
  }
  return (
    `${ups.length} flows, ${formatNumber(bps / 1e6)} Mbit/s acked, ${formatNumber(retrans)} retrans, ` +
    `${formatNumber(rtos)} RTOs, ${formatNumber(waits)} sndbuf waits`
  );
}

/** One row per upload: the guest's sending sockets (src/guest/net/tcp/sender.ts). */
function uploadsTable(ups: readonly UploadSummary[]): string {
  return alignColumns(
    [
      "upload",
      "peer flow",
      "app",
      "acked Mbit/s",
      "segments",
      "retrans",
      "RTOs",
      "sndbuf waits",
      "wmem max KiB",
      "clone fails",
    ],
    ups.map((u) => [
      String(u.flow),
      String(u.peerFlow),
      u.app,
      formatNumber(u.goodputBps / 1e6),
      String(u.segmentsSent),
      String(u.retransmits),
      String(u.timeouts),
      String(u.sndbufWaits),
      formatNumber(u.wmemQueuedMax / 1024),
      String(u.cloneFailures),
    ]),
    [true, true, false, true, true, true, true, true, true, true],
  );
}
