#!/usr/bin/env bash
# test.sh -- the test command: install dependencies, build with warnings as
# errors, start a private redis-server on a loopback port, run every test.
#   scripts/test.sh              normal build (build/)
#   scripts/test.sh --sanitize   AddressSanitizer + UBSan build (build-asan/)
# The set-up steps print a line each; their output (apt, cmake, the
# compiler) goes to $BUILD/setup.log, whose last lines are shown if one
# fails (scripts/steps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=build
FLAGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCM_WERROR=ON)
if [ "${1:-}" = "--sanitize" ]; then
  BUILD=build-asan
  FLAGS=(-DCMAKE_BUILD_TYPE=Debug -DCM_WERROR=ON -DCM_SANITIZE=ON -DCM_BUILD_BENCH=OFF)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
STEP_NAME=test.sh
. scripts/steps.sh
step_log "$BUILD/setup.log"
step "packages (scripts/deps.sh)" scripts/deps.sh
step "configuring $BUILD (cmake)" cmake -S . -B "$BUILD" "${FLAGS[@]}"
step "building $BUILD (cmake --build, $(nproc) jobs)" cmake --build "$BUILD" -j "$(nproc)"

# A private redis-server for the integration tests, cleaned up on exit. The
# port is below the kernel's ephemeral range (32768 up), so no outgoing
# connection holds it, and the server must answer PING before the tests
# start; another port is tried when it does not.
DIR=$(mktemp -d)
# The server is waited for before its folder goes: it writes its log and
# removes its pid file as it stops.
stop_redis() {
  local pid
  scripts/redis-cluster.sh stop "$DIR/cluster" 2>/dev/null || true
  pid=$(cat "$DIR/redis.pid" 2>/dev/null) || pid=
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -rf "$DIR" || true
}
trap stop_redis EXIT
for _ in 1 2 3 4 5 6 7 8; do
  PORT=${CM_TEST_REDIS_PORT:-$((20000 + RANDOM % 12000))}
  rm -f "$DIR/redis.pid"
  redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$DIR" --daemonize yes --pidfile "$DIR/redis.pid" \
    --logfile "$DIR/redis.log" >>"$STEP_LOG" 2>&1 || true
  for _ in $(seq 50); do
    redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break 2
    sleep 0.1
  done
  [ -n "${CM_TEST_REDIS_PORT:-}" ] && break
done
if ! redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG; then
  echo "test.sh: no redis-server would start on port $PORT" >&2
  if [ -s "$DIR/redis.log" ]; then show_log "$DIR/redis.log"; else show_log "$STEP_LOG"; fi
  exit 1
fi
export CM_TEST_REDIS_PORT=$PORT
echo "test.sh: redis-server on 127.0.0.1:$PORT ... ok"

# A private Redis Cluster (3 masters, 3 replicas: scripts/redis-cluster.sh)
# for test_redis_cluster, on ports BASE..BASE+5 and their cluster bus ports
# (+10000), all below the ephemeral range.
for _ in 1 2 3 4 5; do
  CBASE=$((20000 + (RANDOM % 250) * 10))
  if [ "$CBASE" -le "$PORT" ] && [ "$PORT" -le $((CBASE + 5)) ]; then
    CBASE=
    continue
  fi
  scripts/redis-cluster.sh stop "$DIR/cluster" 2>/dev/null || true
  rm -rf "$DIR/cluster"
  scripts/redis-cluster.sh start "$DIR/cluster" "$CBASE" >>"$STEP_LOG" 2>&1 && break
  CBASE=
done
if [ -z "${CBASE:-}" ]; then
  echo "test.sh: no Redis Cluster would start" >&2
  show_log "$STEP_LOG"
  exit 1
fi
export CM_TEST_CLUSTER_PORT=$CBASE CM_TEST_CLUSTER_DIR=$DIR/cluster
echo "test.sh: redis cluster on 127.0.0.1:$CBASE..$((CBASE + 5)) ... ok"

ctest --test-dir "$BUILD" --output-on-failure -j 2
