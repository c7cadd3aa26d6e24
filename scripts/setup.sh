#!/usr/bin/env bash
# Installs what the harness needs from Debian's packages when it is missing: PostgreSQL 15 and RabbitMQ (and, with
# --with-browser, Chromium for the tests).
# As root (or with password-less sudo) it installs them; otherwise it prints the exact command and fails.
# The servers are only installed here, never started as system services: the harness starts its own copies.
set -euo pipefail

# --with-browser: also Debian's Chromium, which the tests drive headless to open a generated report (test.sh asks).
missing=()
[ "${1:-}" != "--with-browser" ] || [ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
command -v setsid >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v dotnet >/dev/null 2>&1 || { echo "error: the .NET SDK 10 is required (dotnet not found on PATH)" >&2; exit 1; }

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "error: missing ${missing[*]}; install with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "installing ${missing[*]} from Debian's packages…" >&2
# policy-rc.d keeps the packages' own system services from starting: the harness runs private servers on free ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  created_policy=1
fi
trap '[ $created_policy -eq 1 ] && "${sudo[@]}" rm -f "$policy"' EXIT
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
echo "installed ${missing[*]}" >&2
