#!/bin/bash
# lat.sh -- issue 13's emergency target, measured: memory, Redis with the
# AOF on tmpfs and Redis with the AOF on disk, each with two carematchd
# builds ("before", "after") back to back in every round (which first
# alternating by round, the stores' order rotated), the same bench_http
# for all, FLUSHALL before each Redis run; then pool.py pools the samples
# of each configuration and bootstraps the p99 ratio to memory's
# (docs/async-log.md "Measured: positions behind the emergency").
#   bench/lat/lat.sh BEFORE_CAREMATCHD AFTER_CAREMATCHD [OUT] [ROUNDS] [SECONDS]
# BENCH (default build/bench_http), PORT1/PORT2 (27781/27782), TMPFS_DIR
# (/dev/shm/cm-lat-tmpfs), DISK_DIR (/tmp/cm-lat-disk) in the environment.
# STORES (default "memory tmpfs disk") picks the stores; "replica" is a
# fourth: a primary (PORT3, 27783; AOF on disk, appendfsync everysec) and
# its replica (PORT4, 27784, --replicaof; the same settings) under
# REPLICA_DIR (/tmp/cm-lat-replica), the daemon at durability = replica
# (docs/redis.md "Durability"; docs/async-log.md "Measured: the
# replica level"). INGEST="4 32" adds, after the rounds, ROUNDS of bench_http
# --ingest --seconds 5 per store of INGEST_STORES (default STORES) and
# connection count, alternated like the rounds (OUT/iROUND-STORE-CONN);
# each measures bulk and single positions, creates and accepts; LAT=0
# skips the latency rounds (the ingest runs alone).
# "tmpfs-durable" and "disk-durable" are tmpfs and disk with the daemon at
# positions_ack = durable (docs/redis.md "Positions: answered once queued").
# When BEFORE and AFTER are the same file, pool.py pools the two as one.
set -u
BEFORE=${1:?before carematchd}; AFTER=${2:?after carematchd}
OUT=${3:-lat-out}; ROUNDS=${4:-3}; SECS=${5:-20}
BH=${BENCH:-build/bench_http}
P1=${PORT1:-27781}; P2=${PORT2:-27782}; P3=${PORT3:-27783}; P4=${PORT4:-27784}
T=${TMPFS_DIR:-/dev/shm/cm-lat-tmpfs}; D=${DISK_DIR:-/tmp/cm-lat-disk}
RD=${REPLICA_DIR:-/tmp/cm-lat-replica}
read -ra STORE_LIST <<<"${STORES:-memory tmpfs disk}"
read -ra INGEST_CONNS <<<"${INGEST:-}"
read -ra INGEST_LIST <<<"${INGEST_STORES:-${STORES:-memory tmpfs disk}}"
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
uses() { [[ " ${STORE_LIST[*]} ${INGEST_CONNS:+${INGEST_LIST[*]}} " == *" $1"[\ -]* ]]; }
ports=""
if uses tmpfs; then
  mkdir -p "$T"; ports="$ports $P1"
  redis-server --port "$P1" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync always --dir "$T" --daemonize yes --pidfile "$OUT/r1.pid" \
    --logfile "$OUT/r1.log"
fi
if uses disk; then
  mkdir -p "$D"; ports="$ports $P2"
  redis-server --port "$P2" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync always --dir "$D" --daemonize yes --pidfile "$OUT/r2.pid" \
    --logfile "$OUT/r2.log"
fi
if uses replica; then
  mkdir -p "$RD/primary" "$RD/replica"; ports="$ports $P3 $P4"
  redis-server --port "$P3" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync everysec --dir "$RD/primary" --daemonize yes \
    --pidfile "$OUT/r3.pid" --logfile "$OUT/r3.log"
  redis-server --port "$P4" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync everysec --dir "$RD/replica" --daemonize yes \
    --pidfile "$OUT/r4.pid" --logfile "$OUT/r4.log" --replicaof 127.0.0.1 "$P3"
