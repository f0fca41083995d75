#!/usr/bin/env bash
# promtool-check.sh -- Prometheus's own linter on a live daemon's metrics:
# starts carematchd on a loopback port with a generated configuration,
# makes it run a batch and answer a few calls (so every histogram and
# label set has samples), scrapes GET /metrics with curl and pipes it into
# `promtool check metrics`, which fails on any finding. Then what reads
# the names must follow them: the metrics table of docs/daemon.md lists
# exactly the metrics scraped, and every query of docs/grafana-dashboard.json
# parses (`promtool check rules`) and names only metrics scraped.
#   scripts/promtool-check.sh        uses build/carematchd (BUILD=dir)
# promtool comes from Debian's `prometheus` package, unpacked from the
# downloaded .deb into build/tools/ rather than installed: its postinst
# would also start a Prometheus server (invoke-rc.d prometheus start).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo

if ! command -v curl >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends curl >/dev/null ||
    { $SUDO apt-get update -qq &&
      $SUDO apt-get install -y -qq --no-install-recommends curl >/dev/null; }
fi
PROMTOOL=$(command -v promtool || true)
if [ -z "$PROMTOOL" ]; then
  PROMTOOL=$BUILD/tools/usr/bin/promtool
  if [ ! -x "$PROMTOOL" ]; then
    mkdir -p "$BUILD/tools"
    apt-cache show prometheus >/dev/null 2>&1 || $SUDO apt-get update -qq
    (cd "$BUILD/tools" && rm -f prometheus_*.deb &&
      apt-get download -qq prometheus 2>/dev/null &&
      dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool &&
      rm -f prometheus_*.deb) ||
      { echo "promtool-check: no promtool (apt-get download prometheus)" >&2; exit 1; }
  fi
fi
"$PROMTOOL" --version 2>&1 | sed -n 1p
[ -x "$BUILD/carematchd" ] || cmake --build "$BUILD" -j 2 --target carematchd

DIR=$(mktemp -d)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
token() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }
PLATFORM=$(token) METRICS=$(token)
cat >"$DIR/carematchd.ini" <<INI
[server]
listen = 127.0.0.1
port = 0
[batch]
window_ms = 50
[tokens]
platform = $PLATFORM
gateway = $(token)
operator = $(token)
metrics = $METRICS
INI
chmod 600 "$DIR/carematchd.ini"
"$BUILD/carematchd" --config "$DIR/carematchd.ini" --port-file "$DIR/port" \
  2>"$DIR/carematchd.log" &
PID=$!
for _ in $(seq 100); do [ -s "$DIR/port" ] && break; sleep 0.05; done
[ -s "$DIR/port" ] || { cat "$DIR/carematchd.log" >&2; exit 1; }
URL=http://127.0.0.1:$(cat "$DIR/port")
call() { # METHOD PATH TOKEN [BODY]: prints the status code
  curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3" \
    -H 'Content-Type: application/json' ${4:+--data "$4"} "$URL$2"
}
# a worker, a request offered to it (a batch), a call with no route, a bad
# token: samples in the histograms and in each kind of label set
call PUT /v1/workers/w1 "$PLATFORM" \
  '{"skills":["nurse"],"lat":31.23,"lon":121.47,"on_shift":true}' >/dev/null
call POST /v1/requests "$PLATFORM" \
  '{"id":"r1","skills":["nurse"],"lat":31.23,"lon":121.47,"urgency":"emergency"}' >/dev/null
call DELETE /v1/nothing "$PLATFORM" >/dev/null
call GET /v1/requests/r1 not-a-token >/dev/null
for _ in $(seq 100); do
  [[ $(curl -s -H "Authorization: Bearer $PLATFORM" "$URL/v1/requests/r1") == \
    *'"state":"offered"'* ]] && break
  sleep 0.05
done
curl -sf -H "Authorization: Bearer $METRICS" "$URL/metrics" >"$DIR/metrics.txt"
for want in 'carematch_batch_duration_seconds_count 1' \
  'carematch_build_info{version=' 'route="unmatched"' 'process_open_fds '; do
  grep -qF "$want" "$DIR/metrics.txt" ||
    { echo "promtool-check: no '$want' in the scrape" >&2; exit 1; }
done
if ! "$PROMTOOL" check metrics <"$DIR/metrics.txt"; then
  echo "promtool-check: promtool check metrics failed on $URL/metrics" >&2
  exit 1
fi

# the names scraped, the table's, the dashboard's
sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$DIR/metrics.txt" | sort -u >"$DIR/scraped"
sed -n 's/^| `\(\(carematch\|process\)_[a-z_]*\)` |.*/\1/p' docs/daemon.md |
  sort -u >"$DIR/table"
if ! diff "$DIR/scraped" "$DIR/table" >"$DIR/diff"; then
  echo "promtool-check: docs/daemon.md's metrics table (>) is not what" \
    "/metrics reports (<):" >&2
  cat "$DIR/diff" >&2
  exit 1
fi
DASH=docs/grafana-dashboard.json
grep -o '\b\(carematch\|process\)_[a-z_]*' "$DASH" |
  sed -E 's/_(bucket|sum|count)$//' | sort -u >"$DIR/dashboard"
if [ -n "$(comm -23 "$DIR/dashboard" "$DIR/scraped")" ]; then
  echo "promtool-check: $DASH names metrics /metrics does not report:" >&2
  comm -23 "$DIR/dashboard" "$DIR/scraped" >&2
  exit 1
fi
# its queries as recording rules, Grafana's variables given values
{
  echo "groups:"
  echo "  - name: dashboard"
  echo "    rules:"
  sed -n 's/^ *"expr": "\(.*\)",\{0,1\}$/\1/p' "$DASH" |
    sed -e 's/\\"/"/g' -e 's/\$__rate_interval/5m/g' -e 's/\$[a-z]*/.*/g' \
      -e "s/'/''/g" |
    awk '{ printf "      - record: dashboard:q%d\n        expr: '"'"'%s'"'"'\n", NR, $0 }'
} >"$DIR/dashboard.rules.yml"
grep -q 'record: dashboard:q1$' "$DIR/dashboard.rules.yml" ||
  { echo "promtool-check: no queries found in $DASH" >&2; exit 1; }
"$PROMTOOL" check rules "$DIR/dashboard.rules.yml" >"$DIR/rules.out" 2>&1 ||
  { cat "$DIR/rules.out" >&2; echo "promtool-check: a query of $DASH does not parse" >&2; exit 1; }

echo "promtool-check: $(grep -vc '^#' "$DIR/metrics.txt") samples of" \
  "$(grep -c '^# TYPE' "$DIR/metrics.txt") metrics pass promtool check metrics;" \
  "docs/daemon.md lists them; $(grep -c 'record:' "$DIR/dashboard.rules.yml")" \
  "dashboard queries parse"
