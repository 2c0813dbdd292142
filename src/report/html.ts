/**
 * The comparison report as one self-contained HTML document: inline CSS and inline SVG charts, no
 * scripts and no external resources, so it opens offline and can be archived with the results.
 */

import type { CompareResult, RunSummary } from "../run/types.ts";
import { formatWarning } from "../scenario/schema.ts";
import { type EmptyChart, type RenderedChart, renderCompareCharts } from "./charts.ts";
import {
  driverLabel,
  formatNumber,
  goodputMbps,
  NOT_IN_LINUX_MARK,
  NOT_IN_LINUX_NOTE,
  summaryTable,
} from "./stats.ts";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; margin: 0; background: #fafafa; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 .4em; }
h2 { font-size: 1.2em; margin: 1.8em 0 .6em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .4em 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td { white-space: nowrap; }
.note { color: #555; font-size: .9em; }
figure.chart { margin: 1em 0 1.6em; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figure.chart figcaption { color: #555; font-size: .85em; }
details { margin: .4em 0; }
details pre { background: #f6f6f6; padding: 10px; overflow-x: auto; max-height: 480px; }
footer { margin-top: 2em; }
`;

function tableHtml(
  cls: string,
  header: readonly string[],
  rows: readonly (readonly string[])[],
  numeric: readonly boolean[],
): string {
  const cell = (tag: "th" | "td", html: string, i: number): string =>
    numeric[i] ? `<${tag} class="num">${html}</${tag}>` : `<${tag}>${html}</${tag}>`;
  const head = `<tr>${header.map((h, i) => cell("th", escapeHtml(h), i)).join("")}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((html, i) => cell("td", html, i)).join("")}</tr>`).join("\n");
  return `<div class="table-wrap"><table class="${cls}">\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`;
}

function summarySection(c: CompareResult): string {
  const t = summaryTable(c);
  const table = tableHtml(
    "summary",
    t.columns.map((col) => col.header),
    t.rows.map((r) => r.map(escapeHtml)),
    t.columns.map((col) => col.numeric),
  );
  const notes = t.notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join("\n");
  return `<h2>Summary</h2>\n${table}\n${notes}`;
}

function chartsSection(charts: readonly (RenderedChart | EmptyChart)[]): string {
  const figures = charts.map((ch) =>
    "empty" in ch
      ? `<p class="note empty-chart" data-chart="${escapeHtml(ch.id)}"><strong>${escapeHtml(ch.title)}:</strong> ${escapeHtml(ch.empty)}</p>`
      : `<figure class="chart" id="chart-${escapeHtml(ch.id)}" data-chart="${escapeHtml(ch.id)}">
${ch.svg}
<figcaption>${escapeHtml(ch.caption)}</figcaption>
</figure>`,
  );
  return `<h2>Charts</h2>\n${figures.join("\n")}`;
}

/** Distinct resolved scenarios by scenarioHash, in first-seen order. */
function scenarioGroups(c: CompareResult): { hash: string; config: unknown; runs: RunSummary[] }[] {
  const groups = new Map<string, { hash: string; config: unknown; runs: RunSummary[] }>();
  for (const r of c.runs) {
    const g = groups.get(r.scenarioHash);
    if (g === undefined)
      groups.set(r.scenarioHash, { hash: r.scenarioHash, config: r.scenarioConfig, runs: [r] });
    else g.runs.push(r);
  }
  return [...groups.values()];
}

function prettyJson(x: unknown): string {
  try {
    return JSON.stringify(x, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2) ?? "undefined";
  } catch (e) {
    return `(not serialisable: ${(e as Error).message})`;
  }
}

function runsSection(c: CompareResult): string {
  const groups = scenarioGroups(c);
  const anchor = new Map(groups.map((g, i) => [g.hash, `scenario-${i + 1}`]));
  const rows = c.runs.map((r) => {
    const id = anchor.get(r.scenarioHash)!;
    return [
      escapeHtml(driverLabel(r.driver, r.driverNotInLinux)),
      escapeHtml(String(r.seed)),
      `<span class="mono">${escapeHtml(r.fingerprint)}</span>`,
      `<a href="#${id}" class="mono">${escapeHtml(r.scenarioHash)}</a>`,
      escapeHtml(formatNumber(goodputMbps(r))),
      escapeHtml(formatNumber(r.simulatedNs / 1e9)),
      escapeHtml(String(r.events)),
      escapeHtml(formatNumber(r.wallMs / 1e3)),
    ];
  });
  const table = tableHtml(
    "runs",
    ["driver", "seed", "fingerprint", "scenario hash", "goodput Mbit/s", "simulated s", "events", "wall s"],
    rows,
    [false, true, false, false, true, true, true, true],
  );
  const details = groups.map((g) => {
    const who = g.runs.map((r) => `${driverLabel(r.driver, r.driverNotInLinux)} seed ${r.seed}`).join(", ");
    return `<details id="${anchor.get(g.hash)!}">
<summary>Resolved scenario <span class="mono">${escapeHtml(g.hash)}</span> (${escapeHtml(who)})</summary>
<pre>${escapeHtml(prettyJson(g.config))}</pre>
</details>`;
  });
  return `<h2>Runs</h2>\n${table}\n<h3>Resolved scenarios</h3>\n${details.join("\n")}`;
}

function introduction(c: CompareResult): string {
  const first = c.runs[0];
  const duration =
    first === undefined
      ? ""
      : ` Each run simulates ${formatNumber(first.simulatedNs / 1e9)} s; goodput counts what the ` +
        `applications read after a ${formatNumber(first.warmupNs / 1e9)} s warm-up.`;
  const names = c.drivers.map((d) => {
    const notInLinux = c.runs.some((r) => r.driver === d && r.driverNotInLinux);
    return `<code>${escapeHtml(driverLabel(d, notInLinux))}</code>`;
  });
  return (
    `<p>Scenario <code>${escapeHtml(c.scenario)}</code> run with ${c.drivers.length} virtio_net driver ` +
    `versions (${names.join(", ")}) over ${c.seeds.length} seeds (${escapeHtml(c.seeds.join(", "))}). ` +
    "Everything but the driver is the same for a given seed, so the differences below come from how " +
    `each driver refills its receive ring when memory is short.${escapeHtml(duration)}</p>`
  );
}

/** The scenario's validation warnings (the same for every run of it), once each. */
function warningsSection(c: CompareResult): string {
  const lines = new Set(c.runs.flatMap((r) => r.warnings.map(formatWarning)));
  return [...lines]
    .map((l) => `<p class="note warning"><strong>Warning:</strong> ${escapeHtml(l)}</p>`)
    .join("\n");
}

export interface ReportOptions {
  title?: string;
}

/** Renders the whole comparison report (charts included) to one HTML string. */
export async function renderCompareReport(c: CompareResult, opts: ReportOptions = {}): Promise<string> {
  const title = opts.title ?? `vnetlab: ${c.scenario}, ${c.drivers.join(" vs ")}`;
  const charts = await renderCompareCharts(c);
  const footnote = c.runs.some((r) => r.driverNotInLinux)
    ? `<footer><p class="note">${escapeHtml(`${NOT_IN_LINUX_MARK} ${NOT_IN_LINUX_NOTE}`)}</p></footer>`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${introduction(c)}
${warningsSection(c)}
${summarySection(c)}
${chartsSection(charts)}
${runsSection(c)}
${footnote}
</main>
</body>
</html>
`;
}