fi
stop_redis() {
  local p
  for p in $ports; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1; done
}
trap stop_redis EXIT
sleep 1
if uses replica; then
  for _ in $(seq 100); do
    redis-cli -p "$P4" info replication | grep -q master_link_status:up && break
    sleep 0.1
  done
  redis-cli -p "$P4" info replication | grep -q master_link_status:up ||
    { echo "lat.sh: the replica on $P4 did not link to $P3" >&2; exit 1; }
fi
# The store's bench_http options in R, its Redis flushed.
store_prepare() {
  R=""
  case $1 in
  tmpfs) R="--redis redis://127.0.0.1:$P1"; redis-cli -p "$P1" flushall >/dev/null ;;
  disk) R="--redis redis://127.0.0.1:$P2"; redis-cli -p "$P2" flushall >/dev/null ;;
  tmpfs-durable)
    R="--redis redis://127.0.0.1:$P1 --positions-ack durable"
    redis-cli -p "$P1" flushall >/dev/null ;;
  disk-durable)
    R="--redis redis://127.0.0.1:$P2 --positions-ack durable"
    redis-cli -p "$P2" flushall >/dev/null ;;
  replica)
    R="--redis redis://127.0.0.1:$P3 --durability replica"
    redis-cli -p "$P3" flushall >/dev/null
    redis-cli -p "$P3" wait 1 1000 >/dev/null
    redis-cli -p "$P3" config resetstat >/dev/null ;;
  esac
}
# After a replica run, into its log: the primary's WAIT and EVALSHA calls
# and both servers' replication offsets.
replica_note() {
  [ "$1" = replica ] || return 0
  { redis-cli -p "$P3" info commandstats | grep -E '^cmdstat_(wait|evalsha):'
    redis-cli -p "$P3" info replication | grep -E '^(connected_slaves|master_repl_offset):'
    redis-cli -p "$P4" info replication | grep -E '^(master_link_status|slave_repl_offset):'
  } | tr -d '\r' >>"$2"
}
# The stores of "$@" rotated left by $round - 1 (memory tmpfs disk: as before).
rotated() {
  local n=$# k=$(((round - 1) % $#)) i
  local a=("$@")
  for ((i = 0; i < n; i++)); do printf '%s ' "${a[$(((i + k) % n))]}"; done
}
for round in $(seq 1 "$ROUNDS"); do
  [ "${LAT:-1}" = 0 ] && break # the ingest runs alone
  order=$(rotated "${STORE_LIST[@]}")
  if [ $((round % 2)) = 1 ]; then builds="before after"; else builds="after before"; fi
  for store in $order; do
    for build in $builds; do
      store_prepare "$store"
      daemon=$BEFORE; [ "$build" = after ] && daemon=$AFTER
      f=$OUT/r$round-$store-$build
      l0=$(cut -d' ' -f1 /proc/loadavg)
      # shellcheck disable=SC2086
      "$BH" --daemon "$daemon" --seconds "$SECS" --quiet --samples "$f.samples" \
        --out "$f.json" $R >"$f.log" 2>&1
      rc=$?
      replica_note "$store" "$f.log"
      echo "round $round $store $build load $l0 -> $(cut -d' ' -f1 /proc/loadavg) rc $rc" | tee -a "$OUT/runs.txt"
    done
  done
done
if [ ${#INGEST_CONNS[@]} -gt 0 ]; then
  for round in $(seq 1 "$ROUNDS"); do
    order=$(rotated "${INGEST_LIST[@]}")
    for conns in "${INGEST_CONNS[@]}"; do
      for store in $order; do
        store_prepare "$store"
        f=$OUT/i$round-$store-$conns
        l0=$(cut -d' ' -f1 /proc/loadavg)
        # shellcheck disable=SC2086
        "$BH" --daemon "$AFTER" --ingest --seconds 5 --connections "$conns" \
          --quiet --out "$f.json" $R >"$f.log" 2>&1
        rc=$?
        replica_note "$store" "$f.log"
        echo "ingest $round $store $conns load $l0 -> $(cut -d' ' -f1 /proc/loadavg) rc $rc" | tee -a "$OUT/runs.txt"
      done
    done
  done
fi
one=""
cmp -s "$BEFORE" "$AFTER" && one="--one-build"
python3 "$HERE/pool.py" "$OUT" ${one:+"$one"}
