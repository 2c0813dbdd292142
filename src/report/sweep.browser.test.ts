/**
 * The sweep report in real headless Chromium (as report.browser.test.ts: skipped on a machine without
 * /usr/bin/chromium, a failure under CI). VNETLAB_SCREENSHOT_DIR keeps the screenshot.
 */

import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { CHROMIUM, hasChromium, openInChromium } from "./browser-testing.ts";
import { renderSweepReport, sweepCharts, sweepMaps } from "./sweep.ts";
import { syntheticSweep } from "./sweep-fixtures.ts";
import { writeReportAtomic } from "./write.ts";

test.skipIf(!hasChromium && !process.env.CI)("the sweep report renders in headless Chromium", async () => {
  if (!hasChromium) throw new Error(`${CHROMIUM} is missing: CI must run .ci/install-browser.sh`);
  const input = syntheticSweep(
    [
      { path: "guest.driver.version", values: ["v3.2", "patch1", "mainline"] },
      { path: "guest.memory", values: ["128MiB", "256MiB", "512MiB"] },
      { path: "guest.hz", values: ["100", "250"] },
    ],
    [1, 2, 3],
    1,
  );
  const dir = await mkdtemp(join(tmpdir(), "vnetlab-sweep-report-"));
  const shotDir = process.env.VNETLAB_SCREENSHOT_DIR ?? dir;
  const file = join(dir, "sweep.html");
  await writeReportAtomic(file, await renderSweepReport(input));
  const { page, problems, close } = await openInChromium(file);
  try {
    const charts = sweepCharts(input);
    const figures = page.locator("figure.chart");
    expect(await figures.count()).toBe(charts.length);
    for (let i = 0; i < charts.length; i++) {
      const box = await figures.nth(i).locator("svg").boundingBox();
      expect(box, charts[i]!.id).not.toBeNull();
      expect(box!.width).toBeGreaterThan(200);
      expect(box!.height).toBeGreaterThan(100);
    }
    const maps = sweepMaps(input);
    expect(maps.length).toBeGreaterThan(0);
    const mapFigures = page.locator("figure.map");
    expect(await mapFigures.count()).toBe(maps.length);
    for (let i = 0; i < maps.length; i++) {
      const box = await mapFigures.nth(i).locator("svg").boundingBox();
      expect(box, maps[i]!.id).not.toBeNull();
      // Three driver panels side by side.
      expect(box!.width).toBeGreaterThan(250);
      expect(box!.height).toBeGreaterThan(60);
    }
    expect(await page.locator("table.points tbody tr").count()).toBe(18);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(1200);

    await mkdir(shotDir, { recursive: true });
    const shot = join(shotDir, "sweep-report.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    console.info(`sweep report screenshot: ${shot}`);
    expect(problems).toEqual([]);
  } finally {
    await close();
    if (shotDir !== dir) await rm(dir, { recursive: true, force: true });
  }
});
