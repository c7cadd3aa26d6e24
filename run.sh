#!/usr/bin/env bash
# The harness, built and run from this checkout: ./run.sh scenario crash-after-commit [options]
# Installs PostgreSQL and RabbitMQ first when they are missing (see scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
dotnet build harness/Harness.csproj -c Release -nologo -v quiet -clp:ErrorsOnly >&2
exec dotnet harness/bin/Release/net10.0/harness.dll "$@"
