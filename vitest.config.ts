import { existsSync } from "node:fs";
import { defineConfig } from "vitest/config";

// The browser tests (src/report/*.browser.test.ts) need Debian's Chromium; say so plainly when they
// will be skipped, rather than leaving a "skipped" count to be puzzled over. Under CI they fail instead.
if (!existsSync("/usr/bin/chromium") && !process.env.CI) {
  console.warn(
    "note: skipping the 2 browser tests (src/report/report.browser.test.ts, sweep.browser.test.ts): " +
      "/usr/bin/chromium is missing; `bash .ci/install-browser.sh` installs it (as root, from Debian).",
  );
}

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    testTimeout: 120_000,
    pool: "forks",
  },
});
