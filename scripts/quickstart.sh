#!/usr/bin/env bash
# quickstart.sh -- set up a fresh Debian machine, build, and run the main
# job: the dispatch engine on its embedded store, fed in real time by a
# simulated city (20,000 staff moving, 10,000 positions/s, 50 requests/s).
# It prints a line a second and a latency summary at the end.
#   scripts/quickstart.sh [seconds]      (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
exec build/bench_engine --seconds "${1:-30}" --live --out build/quickstart.json
