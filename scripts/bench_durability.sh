#!/bin/sh
# bench_durability.sh -- bench_http in one run on the memory store, on
# Redis with durability = fsync and on Redis with durability = replica
# (a primary with appendonly yes + appendfsync always and a replica, both
# redis-servers of this script's own on loopback): the mixed load's
# submit-to-offer latencies, then single-call and bulk position ingest.
# docs/redis.md, "Durability", has a run's figures.
#
# usage: scripts/bench_durability.sh [options of bench_http, e.g. --quick]
# environment: BUILD=dir (default build); OUT=dir for the JSON reports
# (default a temporary directory, printed)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-$(mktemp -d /tmp/cm_bench_dur.XXXXXX)}
DIR=$(mktemp -d /tmp/cm_bench_dur_redis.XXXXXX)
P1=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
P2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DIR/p" "$DIR/r" "$OUT"
redis-server --port "$P1" --bind 127.0.0.1 --save "" --appendonly yes \
  --appendfsync always --dir "$DIR/p" --daemonize yes --pidfile "$DIR/p.pid"
redis-server --port "$P2" --bind 127.0.0.1 --save "" --appendonly yes \
  --appendfsync always --dir "$DIR/r" --daemonize yes --pidfile "$DIR/r.pid" \
  --replicaof 127.0.0.1 "$P1"
cleanup() {
  for f in "$DIR/p.pid" "$DIR/r.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.5
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
i=0
until redis-cli -p "$P2" info replication | grep -q master_link_status:up; do
  i=$((i + 1))
  [ $i -lt 100 ] || { echo "the replica did not link" >&2; exit 1; }
  sleep 0.1
done
run() { # name, then bench_http's options
  name=$1
  shift
  echo "== $name"
  redis-cli -p "$P1" flushall >/dev/null
  "$BUILD/bench_http" --daemon "$BUILD/carematchd" "$@" \
    --out "$OUT/$name.json" ${BENCH_ARGS:-}
  "$BUILD/bench_http" --daemon "$BUILD/carematchd" "$@" --ingest \
    --out "$OUT/$name-ingest.json" ${BENCH_ARGS:-}
}
BENCH_ARGS="$*"
run memory
run fsync --redis "redis://127.0.0.1:$P1" --durability fsync
run replica --redis "redis://127.0.0.1:$P1" --durability replica
echo "reports in $OUT"
