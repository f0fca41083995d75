#!/usr/bin/env bash
# redis-tls-check.sh -- carematchd to Redis over TLS through stunnel
# (docs/redis.md, "TLS"): hiredis 0.14 speaks no TLS, so stunnel in client
# mode carries the daemon's plain connection to a redis-server that listens
# on TLS only (--port 0 --tls-port, client certificates required) and asks
# for a password. Certificates (a CA, the server's, the client's) are made
# here with openssl. Checks: the daemon becomes ready through the tunnel, a
# worker and an emergency request make a round trip to an offer, and the
# offer is in Redis (read with redis-cli --tls); a daemon pointed at the TLS
# port without the tunnel is not ready. Everything on loopback, in a few
# seconds; run from .ci/run after scripts/test.sh (needs build/carematchd).
#   scripts/redis-tls-check.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DAEMON_BIN=$BUILD/carematchd
[ -x "$DAEMON_BIN" ] || { echo "redis-tls-check: no $DAEMON_BIN (build first)" >&2; exit 1; }
for tool in stunnel4 openssl redis-server redis-cli curl; do
  command -v "$tool" >/dev/null ||
    { echo "redis-tls-check: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
done

DIR=$(mktemp -d)
REDIS= TUNNEL= DAEMON= DAEMON2=
cleanup() {
  for p in $DAEMON $DAEMON2 $TUNNEL $REDIS; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in $DAEMON $DAEMON2 $TUNNEL $REDIS; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
fail() {
  echo "redis-tls-check: FAILED: $*" >&2
  for f in "$DIR"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done
  exit 1
}
free_port() { # below the ephemeral range, nobody listening
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
TLS_PORT=$(free_port) TUNNEL_PORT=$(free_port)
PASSWORD=tls-check-$RANDOM$RANDOM
T0=$(date +%s%3N)

# ---- certificates: a CA, the server (SAN 127.0.0.1), a client ----
(
  cd "$DIR"
  umask 077
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=carematch-test-ca \
    -keyout ca.key -out ca.crt 2>/dev/null
  for who in server client; do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" \
      -keyout "$who.key" -out "$who.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$who.ext"
    openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 2 -extfile "$who.ext" -out "$who.crt" 2>/dev/null
  done
)

# ---- redis-server on TLS only, with a password ----
redis-server --port 0 --tls-port "$TLS_PORT" --bind 127.0.0.1 --save '' \
  --appendonly no --dir "$DIR" --requirepass "$PASSWORD" \
  --tls-cert-file "$DIR/server.crt" --tls-key-file "$DIR/server.key" \
  --tls-ca-cert-file "$DIR/ca.crt" --tls-auth-clients yes \
  --logfile "$DIR/redis.log" --daemonize yes --pidfile "$DIR/redis.pid" ||
  fail "redis-server would not start with TLS (built without it?)"
RCLI=(redis-cli -h 127.0.0.1 -p "$TLS_PORT" --tls --cacert "$DIR/ca.crt"
      --cert "$DIR/client.crt" --key "$DIR/client.key" --no-auth-warning -a "$PASSWORD")
for _ in $(seq 100); do
  "${RCLI[@]}" ping 2>/dev/null | grep -q PONG && break
  sleep 0.05
done
"${RCLI[@]}" ping 2>/dev/null | grep -q PONG || fail "redis-server does not answer on TLS"
REDIS=$(cat "$DIR/redis.pid")

# ---- stunnel in client mode: plain on loopback, TLS to Redis ----
cat > "$DIR/stunnel.conf" <<CONF
foreground = yes
pid =
output = $DIR/stunnel.log
[redis]
client = yes
accept = 127.0.0.1:$TUNNEL_PORT
connect = 127.0.0.1:$TLS_PORT
CAfile = $DIR/ca.crt
verifyChain = yes
checkIP = 127.0.0.1
cert = $DIR/client.crt
key = $DIR/client.key
CONF
stunnel4 "$DIR/stunnel.conf" 2>"$DIR/stunnel-stderr.log" &
TUNNEL=$!

# ---- the daemon through the tunnel; the password from the environment ----
start_daemon() { # NAME REDIS_PORT: NAME.ini, NAME.port, NAME.log
  (umask 077; cat > "$DIR/$1.ini") <<INI
[server]
auth = off
[store]
redis = redis://127.0.0.1:$2
region = tls
INI
  CAREMATCH_REDIS_PASSWORD=$PASSWORD "$DAEMON_BIN" --config "$DIR/$1.ini" \
    --port 0 --port-file "$DIR/$1.port" 2>"$DIR/$1.log" &
}
start_daemon daemon "$TUNNEL_PORT"
DAEMON=$!
for _ in $(seq 200); do [ -s "$DIR/daemon.port" ] && break; sleep 0.05; done
[ -s "$DIR/daemon.port" ] || fail "carematchd did not start"
URL=http://127.0.0.1:$(cat "$DIR/daemon.port")
ready=
for _ in $(seq 200); do
  if curl -sf "$URL/readyz" >/dev/null; then ready=1; break; fi
  sleep 0.05
done
[ -n "$ready" ] || fail "not ready through stunnel: $(curl -s "$URL/readyz")"

code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$URL/v1/workers/w1" \
  -H 'Content-Type: application/json' \
  -d '{"skills":["nurse"],"lat":31.23,"lon":121.47}')
[ "$code" = 200 ] || fail "PUT worker answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/requests" \
  -H 'Content-Type: application/json' \
  -d '{"id":"r1","lat":31.23,"lon":121.47,"skills":["nurse"],"urgency":"emergency"}')
[ "$code" = 201 ] || fail "POST request answered $code"
state=
for _ in $(seq 200); do
  state=$(curl -s "$URL/v1/requests/r1" | grep -o '"state": *"[a-z]*"' | head -1 || true)
  case $state in *offered*) break ;; esac
  sleep 0.05
done
case $state in *offered*) ;; *) fail "r1 not offered ($state)" ;; esac
rec=$("${RCLI[@]}" hget 'cm:{tls}:req:r1' state 2>/dev/null)
[ -n "$rec" ] || fail "r1 is not in Redis"

# ---- without the tunnel: plain text to the TLS port is not Redis ----
start_daemon direct "$TLS_PORT"
DAEMON2=$!
for _ in $(seq 200); do [ -s "$DIR/direct.port" ] && break; sleep 0.05; done
[ -s "$DIR/direct.port" ] || fail "the second carematchd did not start"
sleep 0.5
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$DIR/direct.port")/readyz")
[ "$code" = 503 ] || fail "a daemon on the TLS port without stunnel answered /readyz $code"

grep -q "$PASSWORD" "$DIR"/*.log && fail "the password is in a log"
T1=$(date +%s%3N)
echo "redis-tls-check: ok: carematchd -> stunnel -> redis-server (TLS only, client certificate, password): ready, request offered and in Redis; a daemon without the tunnel is not ready ($((T1 - T0)) ms)"
