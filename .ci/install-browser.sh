#!/usr/bin/env bash
# Installs Debian's chromium for the report's headless-browser test (src/report/report.browser.test.ts).
# Idempotent: does nothing when /usr/bin/chromium exists. Playwright never downloads a browser here.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
