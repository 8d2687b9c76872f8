#!/usr/bin/env bash
# Debian's Chromium, for the web UI tests (tests/web/test_ui.py) and benchmarks/bench_ui.py:
# Playwright drives /usr/bin/chromium (its own browser download is not reachable).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo unknown))"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# refresh the package lists only when apt does not know the package yet
if ! apt-cache show chromium >/dev/null 2>&1; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
[ -x /usr/bin/chromium ] || { echo "chromium: installed, but /usr/bin/chromium is missing" >&2; exit 1; }
echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo unknown))"
