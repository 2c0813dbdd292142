/**
 * Opening a report in real headless Chromium for the browser tests: Debian's /usr/bin/chromium
 * (installed by .ci/install-browser.sh; playwright-core never downloads a browser), started the way
 * this machine needs (no sandbox as root, no background networking on a closed network).
 */
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = existsSync(CHROMIUM);

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface OpenedReport {
  page: Page;
  /** Console errors, page errors and requests for anything but the file itself (external resources). */
  problems: string[];
  close(): Promise<void>;
}

/** Loads an HTML file in a 1200 × 900 window and records what went wrong while it rendered. */
export async function openInChromium(file: string): Promise<OpenedReport> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems: string[] = [];
  const url = pathToFileURL(file).href;
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page: ${e.message}`));
  page.on("request", (r) => {
    if (r.url() !== url) problems.push(`request: ${r.url()}`);
  });
  await page.goto(url, { waitUntil: "load" });
  return { page, problems, close: () => browser.close() };
}
