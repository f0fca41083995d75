#!/usr/bin/env bash
# quickstart.sh -- set up a fresh Debian machine, build, and run the main
# job: carematchd on its embedded memory store with a simulated city
# feeding it over HTTP (carematch_sim live, docs/sim.md): the seed city's
# 1,200 staff on shift, moving and reporting positions, the morning peak's
# requests arriving (emergencies, escorts, care visits, team transfers),
# every offer answered through the event stream, jobs served and completed.
# The daemon runs on a simulated clock RATE times as fast as real time, so
# the peak takes minutes. A line a second with the KPIs as they come in,
# the table at the end.
# The set-up steps print a line each; their output (apt, cmake, the
# compiler) goes to build/quickstart/setup.log, whose last lines are shown
# if one fails, as the daemon's log is if it does not start.
#   scripts/quickstart.sh [RATE [FROM [UNTIL]]]  (default 120 07:00 10:00)
#   KEEP=1 scripts/quickstart.sh                 leave the daemon running
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-120} FROM=${2:-07:00} UNTIL=${3:-10:00}
QS=build/quickstart
STEP_NAME=quickstart
. scripts/steps.sh
step_log "$QS/setup.log"
step "packages (scripts/deps.sh)" scripts/deps.sh
step "configuring build/ (cmake)" cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
step "building carematchd, carematch_sim, carematch" \
  cmake --build build -j "$(nproc)" --target carematchd carematch_sim carematch

token() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }
PLATFORM=$(token) GATEWAY=$(token) OPERATOR=$(token) METRICS=$(token)
# the file holds the tokens: owner only (carematchd warns otherwise)
(umask 077; cat > "$QS/carematchd.ini") <<INI
; written by scripts/quickstart.sh -- see docs/daemon.md for every key
[server]
listen = 127.0.0.1
port = 0
max_body_bytes = 16777216
[store]
weights_file = $QS/weights.json
[batch]
window_ms = 300
offer_ttl_ms = 60000
[services]
fall_alarm = nurse|caregiver
daily_care = caregiver
hospital_escort = escort
medication = nurse
rehab_visit = rehab
cleaning = cleaner
postnatal = maternity
bedridden_transfer = caregiver*2
[tokens]
platform = $PLATFORM
gateway = $GATEWAY
operator = $OPERATOR
metrics = $METRICS
INI
rm -f "$QS/port"
# the daemon's clock starts at FROM today (UTC) and runs RATE times as fast
NOW=$(date -u +%s)
START_MS=$(( (NOW - NOW % 86400) * 1000 + (10#${FROM%%:*} * 60 + 10#${FROM##*:}) * 60000 ))
printf 'quickstart: starting carematchd ... '
build/carematchd --config "$QS/carematchd.ini" --port-file "$QS/port" \
  --clock-start "$START_MS" --clock-rate "$RATE" 2> "$QS/carematchd.log" &
DAEMON=$!
stop() { kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null || true; }
[ "${KEEP:-0}" = 1 ] || trap stop EXIT
for _ in $(seq 200); do
  [ -s "$QS/port" ] && break
  kill -0 "$DAEMON" 2>/dev/null || break
  sleep 0.05
done
if [ ! -s "$QS/port" ]; then
  if kill -0 "$DAEMON" 2>/dev/null; then
    echo "FAILED (not listening after 10 s)"
  else
    wait "$DAEMON" && rc=0 || rc=$?
    echo "FAILED (exit $rc)"
  fi
  show_log "$QS/carematchd.log"
  exit 1
fi
PORT=$(cat "$QS/port")
echo "ok (port $PORT)"
URL=http://127.0.0.1:$PORT
cat <<MSG
carematchd is running on $URL (memory store, clock $FROM at ${RATE}x),
log: $QS/carematchd.log
Where to look while the city runs (tokens are in $QS/carematchd.ini):
  the operator console (in a browser on this machine; the part after #
  never leaves the browser): $URL/console/#token=$OPERATOR
  curl -s -H 'Authorization: Bearer $METRICS' $URL/metrics | grep carematch_batch
  curl -sN -H 'Authorization: Bearer $PLATFORM' $URL/v1/events
  curl -s -H 'Authorization: Bearer $OPERATOR' $URL/v1/weights
  curl -s -H 'Authorization: Bearer $PLATFORM' $URL/v1/requests/r00042

MSG
if ! build/carematch_sim live --seed 1 --url "$URL" --rate "$RATE" \
  --from "$FROM" --until "$UNTIL" --drain-min 60 \
  --platform-token "$PLATFORM" --gateway-token "$GATEWAY" \
  --operator-token "$OPERATOR" --out "$QS/summary.json"; then
  echo "quickstart: the simulated city failed (its reason above); the daemon's log:" >&2
  show_log "$QS/carematchd.log"
  exit 1
fi
echo
echo "summary (JSON): $QS/summary.json; metrics: $URL/metrics"
if [ "${KEEP:-0}" = 1 ]; then
  echo "the daemon keeps running (pid $DAEMON); stop it with: kill $DAEMON"
fi
