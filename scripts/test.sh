#!/usr/bin/env bash
# The whole test suite: installs what is missing (including PostgreSQL's server binaries when
# neither they nor AIRLOCK_TEST_PG_URL are there, and promtool for the metrics test), checks formatting and lint, checks for import cycles,
# typechecks, runs every test, builds every package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export COREPACK_INTEGRITY_KEYS=0

if [ -z "${AIRLOCK_TEST_PG_URL:-}" ] && [ "${AIRLOCK_TEST_PG:-}" != "off" ] \
  && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[airlock] installing PostgreSQL server binaries for the tests"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
fi

# the /metrics test runs the real `promtool check metrics` (Debian's prometheus package ships it)
if [ "${AIRLOCK_TEST_PROMTOOL:-}" != "off" ] && ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[airlock] installing promtool (Debian's prometheus package) for the metrics test"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  fi
fi

echo "[airlock] format and lint (pnpm lint:fix rewrites what it can)"
pnpm -s lint
echo "[airlock] import cycles"
pnpm -s check:cycles
echo "[airlock] typecheck"
pnpm -s typecheck
echo "[airlock] tests"
report="$(mktemp)"
status=0
pnpm -s exec vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || true
rm -f "$report"
[ "$status" = "0" ] || exit "$status"
echo "[airlock] build"
pnpm -s build >/dev/null
echo "[airlock] consumer typecheck against the built packages"
pnpm -s exec tsc -p examples/consumer/tsconfig.json
echo "[airlock] all green"
