#!/usr/bin/env bash
# quickstart.sh -- set up a fresh Debian machine, build, and run the main
# job: carematchd on its embedded memory store, fed over HTTP by a
# simulated city (20,000 staff moving: 10,000 positions/s in bulk calls,
# 50 requests/s with 5% emergencies; every offer is accepted through the
# event stream and completed later). A line a second, a summary at the end.
#   scripts/quickstart.sh [seconds]       (default 30)
#   KEEP=1 scripts/quickstart.sh          leave the daemon running after
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-30}
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target carematchd bench_http carematch

QS=build/quickstart
mkdir -p "$QS"
token() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }
PLATFORM=$(token) GATEWAY=$(token) OPERATOR=$(token) METRICS=$(token)
cat > "$QS/carematchd.ini" <<INI
; written by scripts/quickstart.sh -- see docs/daemon.md for every key
[server]
listen = 127.0.0.1
port = 0
max_body_bytes = 16777216
[store]
weights_file = $QS/weights.json
[batch]
window_ms = 300
offer_ttl_ms = 30000
[services]
fall_alarm = nurse|caregiver
hospital_escort = escort
[tokens]
platform = $PLATFORM
gateway = $GATEWAY
operator = $OPERATOR
metrics = $METRICS
INI
rm -f "$QS/port"
build/carematchd --config "$QS/carematchd.ini" --port-file "$QS/port" \
  2> "$QS/carematchd.log" &
DAEMON=$!
stop() { kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null || true; }
[ "${KEEP:-0}" = 1 ] || trap stop EXIT
for _ in $(seq 100); do [ -s "$QS/port" ] && break; sleep 0.05; done
PORT=$(cat "$QS/port")
URL=http://127.0.0.1:$PORT
cat <<MSG
carematchd is running on $URL (memory store), log: $QS/carematchd.log
Where to look while the city runs (tokens are in $QS/carematchd.ini):
  curl -s -H 'Authorization: Bearer $METRICS' $URL/metrics | grep carematch_batch
  curl -sN -H 'Authorization: Bearer $PLATFORM' $URL/v1/events
  curl -s -H 'Authorization: Bearer $OPERATOR' $URL/v1/weights
  curl -s -H 'Authorization: Bearer $PLATFORM' $URL/v1/requests/q42

MSG
build/bench_http --url "$URL" --platform-token "$PLATFORM" \
  --gateway-token "$GATEWAY" --seconds "$SECONDS_TO_RUN" \
  --out "$QS/summary.json"
echo
echo "summary (JSON): $QS/summary.json; metrics: $URL/metrics"
if [ "${KEEP:-0}" = 1 ]; then
  echo "the daemon keeps running (pid $DAEMON); stop it with: kill $DAEMON"
fi
