#!/usr/bin/env bash
# haproxy-regions-check.sh -- docs/examples/haproxy-regions.cfg as it is,
# in front of two carematchd serving two regions (east, west) with
# [lease] enabled, a prefers east and b west ([lease] prefer), on a
# redis-server of its own (loopback, private ports): HAProxy sends
# /v1/regions/east/... to a and /v1/regions/west/... to b, an emergency in
# each region sent through HAProxy is offered; after kill -9 of a, b takes
# east's lease, HAProxy's east check moves to b and a second emergency in
# east is offered; between the kill and b's lease on east, a position in
# east through HAProxy is taken (by b, ready for east but not its holder
# yet). Needs haproxy (scripts/deps.sh). Usage:
#   scripts/haproxy-regions-check.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
NAME=haproxy-regions-check
# shellcheck source=scripts/haproxy-common.sh
. scripts/haproxy-common.sh

start_daemon() { # NAME PORT PREFER
  (umask 077; cat > "$DIR/$1.ini") <<INI
[server]
auth = off
[store]
redis = redis://127.0.0.1:$RPORT
regions = east,west
[lease]
enabled = on
ttl_ms = 3000
id = $1
prefer = $3
INI
  "$DAEMON_BIN" --config "$DIR/$1.ini" --port "$2" 2>"$DIR/$1.log" &
}
start_daemon a "$PA" east; A=$!
start_daemon b "$PB" west; B=$!
for _ in $(seq 200); do
  curl -sf "http://127.0.0.1:$PA/readyz?region=east&role=leader" >/dev/null &&
    curl -sf "http://127.0.0.1:$PB/readyz?region=west&role=leader" >/dev/null && break
  sleep 0.05
done
curl -sf "http://127.0.0.1:$PA/readyz?region=east&role=leader" >/dev/null || fail "a does not lead east"
curl -sf "http://127.0.0.1:$PB/readyz?region=west&role=leader" >/dev/null || fail "b does not lead west"

CM_HAPROXY_BIND=127.0.0.1:$PP CM_DAEMON_A=127.0.0.1:$PA CM_DAEMON_B=127.0.0.1:$PB \
  haproxy -f docs/examples/haproxy-regions.cfg -db >"$DIR/haproxy.log" 2>&1 &
PROXY=$!
URL=http://127.0.0.1:$PP

leader_via_proxy() { curl -s "$URL/v1/regions/$1/leader" 2>/dev/null || true; }
only_leader_via_proxy() { # REGION ID: within 10 s, 10 calls in a row
  # for REGION reach ID leading it
  local run=0
  for _ in $(seq 200); do
    case $(leader_via_proxy "$1") in
      *'"id": "'$2'", "leader": true'*|*'"id":"'$2'","leader":true'*) run=$((run + 1)) ;;
      *) run=0; sleep 0.05 ;;
    esac
    [ $run -ge 10 ] && return 0
  done
  return 1
}
only_leader_via_proxy east a || fail "east through HAProxy: $(leader_via_proxy east)"
only_leader_via_proxy west b || fail "west through HAProxy: $(leader_via_proxy west)"

emergency() { # REGION ID: sent through HAProxy, offered within 10 s
  local code state base=$URL/v1/regions/$1
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$base/workers/w-$2" \
    -H 'Content-Type: application/json' -d '{"skills":["nurse"],"lat":31.23,"lon":121.47}')
  [ "$code" = 200 ] || fail "PUT worker in $1 through HAProxy answered $code"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/requests" \
    -H 'Content-Type: application/json' \
    -d '{"id":"'"$2"'","lat":31.23,"lon":121.47,"skills":["nurse"],"urgency":"emergency"}')
  [ "$code" = 201 ] || fail "POST $2 in $1 through HAProxy answered $code"
  for _ in $(seq 200); do
    state=$(curl -s "$base/requests/$2" | grep -o '"state": *"[a-z]*"' | head -1 || true)
    case $state in *offered*) return 0 ;; esac
    sleep 0.05
  done
  fail "$2 in $1 not offered through HAProxy ($state)"
}
emergency east e1
emergency west w1
# the regions keep to themselves
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/regions/west/requests/e1")
[ "$code" = 404 ] || fail "east's e1 answered $code in west"
kill -9 "$A"; wait "$A" 2>/dev/null || true; A=
for _ in $(seq 20); do # b does not lead east for up to ttl_ms
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/regions/east/positions" \
    -H 'Content-Type: application/json' \
    -d '{"positions":[{"id":"w-e1","lat":31.2301,"lon":121.4701}]}')
  curl -sf "http://127.0.0.1:$PB/readyz?region=east&role=leader" >/dev/null &&
    fail "b led east before a position in east was taken; the check proves nothing"
  [ "$code" = 200 ] && break
  sleep 0.05
done
[ "$code" = 200 ] || fail "no position in east taken through HAProxy during the takeover ($code)"
only_leader_via_proxy east b || fail "HAProxy did not move east to b: $(leader_via_proxy east)"
only_leader_via_proxy west b || fail "west left b: $(leader_via_proxy west)"
emergency east e2
echo "haproxy-regions-check: passed in $(( $(date +%s%3N) - T0 )) ms (HAProxy $(haproxy -v | head -1 | awk '{print $3}'))"
