#!/usr/bin/env bash
# Runs one scenario (or the whole catalogue) N times in a row and prints each run's verdicts: the way to show a
# scenario is stable, not lucky.
#   scripts/repeat.sh SCENARIO N [scenario options…]      e.g. scripts/repeat.sh crash-after-commit 10 --impl all
#   scripts/repeat.sh --all N [scenario options…]         every scenario of the catalogue, N rounds of scenario --all
# Each run writes its folder under reports/repeat-<time>-<scenario>/. Exits 0 only when every run exited 0.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/repeat.sh SCENARIO|--all N [scenario options…]" >&2; exit 2; }
[ $# -ge 2 ] || usage
scenario=$1
count=$2
shift 2
[[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "error: N must be a whole number of runs of at least 1, not '$count'" >&2; exit 2; }
for arg in "$@"; do
  [ "$arg" != "--reports" ] || { echo "error: repeat.sh chooses the reports folder itself; leave out --reports" >&2; exit 2; }
  [ "$arg" != "--all" ] || { echo "error: give --all in place of the scenario name, before N" >&2; exit 2; }
done

scripts/setup.sh
dotnet build harness/Harness.csproj -c Release -nologo -v quiet -clp:ErrorsOnly >&2
name=$([ "$scenario" = "--all" ] && echo all || basename "$scenario" .yaml)
reports="reports/repeat-$(date -u +%Y%m%d-%H%M%S)-$name"
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
  if [ "$scenario" = "--all" ]; then
    dotnet harness/bin/Release/net10.0/harness.dll scenario --all --reports "$reports" "$@" >"$reports/run-$i.log" 2>&1 || status=$?
  else
    dotnet harness/bin/Release/net10.0/harness.dll scenario "$scenario" --reports "$reports" "$@" >"$reports/run-$i.log" 2>&1 || status=$?
  fi
  # The new run folders: the run's console log and the reports index (written by the first run) are files.
  folders=$(comm -13 <(echo "$before") <(ls "$reports") | while read -r f; do [ -d "$reports/$f" ] && echo "$f"; done || true)
  echo "run $i/$count: exit $status in $((SECONDS - started)) s"
  [ -n "$folders" ] || echo "  no run folder (see $reports/run-$i.log)"
  for folder in $folders; do
    if [ -f "$reports/$folder/result.json" ]; then
      echo "  ${folder#*-*-}:$(verdicts "$reports/$folder/result.json" | sed 's/^/ /' | paste -sd',' -)"
    else
      echo "  ${folder#*-*-}: no result.json (see $reports/run-$i.log)"
    fi
  done
  [ "$status" -eq 0 ] || failures=$((failures + 1))
done

echo "$scenario: $((count - failures)) of $count runs exited 0 (folders and console logs in $reports)"
[ "$failures" -eq 0 ]
