#!/usr/bin/env bash
# The whole test suite, on real PostgreSQL and RabbitMQ started by the tests themselves: ./test.sh [dotnet test options]
# Installs PostgreSQL, RabbitMQ and Chromium first when they are missing (see scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --with-browser
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test Harness.sln -c Release --nologo "$@" 2>&1 | tee "$log" || status=$?
# One plain closing line, whatever the test runner prints above it.
summary=$(grep -E '(Passed|Failed)!? +- +Failed: +[0-9]+, +Passed: +[0-9]+' "$log" | tail -n 1 || true)
if [ -n "$summary" ]; then
  failed=$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$summary")
  passed=$(sed -E 's/.*Passed: +([0-9]+).*/\1/' <<<"$summary")
  skipped=$(sed -E 's/.*Skipped: +([0-9]+).*/\1/' <<<"$summary")
  echo "$passed passed, $failed failed, $skipped skipped"
fi
exit $status
