#!/usr/bin/env bash
# haproxy-check.sh -- docs/examples/haproxy.cfg as it is, in front of two
# carematchd of one region with [lease] enabled, on a redis-server of its
# own (loopback, private ports): HAProxy sends the calls to the lease's
# holder (GET /v1/leader through HAProxy answers leader: true), an
# emergency sent through HAProxy is offered; after kill -9 of the holder
# the other takes the lease, HAProxy's check moves to it and a second
# emergency sent through HAProxy is offered too; between the kill and the
# new lease, position updates through HAProxy are taken by the standby (the
# example's writers backend). Needs haproxy (Debian
# package haproxy: scripts/deps.sh installs it). Usage:
#   scripts/haproxy-check.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
NAME=haproxy-check
# shellcheck source=scripts/haproxy-common.sh
. scripts/haproxy-common.sh

start_daemon() { # NAME PORT
  (umask 077; cat > "$DIR/$1.ini") <<INI
[server]
auth = off
[store]
redis = redis://127.0.0.1:$RPORT
region = haproxy
[lease]
enabled = on
ttl_ms = 3000
id = $1
INI
  "$DAEMON_BIN" --config "$DIR/$1.ini" --port "$2" 2>"$DIR/$1.log" &
}
start_daemon a "$PA"; A=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PA/readyz?role=leader" >/dev/null && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$PA/readyz?role=leader" >/dev/null || fail "a does not lead"
start_daemon b "$PB"; B=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PB/readyz" >/dev/null && break; sleep 0.05; done

CM_HAPROXY_BIND=127.0.0.1:$PP CM_DAEMON_A=127.0.0.1:$PA CM_DAEMON_B=127.0.0.1:$PB \
  haproxy -f docs/examples/haproxy.cfg -db >"$DIR/haproxy.log" 2>&1 &
PROXY=$!
URL=http://127.0.0.1:$PP

leader_via_proxy() { curl -s "$URL/v1/leader" 2>/dev/null || true; }
wait_leader_via_proxy() { # ID: HAProxy reaches the holder ID
  for _ in $(seq 200); do
    case $(leader_via_proxy) in *'"id": "'$1'", "leader": true'*|*'"id":"'$1'","leader":true'*) return 0 ;; esac
    sleep 0.05
  done
  return 1
}
only_leader_via_proxy() { # ID: within 5 s, 10 calls in a row reach the
  # holder ID (HAProxy starts with every server up until its checks fail)
  local run=0
  for _ in $(seq 100); do
    case $(leader_via_proxy) in
      *'"id": "'$1'", "leader": true'*|*'"id":"'$1'","leader":true'*) run=$((run + 1)) ;;
      *) run=0; sleep 0.05 ;;
    esac
    [ $run -ge 10 ] && return 0
  done
  return 1
}
wait_leader_via_proxy a || fail "HAProxy does not reach the holder a: $(leader_via_proxy)"
only_leader_via_proxy a || fail "HAProxy also sends calls to the standby"

emergency() { # ID: sent through HAProxy, offered within 10 s
  local code state
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$URL/v1/workers/w-$1" \
    -H 'Content-Type: application/json' -d '{"skills":["nurse"],"lat":31.23,"lon":121.47}')
  [ "$code" = 200 ] || fail "PUT worker through HAProxy answered $code"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/requests" \
    -H 'Content-Type: application/json' \
    -d '{"id":"'"$1"'","lat":31.23,"lon":121.47,"skills":["nurse"],"urgency":"emergency"}')
  [ "$code" = 201 ] || fail "POST $1 through HAProxy answered $code"
  for _ in $(seq 200); do
    state=$(curl -s "$URL/v1/requests/$1" | grep -o '"state": *"[a-z]*"' | head -1 || true)
    case $state in *offered*) return 0 ;; esac
    sleep 0.05
  done
  fail "$1 not offered through HAProxy ($state)"
}
emergency r1
kill -9 "$A"; wait "$A" 2>/dev/null || true; A=
position_while_no_holder() { # a position through HAProxy answered 200
  # while b does not lead yet (ttl_ms 3000 after the kill)
  local code
  for _ in $(seq 20); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/positions" \
      -H 'Content-Type: application/json' \
      -d '{"positions":[{"id":"w-r1","lat":31.2301,"lon":121.4701}]}')
    curl -sf "http://127.0.0.1:$PB/readyz?role=leader" >/dev/null &&
      fail "b led before a position was taken; the check proves nothing"
    [ "$code" = 200 ] && return 0
    sleep 0.05
  done
  fail "no position taken through HAProxy during the takeover (last answer $code)"
}
position_while_no_holder
wait_leader_via_proxy b || fail "HAProxy did not move to the new holder b: $(leader_via_proxy)"
only_leader_via_proxy b || fail "HAProxy still sends calls elsewhere"
emergency r2
origin=$(redis-cli -p "$RPORT" xrange 'cm:{haproxy}:events' - + | grep -A1 '^request$' | grep -c r2 || true)
[ "$origin" -ge 1 ] || fail "r2 has no event in Redis"
echo "haproxy-check: passed in $(( $(date +%s%3N) - T0 )) ms (HAProxy $(haproxy -v | head -1 | awk '{print $3}'))"
