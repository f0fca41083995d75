#!/bin/sh
# bench.sh -- build the benches and run them; JSON reports go to bench/results/.
#
# usage: scripts/bench.sh [--quick] [other options of bench_solve ...]
#   --quick writes bench/results/<name>-quick.json, else <name>.json
#   BUILD=dir   build directory (default build)
#   JOBS=n      parallel build jobs (default 2)
#   BENCHES="solve ..."  which bench/bench_<name>.c to run (default: all)
# Every bench takes --out FILE.json and --quick; other options are passed to
# every bench as given. The solve bench also runs the plain-LP anchors (one
# run per seed, up to 2000 requests: ~2 of the ~4 minutes) unless PLAIN_LP=0.
set -eu

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
PLAIN_LP=${PLAIN_LP:-1}
RESULTS=bench/results

if [ -z "${BENCHES:-}" ]; then
  BENCHES=$(for f in bench/bench_*.c; do basename "$f" .c; done | sed 's/^bench_//')
fi

cmake -S . -B "$BUILD" >/dev/null
for b in $BENCHES; do
  cmake --build "$BUILD" -j "$JOBS" --target "bench_$b"
done

# A quick run does not overwrite the full report.
suffix=""
for a in "$@"; do
  if [ "$a" = --quick ]; then suffix="-quick"; fi
done

mkdir -p "$RESULTS"
status=0
for b in $BENCHES; do
  extra=""
  if [ "$b" = solve ] && [ "$PLAIN_LP" = 1 ]; then
    extra="--plain-lp --plain-lp-max 2000"
  fi
  out="$RESULTS/$b$suffix.json"
  echo "== bench_$b -> $out"
  # Write to a temporary file first so a failed run keeps the last report.
  # shellcheck disable=SC2086
  if "$BUILD/bench_$b" --out "$out.tmp" $extra "$@"; then
    mv "$out.tmp" "$out"
  else
    echo "bench_$b failed; partial report left in $out.tmp" >&2
    status=1
  fi
done
exit $status
