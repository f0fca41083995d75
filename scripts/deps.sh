#!/usr/bin/env bash
# deps.sh -- install the Debian packages carematch builds, tests and runs
# with. Needs root (or sudo); does nothing for packages already present.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang-format
      libglpk-dev libjansson-dev libyajl-dev libcriterion-dev libevent-dev libhiredis-dev
      libinih-dev libcurl4-openssl-dev redis-server
      curl openssl stunnel4   # scripts/redis-tls-check.sh
      haproxy                 # scripts/haproxy-check.sh (docs/ha.md)
      iproute2                # scripts/chaos_ha.sh: network namespaces
      chromium chromium-driver python3-selenium)  # tests/console: the console in a browser
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
