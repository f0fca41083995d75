#!/usr/bin/env bash
# redis-cluster.sh -- a private Redis Cluster on loopback for the tests and
# the bench: 3 masters and 3 replicas, ports BASE..BASE+5, files in DIR.
#   scripts/redis-cluster.sh start DIR BASE   start it, wait for cluster_state:ok
#                                             and every replica's link up
#   scripts/redis-cluster.sh stop DIR         stop every node started in DIR
#   scripts/redis-cluster.sh node DIR PORT    (re)start one node of DIR
# cluster-node-timeout is 1000 ms, so a killed master's replica takes over
# within a few seconds. Nothing is saved (no RDB, no AOF).
# CM_CLUSTER_IP (optional, an address of this machine): the nodes listen
# on it too and announce it, for clients in a network namespace (no
# password: keep the address private to the machine)
# (scripts/chaos_ha.sh).
set -euo pipefail

node() { # DIR PORT: start one node (daemonized), its files in DIR/PORT
  local dir=$1 port=$2
  mkdir -p "$dir/$port"
  local bind=(--bind 127.0.0.1)
  [ -n "${CM_CLUSTER_IP:-}" ] &&
    bind=(--bind "127.0.0.1 $CM_CLUSTER_IP" --cluster-announce-ip "$CM_CLUSTER_IP"
      --protected-mode no)
  redis-server --port "$port" "${bind[@]}" --cluster-enabled yes \
    --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 1000 \
    --save '' --appendonly no --dir "$dir/$port" --daemonize yes \
    --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" >/dev/null
  for _ in $(seq 50); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  echo "redis-cluster.sh: node $port would not start" >&2
  return 1
}

case "${1:-}" in
start)
  dir=$2 base=$3
  mkdir -p "$dir"
  addrs=()
  for i in 0 1 2 3 4 5; do
    node "$dir" $((base + i))
    addrs+=("127.0.0.1:$((base + i))")
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 \
    --cluster-yes >"$dir/create.log" 2>&1 || {
    cat "$dir/create.log" >&2
    exit 1
  }
  for _ in $(seq 200); do
    ok=1
    for i in 0 1 2 3 4 5; do
      p=$((base + i))
      redis-cli -p $p cluster info 2>/dev/null |
        grep -q 'cluster_state:ok' || ok=0
      # and replication is up: a master has its replica, a replica its link
      redis-cli -p $p info replication 2>/dev/null |
        grep -Eq '^(connected_slaves:1|master_link_status:up)' || ok=0
    done
    [ "$ok" = 1 ] && exit 0
    sleep 0.1
  done
  echo "redis-cluster.sh: the cluster did not reach cluster_state:ok" >&2
  exit 1
  ;;
node)
  node "$2" "$3"
  ;;
stop)
  dir=$2
  for pidf in "$dir"/*/redis.pid; do
    [ -f "$pidf" ] || continue
    pid=$(cat "$pidf" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  done
  ;;
*)
  echo "usage: $0 start DIR BASE | stop DIR | node DIR PORT" >&2
  exit 2
  ;;
esac
