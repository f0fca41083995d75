#!/usr/bin/env bash
# check_dist.sh -- what is installed for operators and packagers (docs/cli.md):
# the manual pages are what their Markdown gives (scripts/man.sh --check),
# `cmake --install` to a temporary prefix puts the programs, pages, unit,
# sysusers file and examples in place, systemd-analyze verifies the unit
# (no warning), and the example configuration loads (carematchd
# --check-config; its tokens are placeholders, so with --no-auth). Needs a
# build in BUILD (default build/); installs pandoc and systemd if missing.
# A line per step; a failure shows the log that explains it (steps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
STEP_NAME=check_dist
. scripts/steps.sh
step_log "$BUILD/check_dist.log"
need=()
command -v pandoc >/dev/null || need+=(pandoc)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  step "apt-get install ${need[*]}" env DEBIAN_FRONTEND=noninteractive \
    sh -c "$SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends ${need[*]}"
fi
step "manual pages up to date (scripts/man.sh --check)" scripts/man.sh --check
PREFIX=$(mktemp -d)
trap 'rm -rf "$PREFIX"' EXIT
step "cmake --install $BUILD --prefix (temporary)" cmake --install "$BUILD" --prefix "$PREFIX"
installed() {
  for f in bin/carematch bin/carematchd bin/carematch_sim \
           share/man/man1/carematch.1 share/man/man1/carematchd.1 \
           share/man/man1/carematch_sim.1 lib/systemd/system/carematchd.service \
           lib/sysusers.d/carematch.conf share/doc/carematch/examples/carematchd.ini \
           share/doc/carematch/examples/carematchd.logrotate \
           share/carematch/console/index.html share/carematch/console/app.js; do
    [ -f "$PREFIX/$f" ] || { echo "not installed: $f"; return 1; }
  done
  grep -q "^ExecStart=$PREFIX/bin/carematchd " "$PREFIX/lib/systemd/system/carematchd.service" ||
    { echo "ExecStart does not name $PREFIX/bin/carematchd"; return 1; }
}
step "every file installed, ExecStart at the installed binary" installed
verify() {
  local out
  out=$(systemd-analyze verify --man=no "$PREFIX/lib/systemd/system/carematchd.service" 2>&1) || {
    echo "$out"; return 1; }
  [ -z "$out" ] || { echo "$out"; return 1; }
}
step "systemd-analyze verify carematchd.service" verify
example() {
  install -m 0600 packaging/carematchd.ini "$PREFIX/carematchd.ini"
  "$PREFIX/bin/carematchd" --config "$PREFIX/carematchd.ini" --no-auth --check-config
}
step "the example configuration loads" example
if command -v man >/dev/null; then
  step "the manual pages render" sh -c "for p in '$PREFIX'/share/man/man1/*.1; do MANWIDTH=80 man -l \"\$p\" >/dev/null; done"
fi
echo "check_dist: passed"
