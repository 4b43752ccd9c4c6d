#!/usr/bin/env bash
# The browser test-suite: node's test runner, playwright-core driving Debian's Chromium.
#   bash tests/browser/run.sh OUTDIR
# Installs the npm dependencies (npm ci, from package-lock.json) when node_modules is
# missing, runs every tests/browser/*.test.mjs, prints the spec report, writes
# OUTDIR/browser.junit.xml and exits non-zero when a test failed.
# Environment: INTERVENE_BIN (default build/intervene), CHROMIUM (default
# /usr/bin/chromium), SCREENSHOT_DIR (default build/screenshots).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-}"
if [ -z "$OUT" ]; then
	echo "usage: bash tests/browser/run.sh OUTDIR" >&2
	exit 2
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cd "$HERE" || exit 2
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ]; then
	npm ci --no-audit --no-fund >"$OUT/browser.npm.log" 2>&1 || {
		echo "tests/browser: npm ci failed:" >&2
		tail -20 "$OUT/browser.npm.log" >&2
		exit 1
	}
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	echo "tests/browser: no Chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)" >&2
	exit 1
fi
# One file at a time: each starts its own server, and the performance figures are
# taken on an otherwise idle machine.
exec node --test --test-concurrency=1 --test-timeout=180000 \
	--test-reporter=spec --test-reporter-destination=stdout \
	--test-reporter=junit --test-reporter-destination="$OUT/browser.junit.xml" \
	./*.test.mjs
