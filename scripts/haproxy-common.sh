# haproxy-common.sh -- what scripts/haproxy-check.sh and
# scripts/haproxy-regions-check.sh share, sourced by both after setting
# NAME (their name in messages) and BUILD: the tools checked, a private
# directory removed at exit with every process started, fail (the logs'
# tails), free loopback ports RPORT PA PB PP, and a redis-server of their
# own on RPORT (REDIS its pid). Not run on its own.
DAEMON_BIN=$BUILD/carematchd
[ -x "$DAEMON_BIN" ] || { echo "$NAME: no $DAEMON_BIN (build first)" >&2; exit 1; }
for tool in haproxy redis-server redis-cli curl; do
  command -v "$tool" >/dev/null ||
    { echo "$NAME: $tool is missing (scripts/deps.sh; Debian: apt-get install haproxy)" >&2; exit 1; }
done

DIR=$(mktemp -d)
REDIS= A= B= PROXY=
cleanup() {
  for p in $PROXY $A $B $REDIS; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in $PROXY $A $B $REDIS; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
fail() {
  echo "$NAME: FAILED: $*" >&2
  for f in "$DIR"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done
  exit 1
}
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
RPORT=$(free_port) PA=$(free_port) PB=$(free_port) PP=$(free_port)
T0=$(date +%s%3N)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$DIR" --logfile "$DIR/redis.log" --daemonize yes --pidfile "$DIR/redis.pid"
for _ in $(seq 100); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
REDIS=$(cat "$DIR/redis.pid")
