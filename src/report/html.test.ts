import { beforeAll, describe, expect, test } from "vitest";
import { compareCharts } from "./charts.ts";
import { syntheticCompare } from "./fixtures.ts";
import { escapeHtml, renderCompareReport } from "./html.ts";
import { NOT_IN_LINUX_NOTE } from "./stats.ts";

describe("renderCompareReport", () => {
  const c = syntheticCompare({ notInLinux: ["mainline"], points: 100 });
  let html = "";
  beforeAll(async () => {
    html = await renderCompareReport(c, { title: "Refill policies <under> pressure & more" });
  });

  test("is one HTML document with the title, the explanation and the summary table", () => {
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("<title>Refill policies &lt;under&gt; pressure &amp; more</title>");
    expect(html).toContain(`Scenario <code>${c.scenario}</code> run with 4 virtio_net driver versions`);
    const summary = /<table class="summary">[\s\S]*?<\/table>/.exec(html)![0];
    expect(summary.match(/<tr>/g)).toHaveLength(1 + c.drivers.length);
    for (const d of c.drivers) expect(summary).toContain(`<td>${d}`);
    expect(summary).toContain("mainline*");
    expect(summary).toContain(" ± ");
  });

  test("has one inline <svg> per chart, each in its figure", () => {
    const ids = compareCharts(c).map((ch) => ch.id);
    expect(html.match(/<svg\b/g)).toHaveLength(ids.length);
    for (const id of ids)
      expect(html).toMatch(new RegExp(`<figure class="chart" id="chart-${id}"[^>]*>\\s*<svg`));
  });

  test("references no external resource: no scripts, links or URLs but the SVG namespaces", () => {
    const withoutXmlns = html.replace(/\sxmlns(:\w+)?="[^"]*"/g, "");
    expect(withoutXmlns).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\((?!#)/i);
    expect(html).not.toMatch(/\ssrc=/i);
  });

  test("lists every run with its fingerprint and the resolved scenario in a <details>", () => {
    const runs = /<table class="runs">[\s\S]*?<\/table>/.exec(html)![0];
    for (const r of c.runs) expect(runs).toContain(r.fingerprint);
    const details = html.match(/<details id="scenario-\d+">[\s\S]*?<\/details>/g)!;
    expect(details).toHaveLength(new Set(c.runs.map((r) => r.scenarioHash)).size);
    expect(details[0]).toContain(escapeHtml(JSON.stringify(c.runs[0]!.scenarioConfig, null, 2)));
  });

  test("ends with the not-in-Linux footnote only when such a driver ran", async () => {
    expect(html).toMatch(new RegExp(`<footer>.*\\* ${NOT_IN_LINUX_NOTE}.*</footer>`));
    const linuxOnly = await renderCompareReport(
      syntheticCompare({ drivers: ["v3.2"], seeds: [1], points: 10 }),
    );
    expect(linuxOnly).not.toContain(NOT_IN_LINUX_NOTE);
  });

  test("escapes names from the input everywhere, charts included", async () => {
    const evil = '<img src=x onerror="alert(1)">&';
    const base = syntheticCompare({ drivers: [evil], seeds: [1], points: 10 });
    const run = base.runs[0]!;
    const hostile = {
      ...base,
      scenario: "</script><b>",
      runs: [
        { ...run, fingerprint: "<i>fp</i>", scenarioHash: '"><b>', scenarioConfig: { note: "</pre><b>" } },
      ],
    };
    const out = await renderCompareReport(hostile);
    expect(out).not.toContain("<img");
    expect(out).not.toContain("<b>");
    expect(out).not.toContain("<i>");
    expect(out).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;");
  });
});

describe("escapeHtml", () => {
  test("escapes the five HTML-significant characters and nothing else", () => {
    expect(escapeHtml(`a<b>&"c"'d' ü –`)).toBe("a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39; ü –");
  });
});
