#!/usr/bin/env bash
# soak.sh -- the soak run (docs/hardening.md): carematchd under the
# simulator's live load for a long time (an hour by default), its resident
# memory and open file descriptors sampled throughout. The load is the
# seed city's day from 07:00 to 19:00 on a clock RATE times real time, run
# again and again (each run's ids prefixed, what a run leaves cancelled);
# the daemon remembers HISTORY finished requests, so its memory has a
# bound to reach. Passes when, over the second half of the run (the first
# half is warm-up: at 60x the memory reaches its bound during the second
# day, once the history is full), the RSS grows by less than 10% (or
# 4 MiB) and the descriptors stay within 8 of each other.
#   scripts/soak.sh [SECONDS]       (default 3600)
#   RATE=60 SAMPLE_S=10 WARMUP_S=1800 HISTORY=5000 REDIS=redis://HOST:PORT
#   SIM_ARGS="--workers 300 --requests 1500" BUILD=build
#   OUT=bench/results/soak.json
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-3600}
RATE=${RATE:-60}
SAMPLE_S=${SAMPLE_S:-10}
HISTORY=${HISTORY:-5000}
WARMUP_S=${WARMUP_S:-$((DURATION / 2))}
SIM_ARGS=${SIM_ARGS:-}
BUILD=${BUILD:-build}
OUT=${OUT:-bench/results/soak.json}
if [ ! -x "$BUILD/carematchd" ] || [ ! -x "$BUILD/carematch_sim" ]; then
  cmake -S . -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" --target carematchd carematch_sim
fi
DIR=$(mktemp -d)
DAEMON= SIM=
cleanup() {
  [ -n "$SIM" ] && pkill -9 -P "$SIM" 2>/dev/null || true
  for p in $SIM $DAEMON; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
(umask 077; cat > "$DIR/carematchd.ini") <<INI
[server]
port = 0
max_body_bytes = 16777216
[store]
weights_file = $DIR/weights.json
${REDIS:+redis = $REDIS}
${REDIS:+region = soak$$}
[batch]
offer_ttl_ms = 60000
history = $HISTORY
[tokens]
platform = soak-platform-token-00000
gateway = soak-gateway-token-000000
operator = soak-operator-token-00000
INI
DAY0=$(( $(date -u +%s) / 86400 * 86400 * 1000 ))
"$BUILD/carematchd" --config "$DIR/carematchd.ini" --port-file "$DIR/port" \
  --clock-start $(( DAY0 + 7 * 3600000 )) --clock-rate "$RATE" \
  2> "$DIR/carematchd.log" &
DAEMON=$!
for _ in $(seq 200); do [ -s "$DIR/port" ] && break; sleep 0.05; done
URL=http://127.0.0.1:$(cat "$DIR/port")

load() { # the day's 07:00-19:00 again and again, until stopped
  local n=0
  while :; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    "$BUILD/carematch_sim" live --seed "$n" $SIM_ARGS --url "$URL" --rate "$RATE" \
      --from 07:00 --until 19:00 --drain-min 0 --survive --cancel-rest \
      --id-prefix "d$n-" --platform-token soak-platform-token-00000 \
      --gateway-token soak-gateway-token-000000 \
      --operator-token soak-operator-token-00000 --quiet \
      >> "$DIR/sim.out" 2>> "$DIR/sim.err" ||
      { [ -e "$DIR/stopping" ] && exit 0; echo "soak: run $n failed" >&2; exit 1; }
    echo "$n" > "$DIR/runs"
  done
}
load &
SIM=$!

T0=$(date +%s)
SAMPLES=()
while [ $(( $(date +%s) - T0 )) -lt "$DURATION" ]; do
  kill -0 "$DAEMON" 2>/dev/null || { echo "soak: the daemon died"; tail "$DIR/carematchd.log"; exit 1; }
  kill -0 "$SIM" 2>/dev/null || { echo "soak: the load died"; tail "$DIR/sim.err"; exit 1; }
  RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$DAEMON/status")
  FDS=$(ls "/proc/$DAEMON/fd" | wc -l)
  T=$(( $(date +%s) - T0 ))
  SAMPLES+=("$T $RSS $FDS")
  echo "soak: ${T}s rss ${RSS} KiB fds ${FDS}"
  sleep "$SAMPLE_S"
done
: > "$DIR/stopping"                  # the run cut short is not a failure
pkill -P "$SIM" 2>/dev/null || true # the run under way first: orphaned,
kill "$SIM" 2>/dev/null || true     # it would go on retrying
wait "$SIM" 2>/dev/null || true
SIM=
RUNS=$(cat "$DIR/runs" 2>/dev/null || echo 0)
kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=

# the verdict, and the samples as JSON
printf '%s\n' "${SAMPLES[@]}" | awk -v dur="$DURATION" -v rate="$RATE" \
  -v runs="$RUNS" -v hist="$HISTORY" -v out="$OUT" -v warm="$WARMUP_S" '
  { t[NR] = $1; r[NR] = $2; f[NR] = $3 }
  END {
    n = NR; w = 1
    while (w < n && t[w] < warm) w++
    base = r[w]; rmax = base; fmin = f[w]; fmax = f[w]
    for (i = w; i <= n; i++) {
      if (r[i] > rmax) rmax = r[i]
      if (f[i] < fmin) fmin = f[i]; if (f[i] > fmax) fmax = f[i]
    }
    growth = rmax - base
    ok = (growth < 4096 || growth < base * 0.10) && fmax - fmin <= 8
    printf "{\"seconds\":%d,\"rate\":%d,\"runs\":%d,\"history\":%d,\"warmup_s\":%d,", dur, rate, runs, hist, warm > out
    printf "\"rss_kib\":{\"first\":%d,\"after_warmup\":%d,\"max_after\":%d,\"last\":%d},", r[1], base, rmax, r[n] > out
    printf "\"fds\":{\"min_after\":%d,\"max_after\":%d},\"ok\":%s,\"samples\":[", fmin, fmax, (ok ? "true" : "false") > out
    for (i = 1; i <= n; i++)
      printf "%s[%d,%d,%d]", (i > 1 ? "," : ""), t[i], r[i], f[i] > out
    printf "]}\n" > out
    printf "soak: %d s, %d runs of the day; RSS %d KiB after warm-up, at most %d (+%d), last %d; fds %d..%d\n",
      dur, runs, base, rmax, growth, r[n], fmin, fmax
    exit (ok ? 0 : 1)
  }' && echo "soak: passed ($OUT)" || { echo "soak: FAILED ($OUT)"; exit 1; }
