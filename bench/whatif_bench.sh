#!/usr/bin/env bash
# whatif_bench.sh -- how long POST /v1/weights/whatif takes over the last
# hours of a simulated day, and whether the daemon's event loop stalls
# meanwhile (docs/daemon.md, "What if"). A carematchd on its embedded
# store records its trace while carematch_sim live feeds it a window of a
# generated day; during the feed (the loop busy with the day) RUNS
# what-ifs of HOURS hours each are timed from the client, with the
# replay's own replay_ms, and the loop-stall counters
# (carematch_loop_stalls_total summed over the causes, the largest
# carematch_loop_busy_max_seconds) are read before and after each; the
# baseline side by side: the same counters over as long a stretch of the
# same feed just before, with no what-if. JSON lines on stdout, one per
# what-if. The daemon's clock runs RATE times as fast, so the what-ifs
# must come while the feed runs (a window after it is soon empty).
#   bench/whatif_bench.sh [BUILD] [SIM ARGS...]
# env: HOURS (3), RUNS (4), RATE (120), FROM (07:00), UNTIL (12:00)
set -euo pipefail
BUILD=${1:-build}
shift || true
HOURS=${HOURS:-3} RUNS=${RUNS:-4} RATE=${RATE:-120}
FROM=${FROM:-07:00} UNTIL=${UNTIL:-12:00}
dir=$(mktemp -d)
chmod 700 "$dir"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
tok=bench-token-0123456789
cat >"$dir/d.ini" <<INI
[server]
listen = 127.0.0.1
port = 0
[store]
weights_file = $dir/weights.json
[tokens]
platform = $tok
gateway = $tok-g
operator = $tok-o
metrics = $tok-m
[trace]
file = $dir/trace.jsonl
INI
# the daemon's clock: FROM of today (UTC) on, RATE times as fast
h=${FROM%:*} m=${FROM#*:}
start=$(( ($(date -u +%s) / 86400 * 86400 + 10#$h * 3600 + 10#$m * 60) * 1000 ))
"$BUILD/carematchd" --config "$dir/d.ini" --port-file "$dir/port" \
  --clock-start "$start" --clock-rate "$RATE" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
url=http://127.0.0.1:$port
"$BUILD/carematch_sim" live --url "$url" --rate "$RATE" --from "$FROM" \
  --until "$UNTIL" --drain-min 0 --quiet --platform-token "$tok" \
  --gateway-token "$tok-g" --operator-token "$tok-o" "$@" \
  >"$dir/sim.out" 2>&1 &
sim=$!
snap() { # /metrics into $dir/$1
  curl -s -H "Authorization: Bearer $tok-m" "$url/metrics" >"$dir/$1"
}
whatif() { # one what-if after a baseline of $1 s, a JSON line
  snap b0
  sleep "$1"
  snap s0
  t0=$(date +%s%N)
  curl -s -o "$dir/r.json" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $tok-o" -H 'Content-Type: application/json' \
    -d "{\"weights\":{\"travel\":3},\"hours\":$HOURS}" "$url/v1/weights/whatif" \
    >"$dir/code"
  t1=$(date +%s%N)
  snap s1
  python3 - "$(cat "$dir/code")" "$(( (t1 - t0) / 1000000 ))" "$1" "$dir" <<'PY'
import json, re, sys
code, ms, base_s, d = sys.argv[1:]
def stalls(name):  # cause -> stalls, and the largest busy max
    by, top = {}, 0.0
    for line in open(f"{d}/{name}"):
        m = re.match(r'carematch_loop_stalls_total\{cause="(\w+)"\} (\d+)', line)
        if m:
            by[m.group(1)] = int(m.group(2))
        m = re.match(r'carematch_loop_busy_max_seconds\{cause="\w+"\} (\S+)', line)
        if m:
            top = max(top, float(m.group(1)))
    return by, top
b0, _ = stalls("b0"); s0, m0 = stalls("s0"); s1, m1 = stalls("s1")
try:
    r = json.load(open(f"{d}/r.json"))
except Exception:
    r = {}
ms, base_s = int(ms), float(base_s)
def rate(a, b, secs):
    return {c: round((b[c] - a[c]) / secs, 2) for c in b if b[c] != a[c]}
print(json.dumps({
    "code": int(code), "client_ms": ms, "replay_ms": r.get("replay_ms"),
    "requests": r.get("requests"), "workers": r.get("workers"),
    "stalls_per_s_baseline": rate(b0, s0, base_s),
    "stalls_per_s_whatif": rate(s0, s1, max(ms / 1000, 1e-3)),
    "baseline_s": base_s, "busy_max_s_before": m0, "busy_max_s_after": m1,
    "error": r.get("error", {}).get("message")}))
PY
  echo $(( (t1 - t0) / 1000000000 + 1 )) >"$dir/last"
}
# wait until an hour of the window went by, then what-ifs while it runs
sleep $(( 3600 / RATE + 1 ))
echo 10 >"$dir/last"
for _ in $(seq "$RUNS"); do
  kill -0 "$sim" 2>/dev/null || break
  whatif "$(cat "$dir/last")"
done
kill "$sim" 2>/dev/null || true
wait "$sim" 2>/dev/null || true
