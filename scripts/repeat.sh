#!/usr/bin/env bash
# Runs one scenario N times in a row and prints each run's verdicts: the way to show a scenario is stable, not lucky.
#   scripts/repeat.sh SCENARIO N [scenario options…]      e.g. scripts/repeat.sh crash-after-commit 10 --impl all
# Each run writes its folder under reports/repeat-<time>-<scenario>/. Exits 0 only when every run exited 0.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/repeat.sh SCENARIO N [scenario options…]" >&2; exit 2; }
[ $# -ge 2 ] || usage
scenario=$1
count=$2
shift 2
[[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "error: N must be a whole number of runs of at least 1, not '$count'" >&2; exit 2; }
for arg in "$@"; do
  [ "$arg" != "--reports" ] || { echo "error: repeat.sh chooses the reports folder itself; leave out --reports" >&2; exit 2; }
done

scripts/setup.sh
dotnet build harness/Harness.csproj -c Release -nologo -v quiet -clp:ErrorsOnly >&2
reports="reports/repeat-$(date -u +%Y%m%d-%H%M%S)-$(basename "$scenario" .yaml)"
mkdir -p "$reports"

# "implementation verdict" for each run in a result.json, whatever its indentation.
verdicts() {
  grep -oE '"(implementation|verdict)": *"[^"]*"' "$1" | sed -E 's/.*: *"([^"]*)"/\1/' | paste -d' ' - -
}

failures=0
for i in $(seq 1 "$count"); do
  before=$(ls "$reports")
  started=$SECONDS
  status=0
  dotnet harness/bin/Release/net10.0/harness.dll scenario "$scenario" --reports "$reports" "$@" >"$reports/run-$i.log" 2>&1 || status=$?
  folder=$(comm -13 <(echo "$before") <(ls "$reports") | grep -v '^run-' | head -n 1 || true)
  line="run $i/$count: exit $status in $((SECONDS - started)) s"
  if [ -n "$folder" ] && [ -f "$reports/$folder/result.json" ]; then
    line+=" —$(verdicts "$reports/$folder/result.json" | sed 's/^/ /' | paste -sd',' -)"
  else
    line+=" — no result.json (see $reports/run-$i.log)"
  fi
  echo "$line"
  [ "$status" -eq 0 ] || failures=$((failures + 1))
done

echo "$scenario: $((count - failures)) of $count runs exited 0 (folders and console logs in $reports)"
[ "$failures" -eq 0 ]
