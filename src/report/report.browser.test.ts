/**
 * Opens a rendered report in real headless Chromium (Debian's /usr/bin/chromium, installed by
 * .ci/install-browser.sh; playwright-core never downloads a browser). Skipped on a developer machine
 * without it; under CI a missing browser is a failure. VNETLAB_SCREENSHOT_DIR keeps the screenshot
 * somewhere chosen (default: a fresh temp dir, printed).
 */

import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { CHROMIUM, hasChromium, openInChromium } from "./browser-testing.ts";
import { compareCharts } from "./charts.ts";
import { syntheticCompare } from "./fixtures.ts";
import { renderCompareReport } from "./html.ts";
import { writeReportAtomic } from "./write.ts";

test.skipIf(!hasChromium && !process.env.CI)("the report renders in headless Chromium", async () => {
  if (!hasChromium) throw new Error(`${CHROMIUM} is missing: CI must run .ci/install-browser.sh`);
  const c = syntheticCompare({ notInLinux: ["mainline"], points: 300 });
  const dir = await mkdtemp(join(tmpdir(), "vnetlab-report-"));
  const shotDir = process.env.VNETLAB_SCREENSHOT_DIR ?? dir;
  const file = join(dir, "report.html");
  await writeReportAtomic(file, await renderCompareReport(c));
  const { page, problems, close } = await openInChromium(file);
  try {
    expect(await page.title()).toContain(c.scenario);
    expect(await page.locator("table.summary tbody tr").count()).toBe(c.drivers.length);

    const all = compareCharts(c);
    const expected = all.filter((ch) => !("empty" in ch)).map((ch) => ch.id);
    // The close-up of the first stall and the small multiples are drawn, not replaced by a sentence.
    expect(expected).toContain("first-stall");
    expect(await page.locator("p.empty-chart").count()).toBe(all.length - expected.length);
    const charts = page.locator("figure.chart");
    expect(await charts.count()).toBe(expected.length);
    expect(await page.locator("svg").count()).toBe(expected.length);
    for (let i = 0; i < expected.length; i++) {
      const fig = charts.nth(i);
      expect(await fig.getAttribute("data-chart")).toBe(expected[i]);
      const box = await fig.locator("svg").boundingBox();
      expect(box, expected[i]).not.toBeNull();
      expect(box!.width).toBeGreaterThan(100);
      expect(box!.height).toBeGreaterThan(50);
    }
    // One panel per driver: the goodput multiples are taller than a single chart.
    const goodput = await page.locator('figure[data-chart="goodput"] svg').boundingBox();
    expect(goodput!.height).toBeGreaterThan(c.drivers.length * 60);
    const closeup = await page.locator('figure[data-chart="first-stall"] svg').boundingBox();
    expect(closeup!.height).toBeGreaterThan(4 * 80);

    // Nothing wider than the window (tables scroll inside their own box).
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(1200);

    await mkdir(shotDir, { recursive: true });
    const shot = join(shotDir, "report.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    console.info(`report screenshot: ${shot}`);
    expect(problems).toEqual([]);
  } finally {
    await close();
    if (shotDir !== dir) await rm(dir, { recursive: true, force: true });
  }
});
