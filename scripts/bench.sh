#!/bin/sh
# bench.sh -- build the benches and run them; JSON reports go to bench/results/.
#
# usage: scripts/bench.sh [--quick] [options of bench_solve ...]
#   --quick      passed to every bench; reports are <name>-quick.json so a
#                quick run does not overwrite the full report <name>.json
#   other options go to bench_solve only (see build/bench_solve --help)
# environment:
#   BUILD=dir    build directory (default build)
#   JOBS=n       parallel build jobs (default 2)
#   BENCHES="solve engine"  which bench/bench_<name>.c to run (default: all)
#   PLAIN_LP=0   skip the solve bench's plain-LP anchors (one run per seed,
#                up to 2000 requests: about half of its ~2 minutes)
#   LEMON=0      skip the solve bench's LEMON rows (--no-lemon). Otherwise,
#                when LEMON's headers are missing and the script runs as
#                root, liblemon-dev is installed first (apt-get); not as
#                root, the rows are left out with a note. Only bench_solve
#                uses LEMON: the tests and scripts/deps.sh do not need it.
# Every bench takes --out FILE.json. A bench that fails to build or run is
# reported and the others still run; the exit status is then 1.
set -eu

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
PLAIN_LP=${PLAIN_LP:-1}
LEMON=${LEMON:-1}
RESULTS=bench/results

if [ -z "${BENCHES:-}" ]; then
  BENCHES=$(for f in bench/bench_*.c; do basename "$f" .c; done |
    sed 's/^bench_//')
fi

quick=""
for a in "$@"; do
  if [ "$a" = --quick ]; then quick="--quick"; fi
done
suffix=${quick:+-quick}

# bench_solve's LEMON rows need LEMON's headers (Debian: liblemon-dev);
# CMake looks for them at configure time. Install them when possible.
ensure_lemon() {
  [ -f /usr/include/lemon/network_simplex.h ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing liblemon-dev for bench_solve's LEMON rows"
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      liblemon-dev >/dev/null; then
      return 0
    fi
  fi
  echo "note: liblemon-dev is not installed (apt-get install liblemon-dev," \
    "as root): bench_solve runs without its LEMON rows" >&2
}

nolemon=""
if [ "$LEMON" = 0 ]; then
  nolemon="--no-lemon"
else
  for b in $BENCHES; do
    if [ "$b" = solve ] || [ "$b" = process ]; then ensure_lemon; fi
  done
fi

# Run bench $1 writing $2; the rest are the script's arguments.
run_bench() {
  name=$1
  file=$2
  shift 2
  if [ "$name" = http ]; then
    # the daemon end to end: the load run, then position ingest
    "$BUILD/bench_http" --daemon "$BUILD/carematchd" --out "$file" \
      ${quick:+"$quick"} &&
      "$BUILD/bench_http" --daemon "$BUILD/carematchd" --ingest \
        --out "${file%.json*}-ingest.json" ${quick:+"$quick"}
  elif [ "$name" != solve ]; then
    "$BUILD/bench_$name" --out "$file" ${quick:+"$quick"}
  elif [ "$PLAIN_LP" = 1 ]; then
    "$BUILD/bench_solve" --plain-lp --plain-lp-max 2000 ${nolemon:+"$nolemon"} \
      --out "$file" "$@"
  else
    "$BUILD/bench_solve" ${nolemon:+"$nolemon"} --out "$file" "$@"
  fi
}

cmake -S . -B "$BUILD" >/dev/null
mkdir -p "$RESULTS"
status=0
for b in $BENCHES; do
  if ! cmake --build "$BUILD" -j "$JOBS" --target "bench_$b" carematchd >/dev/null; then
    echo "bench_$b does not build; skipped" >&2
    status=1
    continue
  fi
  out="$RESULTS/$b$suffix.json"
  echo "== bench_$b -> $out"
  # The report is written to a temporary file first, so a failed run keeps
  # the last good report.
  if run_bench "$b" "$out.tmp" "$@"; then
    mv "$out.tmp" "$out"
  else
    echo "bench_$b failed; partial report left in $out.tmp" >&2
    status=1
  fi
done
exit $status
