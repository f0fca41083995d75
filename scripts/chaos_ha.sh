#!/usr/bin/env bash
# chaos_ha.sh -- the extended chaos run (docs/hardening.md, docs/ha.md):
# DAEMONS carematchd of one region with [lease] enabled behind HAProxy
# (the holder only, checked on /readyz?role=leader), carematch_sim's live
# load sent through HAProxy, and the failures of a replicated deployment,
# made at random moments, each kind in turn, after a first one that
# tries the fence:
#   stop_ignoring  d1 (the first holder) runs its first life with the fault
#                  injection CAREMATCH_TEST_LEASE_IGNORE_LOSS=1: it is
#                  SIGSTOPped past the TTL and, thawed, keeps running batches
#                  under its old epoch for 3 s; Redis must refuse them all
#                  (its carematch_ledger_stale_epoch_total counts them); then
#                  it is killed and started again without the fault;
#   kill9_holder   kill -9 the lease's holder, start it again;
#   stop_holder    SIGSTOP the holder past the TTL, then SIGCONT it (the
#                  fence must refuse anything it commits under its old epoch);
#   cut_holder     cut the holder from Redis (and HAProxy) for the TTL + 1 s:
#                  each daemon runs in a network namespace of its own joined
#                  by a veth pair, and the cut sets the link down (as root;
#                  otherwise CLIENT PAUSE of the region's master: Redis
#                  stops answering every client for as long);
# and with REDIS_MODE=cluster (a 3-master, 3-replica Redis Cluster,
# scripts/redis-cluster.sh, redis+cluster:// URLs, durability = replica):
#   kill9_master   kill -9 the master of the region's slot (its replica is
#                  promoted; the node comes back as a replica);
#   migrate_slot   move the region's slot to another master while the load
#                  runs (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE).
# Afterwards chaos_mirror compares the holder's mirror with Redis, and
# chaos_check --lease judges the event stream: no acknowledged request
# lost, no worker over capacity at any event, no offer under an epoch other
# than the latest acquisition's, jobs equal to holds; with each fault's
# time to the next lease and the next offer, and the requests (emergencies)
# submitted meanwhile. Loopback (and veth pairs on this machine) only.
#   scripts/chaos_ha.sh [SECONDS]        (default 90)
#   REDIS_MODE=single|cluster DAEMONS=3 TTL=1500 RATE=60 BUILD=build SEED=N
#   OUT=bench/results/chaos-ha.json KEEP=1 (keep the files: logs, acked ids)
#   POSITIONS=any (the default, as docs/examples/haproxy.cfg): HAProxy
#   sends the position updates to any daemon that takes writes (a second
#   backend checked on /readyz, docs/ha.md "Behind HAProxy"), the rest to
#   the holder; POSITIONS=holder: everything to the holder
#   LOGS=DIR: keep each daemon's log (every line time-stamped; no personal
#   data: ids and counts only), its /metrics at the end and the faults
#   file in DIR (0700), e.g. for the takeover's steps (docs/ha.md)
#   FAULTS="kill9_holder stop_holder" (only these kinds)
#   HANDBACK=1: d1 prefers the region and the others do not ([lease]
#   prefer), so every time d1 comes back the holder hands the lease back
#   to it (docs/ha.md, "Hand-back"): hand-backs under the faults
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-90}
MODE=${REDIS_MODE:-single}
N=${DAEMONS:-3}
TTL=${TTL:-1500}
RATE=${RATE:-60}
BUILD=${BUILD:-build}
OUT=${OUT:-bench/results/chaos-ha.json}
SEED=${SEED:-$RANDOM}
REGION=chaos
HANDBACK=${HANDBACK:-0}
for tool in haproxy redis-server redis-cli; do
  command -v "$tool" >/dev/null ||
    { echo "chaos_ha: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
done
if [ ! -x "$BUILD/carematchd" ] || [ ! -x "$BUILD/carematch_sim" ] ||
   [ ! -x "$BUILD/chaos_check" ] || [ ! -x "$BUILD/chaos_mirror" ]; then
  cmake -S . -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j 2 --target carematchd carematch_sim chaos_check \
    chaos_mirror
fi
RANDOM=$SEED
DIR=$(mktemp -d)
TAG=cmc$(( $$ % 100000 )) OCT=$(( 200 + $$ % 50 ))
NET=0 HOSTIP=127.0.0.1 REDIS= PROXY= SIM= STOPPED=
declare -A PID ADDR PORT RUNS
cleanup() {
  set +e
  [ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
  for p in $SIM $PROXY "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ "$MODE" = cluster ]; then
    scripts/redis-cluster.sh stop "$DIR/cluster" 2>/dev/null || true
  elif [ -n "$REDIS" ]; then
    kill -9 "$REDIS" 2>/dev/null || true
  fi
  if [ "$NET" = 1 ]; then
    for p in "${PID[@]}"; do # out of the namespaces before they go
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    done
    for i in $(seq "$N"); do
      ip link del "${TAG}h$i" 2>/dev/null || true
      for _ in 1 2 3; do
        ip netns del "${TAG}n$i" 2>/dev/null && break
        sleep 0.2
      done
    done
    ip addr del "$HOSTIP/32" dev lo 2>/dev/null || true
  fi
  if [ -n "${KEEP:-}" ]; then echo "chaos_ha: files kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
free_port() { # below the ephemeral range, nobody listening
  local p
  while :; do
    p=$((20000 + RANDOM % ${1:-12000}))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
free_base() { # six free ports and their cluster bus ports (+10000)
  local b i
  while :; do
    b=$((20000 + RANDOM % 2000)) # the bus ports stay below 32768
    for i in 0 1 2 3 4 5; do
      (exec 3<>"/dev/tcp/127.0.0.1/$((b + i))") 2>/dev/null && continue 2
      (exec 3<>"/dev/tcp/127.0.0.1/$((b + i + 10000))") 2>/dev/null && continue 2
    done
    echo "$b"
    return
  done
}
now_ms() { date +%s%3N; }
fault() { # KIND T [PROBE]: a line of the faults file (chaos_check --faults)
  echo "$1 $2 ${3:--}" >> "$DIR/faults"; echo "$(date +%T.%3N) chaos_ha: $1"
}
emergency() { # H T: at once, a fall alarm (an emergency) to a daemon other
  # than the holder H (standbys take API writes), at a live request's
  # place; says its id when it was acknowledged
  local h=$1 id=chaos-e$2 s m rec lat lon code
  s=$(( h % N + 1 )) m=$(master_port)
  rec=$(redis-cli -p "$m" --raw hget "cm:{$REGION}:req:$(redis-cli -p "$m" --raw \
    zrange "cm:{$REGION}:live" -1 -1 2>/dev/null)" rec 2>/dev/null || true)
  lat=$(echo "$rec" | grep -o '"lat": *[-0-9.e]*' | head -1 | sed 's/.*: *//' || true)
  lon=$(echo "$rec" | grep -o '"lon": *[-0-9.e]*' | head -1 | sed 's/.*: *//' || true)
  [ -n "$lat" ] && [ -n "$lon" ] || return 0
  code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 -X POST \
    "http://${ADDR[$s]}:${PORT[$s]}/v1/requests" \
    -H 'Authorization: Bearer chaos-platform-token-0000' \
    -H 'Content-Type: application/json' \
    -d "{\"id\":\"$id\",\"lat\":$lat,\"lon\":$lon,\"skills\":[\"nurse\",\"caregiver\"],\"skill_mode\":\"any\",\"urgency\":\"emergency\"}" || true)
  case "$code" in 2*) echo "$id" >> "$DIR/acked.probe"; echo "$id" ;; esac
}

# the network: each daemon in a namespace of its own, a veth pair to this
# one; Redis listens on an address of this machine's lo that the
# namespaces reach through their link (as root only)
if [ "$(id -u)" = 0 ] && ip netns add "${TAG}n1" 2>"$DIR/netns.err"; then
  NET=1 HOSTIP=10.$OCT.0.1
  ip addr add "$HOSTIP/32" dev lo
  for i in $(seq "$N"); do
    ns=${TAG}n$i
    [ "$i" = 1 ] || ip netns add "$ns"
    ip link add "${TAG}h$i" type veth peer name "${TAG}p$i"
    ip link set "${TAG}p$i" netns "$ns"
    ip addr add "10.$OCT.$i.1/24" dev "${TAG}h$i"
    ip link set "${TAG}h$i" up
    ip netns exec "$ns" ip addr add "10.$OCT.$i.2/24" dev "${TAG}p$i"
    ip netns exec "$ns" ip link set "${TAG}p$i" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip route add default via "10.$OCT.$i.1"
    ADDR[$i]=10.$OCT.$i.2
  done
else
  echo "chaos_ha: no network namespaces ($(cat "$DIR/netns.err" 2>/dev/null)): cut_holder pauses Redis instead"
  for i in $(seq "$N"); do ADDR[$i]=127.0.0.1; done
fi

# Redis: one server on its append-only file, or the cluster
if [ "$MODE" = cluster ]; then
  BASE=$(free_base)
  CM_CLUSTER_IP=$([ "$NET" = 1 ] && echo "$HOSTIP" || true) \
    scripts/redis-cluster.sh start "$DIR/cluster" "$BASE"
  URL="redis+cluster://$HOSTIP:$BASE,$HOSTIP:$((BASE + 1)),$HOSTIP:$((BASE + 2))"
  DURABILITY=replica
  SLOT=$(redis-cli -p "$BASE" cluster keyslot "$REGION")
else
  RPORT=$(free_port)
  BIND=(--bind 127.0.0.1)
  [ "$NET" = 1 ] && BIND=(--bind "127.0.0.1 $HOSTIP" --protected-mode no)
  mkdir -p "$DIR/redis"
  redis-server --port "$RPORT" "${BIND[@]}" --dir "$DIR/redis" \
    --appendonly yes --appendfsync always --save '' \
    --logfile "$DIR/redis.log" --daemonize yes --pidfile "$DIR/redis.pid"
  for _ in $(seq 100); do
    redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.05
  done
  REDIS=$(cat "$DIR/redis.pid")
  URL="redis://$HOSTIP:$RPORT"
  DURABILITY=fsync
fi
ports() { if [ "$MODE" = cluster ]; then seq "$BASE" $((BASE + 5)); else echo "$RPORT"; fi; }
masters() { # the ports of the cluster's masters that answer
  for p in $(ports); do
    redis-cli -p "$p" role 2>/dev/null | head -1 | grep -qx master && echo "$p"
  done
  return 0
}
master_port() { # the port of the node serving the region's slot, or ""
  [ "$MODE" = cluster ] || { echo "$RPORT"; return; }
  local p
  for p in $(masters); do
    redis-cli -p "$p" cluster nodes 2>/dev/null | awk -v s="$SLOT" '
      $3 ~ /master/ && $3 !~ /fail/ && $8 == "connected" {
        for (i = 9; i <= NF; i++) { n = split($i, r, "-")
          if ((n == 1 && r[1] == s) || (n == 2 && r[1] <= s && s <= r[2])) {
            split($2, a, "[:@]"); print a[2]; exit } } }'
    return
  done
}
holder() { # the index of the daemon that holds the lease, or ""
  local m v
  m=$(master_port)
  [ -n "$m" ] || return 0
  v=$(redis-cli -p "$m" --raw get "cm:{$REGION}:lease" 2>/dev/null || true)
  [[ $v =~ \ d([0-9]+)x[0-9]+$ ]] && echo "${BASH_REMATCH[1]}" || true
}

(umask 077; cat > "$DIR/tokens.ini") <<INI
[tokens]
platform = chaos-platform-token-0000
gateway = chaos-gateway-token-00000
operator = chaos-operator-token-0000
INI
DAY0=$(( $(date -u +%s) / 86400 * 86400 * 1000 ))
START=$(( DAY0 + 7 * 3600000 )) T0=$(now_ms)
start_daemon() { # I: daemon dI, in its namespace, on the shared clock; a
  # new lease name at each start (dIxK), as the default host:pid would be
  local i=$1 at=$(( START + ($(now_ms) - T0) * RATE ))
  RUNS[$i]=$(( ${RUNS[$i]:-0} + 1 ))
  local pref=""
  if [ "$HANDBACK" = 1 ]; then
    if [ "$i" = 1 ]; then pref="prefer = $REGION"; else pref="prefer = not-$REGION"; fi
  fi
  [ -n "${PORT[$i]:-}" ] || PORT[$i]=$(free_port)
  (umask 077; cat > "$DIR/d$i.ini") <<INI
[server]
max_body_bytes = 16777216
[store]
redis = $URL
region = $REGION
durability = $DURABILITY
[batch]
offer_ttl_ms = 60000
[lease]
enabled = on
ttl_ms = $TTL
id = d${i}x${RUNS[$i]}
$pref
$(cat "$DIR/tokens.ini")
INI
  local run=()
  [ "$NET" = 1 ] && run=(ip netns exec "${TAG}n$i")
  # d1's first life ignores the loss of its lease (stop_ignoring)
  [ "$i" = 1 ] && [ "${RUNS[1]}" = 1 ] && run+=(env CAREMATCH_TEST_LEASE_IGNORE_LOSS=1)
  "${run[@]}" "$BUILD/carematchd" --config "$DIR/d$i.ini" \
    --listen "${ADDR[$i]}" --port "${PORT[$i]}" \
    --clock-start "$at" --clock-rate "$RATE" \
    2> >(while IFS= read -r l; do echo "$(date +%T.%3N) $l"; done >>"$DIR/d$i.log") &
  PID[$i]=$!
  disown
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/${ADDR[$i]}/${PORT[$i]}") 2>/dev/null && return
    sleep 0.05
  done
}
for i in $(seq "$N"); do start_daemon "$i"; done

# HAProxy: every call to the holder (docs/examples/haproxy.cfg's check)
PP=$(free_port)
{
  printf 'global\n    maxconn 4096\ndefaults\n    mode http\n'
  # a daemon cut off answers nothing: give up on it after 2 s
  printf '    timeout connect 500ms\n    timeout client 30s\n    timeout server 2s\n'
  printf '    option redispatch\n    retries 2\n'
  printf 'frontend carematch\n    bind 127.0.0.1:%s\n    default_backend carematchd\n' "$PP"
  if [ "${POSITIONS:-any}" = any ]; then
    printf '    use_backend writers if { path /v1/positions }\n'
  fi
  for b in carematchd writers; do # the holder; any daemon taking writes
    printf 'backend %s\n    option httpchk\n' "$b"
    printf '    http-check send meth GET uri %s ver HTTP/1.1 hdr Host carematchd\n' \
      "$([ "$b" = writers ] && echo /readyz || echo '/readyz?role=leader')"
    printf '    http-check expect status 200\n    default-server inter 200ms fall 2 rise 1\n'
    for i in $(seq "$N"); do printf '    server d%s %s:%s check\n' "$i" "${ADDR[$i]}" "${PORT[$i]}"; done
  done
} > "$DIR/haproxy.cfg"
haproxy -f "$DIR/haproxy.cfg" -q >"$DIR/haproxy.log" 2>&1 &
PROXY=$!
disown
for _ in $(seq 200); do [ -n "$(holder)" ] && break; sleep 0.05; done
sleep 0.5

UNTIL_MIN=$(( 7 * 60 + DURATION * RATE / 60 ))
[ "$UNTIL_MIN" -gt 1440 ] && UNTIL_MIN=1440
# SIGPIPE ignored (kept across exec): HAProxy closes the client's
# connection when the daemon behind it dies in the middle of a call
(trap '' PIPE; exec "$BUILD/carematch_sim" live --seed 1 --url "http://127.0.0.1:$PP" \
  --rate "$RATE" --from 07:00 \
  --until "$(printf '%02d:%02d' $((UNTIL_MIN / 60)) $((UNTIL_MIN % 60)))" \
  --drain-min 0 --survive --acked "$DIR/acked" \
  --platform-token chaos-platform-token-0000 \
  --gateway-token chaos-gateway-token-00000 \
  --operator-token chaos-operator-token-0000 --quiet \
  > "$DIR/sim.out" 2> "$DIR/sim.err") &
SIM=$!

settle() { # until somebody holds the lease (at most 10 s), then a while
  for _ in $(seq 200); do [ -n "$(holder)" ] && break; sleep 0.05; done
  sleep "$(( 1 + RANDOM % 3 )).$(( RANDOM % 10 ))"
}
past_ttl() { echo "$(( (TTL + 1000 + RANDOM % 1000) / 1000 )).$(( RANDOM % 10 ))"; }
kill9_holder() {
  local h t
  h=$(holder); [ -n "$h" ] || return 0
  t=$(now_ms); kill -9 "${PID[$h]}" 2>/dev/null || true
  fault kill9_holder "$t" "$(emergency "$h" "$t")"
  sleep "0.$(( 3 + RANDOM % 7 ))"
  start_daemon "$h"
}
stop_holder() {
  local h t
  h=$(holder); [ -n "$h" ] || return 0
  t=$(now_ms); kill -STOP "${PID[$h]}"; STOPPED=${PID[$h]}
  fault stop_holder "$t" "$(emergency "$h" "$t")"
  sleep "$(past_ttl)"
  kill -CONT "${PID[$h]}"; STOPPED=
}
cut_holder() {
  local h t m
  h=$(holder); [ -n "$h" ] || return 0
  t=$(now_ms)
  if [ "$NET" = 1 ]; then
    ip link set "${TAG}h$h" down
    fault cut_holder "$t" "$(emergency "$h" "$t")"
    sleep "$(past_ttl)"
    ip link set "${TAG}h$h" up
  else # no namespaces: Redis stops answering everybody for as long
    m=$(master_port)
    redis-cli -p "$m" client pause $(( TTL + 1000 )) >/dev/null
    fault pause_redis "$t"
    sleep "$(( (TTL + 1000) / 1000 + 1 ))"
  fi
}
kill9_master() { # one failure at a time: only a master with its replica
  # in sync, and the node back and in sync as a replica before going on
  local m t
  m=$(master_port); [ -n "$m" ] || return 0
  for _ in $(seq 300); do
    redis-cli -p "$m" info replication 2>/dev/null | grep -q '^slave0:.*state=online' && break
    sleep 0.1
  done
  t=$(now_ms); kill -9 "$(cat "$DIR/cluster/$m/redis.pid")"
  fault kill9_master "$t"
  for _ in $(seq 300); do
    local n; n=$(master_port)
    [ -n "$n" ] && [ "$n" != "$m" ] && break
    sleep 0.05
  done
  CM_CLUSTER_IP=$([ "$NET" = 1 ] && echo "$HOSTIP" || true) \
    scripts/redis-cluster.sh node "$DIR/cluster" "$m" # back, as a replica
  for _ in $(seq 300); do
    redis-cli -p "$m" info replication 2>/dev/null | grep -q '^master_link_status:up' && break
    sleep 0.1
  done
}
migrate_slot() {
  local src dst sid did t p keys
  src=$(master_port); [ -n "$src" ] || return 0
  dst=$(masters | grep -vx "$src" | head -n $(( 1 + RANDOM % 2 )) | tail -n 1)
  [ -n "$dst" ] || return 0
  sid=$(redis-cli -p "$src" cluster myid) did=$(redis-cli -p "$dst" cluster myid)
  t=$(now_ms)
  redis-cli -p "$dst" cluster setslot "$SLOT" importing "$sid" >/dev/null
  redis-cli -p "$src" cluster setslot "$SLOT" migrating "$did" >/dev/null
  fault migrate_slot "$t"
  while :; do
    mapfile -t keys < <(redis-cli -p "$src" --raw cluster getkeysinslot "$SLOT" 50)
    [ "${#keys[@]}" -gt 0 ] && [ -n "${keys[0]}" ] || break
    redis-cli -p "$src" migrate 127.0.0.1 "$dst" "" 0 5000 keys "${keys[@]}" >/dev/null
  done
  for p in $(masters); do
    redis-cli -p "$p" cluster setslot "$SLOT" node "$did" >/dev/null
  done
}
REFUSED=-1
stop_ignoring() { # the fence under fire (see the top)
  local t
  [ "$(holder)" = 1 ] || { echo "chaos_ha: d1 does not hold the lease: no stop_ignoring"; return 0; }
  t=$(now_ms); kill -STOP "${PID[1]}"; STOPPED=${PID[1]}
  fault stop_ignoring "$t" "$(emergency 1 "$t")"
  sleep "$(past_ttl)"
  kill -CONT "${PID[1]}"; STOPPED=
  sleep 3
  REFUSED=$(curl -s -m 2 -H 'Authorization: Bearer chaos-operator-token-0000' \
    "http://${ADDR[1]}:${PORT[1]}/metrics" |
    awk '$1 == "carematch_ledger_stale_epoch_total" {print $2}' || true)
  REFUSED=${REFUSED:--1}
  echo "chaos_ha: d1 ignored its loss for 3 s: Redis refused $REFUSED offers under its old epoch"
  kill -9 "${PID[1]}" 2>/dev/null || true
  sleep 0.3
  start_daemon 1
}
KINDS=(kill9_holder stop_holder cut_holder)
[ "$MODE" = cluster ] && KINDS+=(kill9_master migrate_slot)
[ -n "${FAULTS:-}" ] && read -r -a KINDS <<< "$FAULTS" # e.g. FAULTS=kill9_master
END=$(( $(now_ms) + DURATION * 1000 ))
settle
stop_ignoring
ROUND=0
while kill -0 "$SIM" 2>/dev/null && [ "$(now_ms)" -lt "$END" ]; do
  settle
  # each kind once per round, the round's order at random
  for k in $(printf '%s\n' "${KINDS[@]}" | awk -v s=$RANDOM 'BEGIN{srand(s)} {print rand() "\t" $0}' | sort | cut -f2); do
    kill -0 "$SIM" 2>/dev/null && [ "$(now_ms)" -lt "$END" ] || break
    "$k"
    settle
  done
  ROUND=$((ROUND + 1))
done
SIMRC=0; wait "$SIM" || SIMRC=$?
[ "$SIMRC" = 0 ] || { echo "chaos_ha: the load failed ($SIMRC)"; grep -v "^http:" "$DIR/sim.err" | tail -n 20; exit 1; }
SIM=
MPORT=$(master_port)
cat "$DIR/acked" "$DIR/acked.probe" > "$DIR/acked.all" 2>/dev/null || true
set +e
MIRROR=$("$BUILD/chaos_mirror" --redis-port "$MPORT" --region "$REGION" \
  --daemon-port "$PP" --token chaos-operator-token-0000 --acked "$DIR/acked.all")
MRC=$?
set -e
echo "mirror: $MIRROR"
for i in $(seq "$N"); do # each daemon's metrics before the stop
  curl -s -m 2 -H 'Authorization: Bearer chaos-operator-token-0000' \
    "http://${ADDR[$i]}:${PORT[$i]}/metrics" > "$DIR/d$i.metrics" 2>/dev/null || true
done
for i in $(seq "$N"); do kill -TERM "${PID[$i]}" 2>/dev/null || true; done
for i in $(seq "$N"); do wait "${PID[$i]}" 2>/dev/null || true; done
STARTS=$(cat "$DIR"/d*.log | grep -c "listening on" || true)
NFAULTS=$(wc -l < "$DIR/faults")
echo "chaos_ha: $DURATION s, $MODE, $N daemons, ttl $TTL ms, $NFAULTS faults, $STARTS daemon starts, net namespaces: $NET"
tail -n 4 "$DIR/sim.out" | sed 's/^/load: /'
set +e
CHECK=$("$BUILD/chaos_check" --port "$MPORT" --region "$REGION" --acked "$DIR/acked.all" \
  --lease --faults "$DIR/faults")
RC=$?
set -e
echo "check: $CHECK"
if [ -n "${LOGS:-}" ]; then
  (umask 077; mkdir -p "$LOGS"
   cp "$DIR"/d*.log "$DIR"/d*.metrics "$DIR/faults" "$LOGS/" 2>/dev/null || true)
  echo "chaos_ha: logs and metrics kept in $LOGS"
fi
mkdir -p "$(dirname "$OUT")"
PROBES=0
[ -f "$DIR/acked.probe" ] && PROBES=$(wc -l < "$DIR/acked.probe")
printf '{"seconds":%d,"mode":"%s","daemons":%d,"ttl_ms":%d,"rate":%d,"seed":%d,"net_namespaces":%d,"faults":%d,"emergency_probes":%d,"ignoring_holder_refused_offers":%d,"daemon_starts":%d,"check":%s,"mirror":%s}\n' \
  "$DURATION" "$MODE" "$N" "$TTL" "$RATE" "$SEED" "$NET" "$NFAULTS" "$PROBES" "$REFUSED" "$STARTS" \
  "${CHECK:-null}" "${MIRROR:-null}" > "$OUT"
[ "$RC" = 0 ] && [ "$MRC" = 0 ] || {
  echo "chaos_ha: FAILED"
  for i in $(seq "$N"); do echo "--- d$i"; tail -n 15 "$DIR/d$i.log"; done
  exit 1
}
echo "chaos_ha: passed ($OUT)"
