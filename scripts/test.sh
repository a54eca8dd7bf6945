#!/usr/bin/env bash
# The project's test command (README): builds everything (including the native SQLite) and runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build cluster.sln -c Release -nologo -v quiet
status=0
for project in tests/*/*.csproj; do
  dotnet test "$project" -c Release --no-build -nologo --logger "console;verbosity=normal" || status=1
done
exit $status
