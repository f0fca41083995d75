#!/usr/bin/env bash
# openapi-lint.sh -- lint docs/openapi.json with a real OpenAPI validator:
# @redocly/cli (pinned below) with the rules of docs/redocly.yaml (every
# warning an error, every example checked against its schema). The CLI is
# installed with npm into build/npm the first time (no global install);
# npm comes from Debian when missing. Exits non-zero on any problem.
set -euo pipefail
cd "$(dirname "$0")/.."
# the per-region copies of every /v1 path must be what
# scripts/openapi-regions.py makes of the un-prefixed ones
copy=$(mktemp)
trap 'rm -f "$copy"' EXIT
cp docs/openapi.json "$copy"
python3 scripts/openapi-regions.py "$copy"
if ! cmp -s docs/openapi.json "$copy"; then
  echo "openapi-lint.sh: docs/openapi.json's /v1/regions/{region}/... paths" \
    "are not the un-prefixed ones': run scripts/openapi-regions.py" >&2
  exit 1
fi
VERSION=1.34.20 # 1.x runs on Node 18 (Debian bookworm) and later
PREFIX=build/npm
BIN=$PREFIX/node_modules/.bin/redocly
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

if ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ "$("$BIN" --version 2>/dev/null)" != "$VERSION" ]; then
  mkdir -p "$PREFIX"
  echo "openapi-lint.sh: installing @redocly/cli@$VERSION into $PREFIX"
  npm install --prefix "$PREFIX" --no-save --no-audit --no-fund \
    --loglevel=error "@redocly/cli@$VERSION" >"$PREFIX/install.log" 2>&1 ||
    { tail -20 "$PREFIX/install.log" >&2; exit 1; }
fi
"$BIN" lint --config docs/redocly.yaml --format=codeframe docs/openapi.json
