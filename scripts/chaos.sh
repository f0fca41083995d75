#!/usr/bin/env bash
# chaos.sh -- the chaos run (docs/hardening.md): carematch_sim's live load
# (the seed city from 07:00, on a simulated clock RATE times real time)
# against carematchd on Redis with its append-only file (appendfsync
# always). While the load runs, the daemon is killed with SIGKILL at random
# moments and started again, and Redis is killed and started again on its
# file. Afterwards chaos_mirror waits until the last daemon has caught up
# with Redis and compares every worker and request in both; then
# chaos_check reads Redis and the event stream: every request the daemon
# acknowledged must be there, and no worker may ever have held more
# requests than its capacity. Loopback only, bounded.
#   scripts/chaos.sh [SECONDS]        (default 120)
#   RATE=60 BUILD=build SEED=N OUT=bench/results/chaos.json
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-120}
RATE=${RATE:-60}
BUILD=${BUILD:-build}
OUT=${OUT:-bench/results/chaos.json}
SEED=${SEED:-$RANDOM}
if [ ! -x "$BUILD/carematchd" ] || [ ! -x "$BUILD/carematch_sim" ] ||
   [ ! -x "$BUILD/chaos_check" ] || [ ! -x "$BUILD/chaos_mirror" ]; then
  cmake -S . -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" --target carematchd carematch_sim chaos_check \
    chaos_mirror
fi
RANDOM=$SEED
DIR=$(mktemp -d)
mkdir -p "$DIR/redis"
DAEMON= REDIS= SIM=
cleanup() {
  for p in $SIM $DAEMON; do kill -9 "$p" 2>/dev/null || true; done
  [ -n "$REDIS" ] && kill -9 "$REDIS" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { # below the ephemeral range, nobody listening
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
now_ms() { date +%s%3N; }
healthy() { # GET /healthz answers 200 (bash's /dev/tcp: no curl needed)
  { exec 3<>"/dev/tcp/127.0.0.1/$DPORT" &&
    printf 'GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n' >&3 &&
    head -n 1 <&3 | grep -q ' 200 '; } 2>/dev/null
  local rc=$?
  exec 3<&- 2>/dev/null || true
  return $rc
}
RPORT=$(free_port) DPORT=$(free_port)

start_redis() {
  redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$DIR/redis" \
    --appendonly yes --appendfsync always --save '' \
    --logfile "$DIR/redis.log" --daemonize yes --pidfile "$DIR/redis.pid"
  for _ in $(seq 100); do
    redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.05
  done
  REDIS=$(cat "$DIR/redis.pid")
}

(umask 077; cat > "$DIR/carematchd.ini") <<INI
[server]
max_body_bytes = 16777216
[store]
redis = redis://127.0.0.1:$RPORT
region = chaos
[batch]
offer_ttl_ms = 60000
[tokens]
platform = chaos-platform-token-0000
gateway = chaos-gateway-token-00000
operator = chaos-operator-token-0000
INI
# the daemon's clock: 07:00 today at the start, RATE times real time, and
# carried on by every daemon started again
DAY0=$(( $(date -u +%s) / 86400 * 86400 * 1000 ))
START=$(( DAY0 + 7 * 3600000 )) T0=$(now_ms)
start_daemon() {
  local at=$(( START + ($(now_ms) - T0) * RATE ))
  "$BUILD/carematchd" --config "$DIR/carematchd.ini" --port "$DPORT" \
    --clock-start "$at" --clock-rate "$RATE" 2>>"$DIR/carematchd.log" &
  DAEMON=$!
  for _ in $(seq 200); do
    healthy && return
    sleep 0.05
  done
}

start_redis
start_daemon
# the load: until DURATION seconds of real time have passed
UNTIL_MIN=$(( 7 * 60 + DURATION * RATE / 60 ))
[ "$UNTIL_MIN" -gt 1440 ] && UNTIL_MIN=1440
"$BUILD/carematch_sim" live --seed 1 --url "http://127.0.0.1:$DPORT" \
  --rate "$RATE" --from 07:00 \
  --until "$(printf '%02d:%02d' $((UNTIL_MIN / 60)) $((UNTIL_MIN % 60)))" \
  --drain-min 0 --survive --acked "$DIR/acked" \
  --platform-token chaos-platform-token-0000 \
  --gateway-token chaos-gateway-token-00000 \
  --operator-token chaos-operator-token-0000 --quiet \
  > "$DIR/sim.out" 2> "$DIR/sim.err" &
SIM=$!

KILLS=0 REDIS_RESTARTS=0
END=$(( $(now_ms) + DURATION * 1000 ))
while kill -0 "$SIM" 2>/dev/null && [ "$(now_ms)" -lt "$END" ]; do
  sleep "$(( 2 + RANDOM % 5 )).$(( RANDOM % 10 ))"
  kill -0 "$SIM" 2>/dev/null || break
  if [ $(( RANDOM % 10 )) -lt 7 ]; then
    kill -9 "$DAEMON" 2>/dev/null || true
    wait "$DAEMON" 2>/dev/null || true
    KILLS=$((KILLS + 1))
    sleep "0.$(( RANDOM % 8 ))"
    start_daemon
    echo "chaos: daemon killed and started again ($KILLS)"
  else
    kill -9 "$REDIS" 2>/dev/null || true
    sleep "0.$(( 2 + RANDOM % 7 ))"
    start_redis
    REDIS_RESTARTS=$((REDIS_RESTARTS + 1))
    echo "chaos: redis killed and started again on its file ($REDIS_RESTARTS)"
  fi
done
wait "$SIM" || { echo "chaos: the load failed"; cat "$DIR/sim.err"; exit 1; }
SIM=
# the last daemon, once it caught up with Redis, against Redis: every
# worker and request (bench/chaos_mirror.c)
set +e
MIRROR=$("$BUILD/chaos_mirror" --redis-port "$RPORT" --region chaos \
  --daemon-port "$DPORT" --token chaos-operator-token-0000 --acked "$DIR/acked")
MRC=$?
set -e
echo "mirror: $MIRROR"
# the last daemon stops cleanly; then the books
kill -TERM "$DAEMON" 2>/dev/null || true
wait "$DAEMON" 2>/dev/null || true
DAEMON=
STARTS=$(grep -c "listening on" "$DIR/carematchd.log" || true)
echo "chaos: $DURATION s, $KILLS daemon kills, $REDIS_RESTARTS Redis restarts, $STARTS daemon starts"
tail -n 4 "$DIR/sim.out" | sed 's/^/load: /'
set +e
CHECK=$("$BUILD/chaos_check" --port "$RPORT" --region chaos --acked "$DIR/acked")
RC=$?
set -e
echo "check: $CHECK"
mkdir -p "$(dirname "$OUT")"
printf '{"seconds":%d,"rate":%d,"seed":%d,"daemon_kills":%d,"redis_restarts":%d,"daemon_starts":%d,"check":%s,"mirror":%s}\n' \
  "$DURATION" "$RATE" "$SEED" "$KILLS" "$REDIS_RESTARTS" "$STARTS" "$CHECK" "${MIRROR:-null}" > "$OUT"
[ "$RC" = 0 ] && [ "$MRC" = 0 ] && [ "$STARTS" -gt "$KILLS" ] || { echo "chaos: FAILED"; tail -n 20 "$DIR/carematchd.log"; exit 1; }
echo "chaos: passed ($OUT)"
