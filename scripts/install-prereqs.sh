#!/usr/bin/env bash
# Installs what building and testing Litecast needs on Debian: gcc (native SQLite), npm (fetches the SQLite
# amalgamation), sqlite3 (a second SQLite build for interoperability tests), sqlite3-tools (sqldiff, which the chaos
# harness compares replicas with), python3, docker-compose (validates docker/compose.yml), curl (HEAD over HTTP/2, as
# load balancers' health checks send it), and chromium (the dashboard's browser test drives it headless). The .NET 10 SDK is expected on PATH.
set -euo pipefail
missing=()
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v npm >/dev/null || missing+=(npm)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v sqldiff >/dev/null || missing+=(sqlite3-tools)
command -v python3 >/dev/null || missing+=(python3)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v flock >/dev/null || missing+=(util-linux)
command -v curl >/dev/null || missing+=(curl)
command -v chromium >/dev/null || missing+=(chromium)
if (( ${#missing[@]} )); then
  if [[ $(id -u) -ne 0 ]]; then echo "install these Debian packages first: ${missing[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "the .NET 10 SDK is required (dotnet on PATH)" >&2; exit 1; }
