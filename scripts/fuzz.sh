#!/usr/bin/env bash
# fuzz.sh -- build the libFuzzer targets (clang, ASan + UBSan, build-fuzz/)
# and run each for a bounded time on a copy of its seed corpus
# (tests/fuzz/corpus/<target>/), then print the executions per target and
# write bench/results/fuzz.json. Exits 1 when a target found a crash, a
# leak or a timeout (the reproducer is kept in build-fuzz/artifacts/).
#   scripts/fuzz.sh                     every target, FUZZ_SECONDS each (30)
#   scripts/fuzz.sh fuzz_solve          some targets
#   scripts/fuzz.sh --update-corpus     merge what was found into the repo's
#                                       corpus (only inputs with new coverage)
# Installs clang and libclang-rt-14-dev (libFuzzer) with apt-get when
# missing, as root or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-30}
RSS_MB=${FUZZ_RSS_MB:-2048}
UPDATE=0
TARGETS=()
for a in "$@"; do
  case "$a" in
  --update-corpus) UPDATE=1 ;;
  fuzz_*) TARGETS+=("$a") ;;
  *) echo "usage: scripts/fuzz.sh [--update-corpus] [fuzz_target...]" >&2; exit 64 ;;
  esac
done
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_daemon fuzz_solve fuzz_config fuzz_stored fuzz_edge)

scripts/deps.sh
missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD=build-fuzz
CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCM_FUZZ=ON -DCM_WERROR=ON -DCM_BUILD_TESTS=OFF -DCM_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j 2 --target "${TARGETS[@]}"

ART="$BUILD/artifacts"
mkdir -p "$ART" bench/results
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
FAILED=0
ROWS=()
printf '%-12s %8s %12s %10s %8s %8s\n' target seconds execs execs/s corpus crashes
for t in "${TARGETS[@]}"; do
  case "$t" in
  fuzz_config) DICT=tests/fuzz/ini.dict ;;
  fuzz_edge) DICT=tests/fuzz/http.dict ;;
  *) DICT=tests/fuzz/json.dict ;;
  esac
  mkdir -p "$WORK/$t"
  cp tests/fuzz/corpus/"$t"/* "$WORK/$t"/
  start_files=$(find "$WORK/$t" -type f | wc -l)
  rm -f "$ART/$t"-*
  rc=0
  "$BUILD/$t" "$WORK/$t" -dict="$DICT" -max_total_time="$SECONDS_EACH" \
    -rss_limit_mb="$RSS_MB" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$ART/$t-" >"$WORK/$t.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t.log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$WORK/$t.log" | tail -1)
  files=$(find "$WORK/$t" -type f | wc -l)
  crashes=$(find "$ART" -name "$t-*" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    FAILED=1
    [ "$crashes" -eq 0 ] && crashes=1
    cp "$WORK/$t.log" "$ART/$t.log"
    echo "fuzz.sh: $t failed (exit $rc); log in $ART/$t.log:" >&2
    grep -m 20 -iE "error|SUMMARY|Test unit written|fuzz_" "$WORK/$t.log" >&2 || true
  fi
  execs=${execs:-0}
  secs=${secs:-$SECONDS_EACH}
  rate=$((secs > 0 ? execs / secs : execs))
  printf '%-12s %8s %12s %10s %8s %8s\n' "$t" "$secs" "$execs" "$rate" \
    "$start_files->$files" "$crashes"
  ROWS+=("$(printf '{"target": "%s", "seconds": %s, "execs": %s, "execs_per_sec": %s, "corpus_start": %s, "corpus_end": %s, "crashes": %s}' \
    "$t" "$secs" "$execs" "$rate" "$start_files" "$files" "$crashes")")
  if [ "$UPDATE" -eq 1 ] && [ "$rc" -eq 0 ]; then
    "$BUILD/$t" -merge=1 tests/fuzz/corpus/"$t" "$WORK/$t" >/dev/null 2>&1
  fi
done

{
  printf '{\n  "date": "%s",\n  "seconds_each": %s,\n  "compiler": "%s",\n  "targets": [\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$SECONDS_EACH" "$(clang --version | head -1)"
  for i in "${!ROWS[@]}"; do
    sep=","
    [ "$i" -eq $((${#ROWS[@]} - 1)) ] && sep=""
    printf '    %s%s\n' "${ROWS[$i]}" "$sep"
  done
  printf '  ]\n}\n'
} >bench/results/fuzz.json
echo "fuzz.sh: wrote bench/results/fuzz.json"
exit "$FAILED"
