#!/bin/bash
# lat.sh -- issue 13's emergency target, measured: memory, Redis with the
# AOF on tmpfs and Redis with the AOF on disk, each with two carematchd
# builds ("before", "after") back to back in every round (which first
# alternating by round, the stores' order rotated), the same bench_http
# for all, FLUSHALL before each Redis run; then pool.py pools the samples
# of each configuration and bootstraps the p99 ratio to memory's
# (docs/async.md "Measured: positions behind the emergency").
#   bench/lat/lat.sh BEFORE_CAREMATCHD AFTER_CAREMATCHD [OUT] [ROUNDS] [SECONDS]
# BENCH (default build/bench_http), PORT1/PORT2 (27781/27782), TMPFS_DIR
# (/dev/shm/cm-lat-tmpfs), DISK_DIR (/tmp/cm-lat-disk) in the environment.
set -u
BEFORE=${1:?before carematchd}; AFTER=${2:?after carematchd}
OUT=${3:-lat-out}; ROUNDS=${4:-3}; SECS=${5:-20}
BH=${BENCH:-build/bench_http}
P1=${PORT1:-27781}; P2=${PORT2:-27782}
T=${TMPFS_DIR:-/dev/shm/cm-lat-tmpfs}; D=${DISK_DIR:-/tmp/cm-lat-disk}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT" "$T" "$D"
redis-server --port "$P1" --bind 127.0.0.1 --save '' --appendonly yes \
  --appendfsync always --dir "$T" --daemonize yes --pidfile "$OUT/r1.pid" \
  --logfile "$OUT/r1.log"
redis-server --port "$P2" --bind 127.0.0.1 --save '' --appendonly yes \
  --appendfsync always --dir "$D" --daemonize yes --pidfile "$OUT/r2.pid" \
  --logfile "$OUT/r2.log"
trap 'redis-cli -p $P1 shutdown nosave >/dev/null 2>&1; redis-cli -p $P2 shutdown nosave >/dev/null 2>&1' EXIT
sleep 1
for round in $(seq 1 "$ROUNDS"); do
  case $((round % 3)) in
  1) order="memory tmpfs disk" ;; 2) order="tmpfs disk memory" ;;
  0) order="disk memory tmpfs" ;;
  esac
  if [ $((round % 2)) = 1 ]; then builds="before after"; else builds="after before"; fi
  for store in $order; do
    for build in $builds; do
      R=""
      case $store in
      tmpfs) R="--redis redis://127.0.0.1:$P1"; redis-cli -p "$P1" flushall >/dev/null ;;
      disk) R="--redis redis://127.0.0.1:$P2"; redis-cli -p "$P2" flushall >/dev/null ;;
      esac
      daemon=$BEFORE; [ "$build" = after ] && daemon=$AFTER
      f=$OUT/r$round-$store-$build
      l0=$(cut -d' ' -f1 /proc/loadavg)
      # shellcheck disable=SC2086
      "$BH" --daemon "$daemon" --seconds "$SECS" --quiet --samples "$f.samples" \
        --out "$f.json" $R >"$f.log" 2>&1
      rc=$?
      echo "round $round $store $build load $l0 -> $(cut -d' ' -f1 /proc/loadavg) rc $rc" | tee -a "$OUT/runs.txt"
    done
  done
done
python3 "$HERE/pool.py" "$OUT"
