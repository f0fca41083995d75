#!/usr/bin/env bash
# bench_takeover.sh -- how long a region waits for dispatch when the
# lease's holder dies (docs/ha.md): two carematchd of one region with
# [lease] enabled on a redis-server of its own (loopback); each run kills
# the holder with kill -9, at once sends an emergency to the standby (it
# takes API writes) and measures, from the kill to the offer's at_ms in
# Redis's event stream, how long the first offer by the new holder took;
# then restarts the killed daemon as a standby. Prints one JSON object
# (every run, p50, max, the TTL and the target ttl + 1 s). Usage:
#   scripts/bench_takeover.sh [RUNS] [TTL_MS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10} TTL=${2:-3000} BUILD=${3:-build}
DAEMON_BIN=$BUILD/carematchd
[ -x "$DAEMON_BIN" ] || { echo "bench_takeover: no $DAEMON_BIN (build first)" >&2; exit 1; }
DIR=$(mktemp -d)
REDIS= declare -A PID PORT
cleanup() {
  for p in "${PID[@]}" $REDIS; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in "${PID[@]}" $REDIS; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$DIR" --logfile "$DIR/redis.log" --daemonize yes --pidfile "$DIR/redis.pid"
for _ in $(seq 100); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
REDIS=$(cat "$DIR/redis.pid")
start_daemon() { # NAME
  [ -n "${PORT[$1]:-}" ] || PORT[$1]=$(free_port)
  (umask 077; cat > "$DIR/$1.ini") <<INI
[server]
auth = off
[store]
redis = redis://127.0.0.1:$RPORT
region = takeover
[lease]
enabled = on
ttl_ms = $TTL
id = $1
INI
  "$DAEMON_BIN" --config "$DIR/$1.ini" --port "${PORT[$1]}" 2>>"$DIR/$1.log" &
  PID[$1]=$!
  disown # no "Killed" notice from the shell for the kill -9 below
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:${PORT[$1]}/readyz" >/dev/null && return; sleep 0.05; done
  echo "bench_takeover: $1 did not start" >&2; exit 1
}
leader() { # the name of the daemon that leads, or ""
  for n in a b; do
    curl -sf "http://127.0.0.1:${PORT[$n]}/readyz?role=leader" >/dev/null 2>&1 && { echo $n; return; }
  done
  echo ""
}
start_daemon a
start_daemon b
times=()
for i in $(seq "$RUNS"); do
  L=""
  for _ in $(seq 200); do L=$(leader); [ -n "$L" ] && break; sleep 0.05; done
  [ -n "$L" ] || { echo "bench_takeover: nobody leads" >&2; exit 1; }
  S=$([ "$L" = a ] && echo b || echo a)
  U=http://127.0.0.1:${PORT[$S]}
  curl -sf -o /dev/null -X PUT "$U/v1/workers/w$i" -H 'Content-Type: application/json' \
    -d '{"skills":["nurse"],"lat":31.23,"lon":121.47}'
  sleep 0.3 # the worker reaches the holder's mirror; not part of the figure
  kill -9 "${PID[$L]}"
  t_kill=$(date +%s%3N)
  curl -sf -o /dev/null -X POST "$U/v1/requests" -H 'Content-Type: application/json' \
    -d '{"id":"q'"$i"'","lat":31.23,"lon":121.47,"skills":["nurse"],"urgency":"emergency"}'
  at=""
  for _ in $(seq 1000); do
    at=$(redis-cli -p "$RPORT" --raw xrange 'cm:{takeover}:events' - + |
         awk -v q="q$i" '$0=="type"{getline t} $0=="request"{getline r}
              $0=="at_ms"{getline a; if (t=="offered" && r==q) {print a; exit}}')
    [ -n "$at" ] && break
    sleep 0.02
  done
  [ -n "$at" ] || { echo "bench_takeover: q$i never offered" >&2; exit 1; }
  times+=($((at - t_kill)))
  start_daemon "$L" # back as a standby
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
p50=$(echo "$sorted" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
max=$(echo "$sorted" | tail -1)
printf '{"bench":"takeover","runs":%d,"ttl_ms":%d,"target_ms":%d,"kill_to_first_offer_ms":[%s],"p50_ms":%d,"max_ms":%d}\n' \
  "$RUNS" "$TTL" $((TTL + 1000)) "$(IFS=,; echo "${times[*]}")" "$p50" "$max"
