#!/usr/bin/env bash
# sim_plots.sh -- PNG plots of a carematch_sim run (gnuplot):
#   arrival_cdf.png  time to arrival by urgency, one line per policy
#   day.png          the day hour by hour: requests, staff busy / on shift,
#                    and each policy's mean wait for an offer
#   days_KIND.png    (from `carematch_sim days ... --out`) each day's
#                    emergency breaches and urgent median, one line per
#                    policy
# usage: scripts/sim_plots.sh KPIS.json [OUTDIR]   (KPIS.json from
#        `carematch_sim run ... --out KPIS.json` or `days ... --out`;
#        OUTDIR default: beside it)
# Needs gnuplot (Debian: apt-get install gnuplot-nox) and python3.
set -euo pipefail
IN=$1
OUT=${2:-$(dirname "$IN")}
command -v gnuplot >/dev/null ||
  { echo "sim_plots.sh: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# one data file per policy and urgency (the CDF), and one for the hours
python3 - "$IN" "$TMP" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
out = sys.argv[2]
names = []
if "pooled" in d:  # days: one line per policy, a point per day
    names = [p["policy"] for p in d["pooled"]]
    for i, p in enumerate(names):
        with open(f"{out}/{p}-days.dat", "w") as f:
            for day in d["per_day"]:
                r = day["runs"][i]
                u = r["urgent_arrival_min_all_p50"]
                f.write(f'{day["seed"]} {r["sla_breaches"]["emergency"]} {u if u is not None else "NaN"}\n')
    open(f"{out}/policies", "w").write(" ".join(names))
    open(f"{out}/kind", "w").write(d["kind"])
    sys.exit(0)
for r in d["runs"]:
    p = r["policy"]
    names.append(p)
    for u, xs in r["arrival_min"].items():
        with open(f"{out}/{p}-{u}.dat", "w") as f:
            n = r["by_urgency"][u]["requests"]  # the unserved: never
            for i, x in enumerate(xs):
                f.write(f"{x} {(i + 1) / n}\n")
    with open(f"{out}/{p}-hours.dat", "w") as f:
        for h in r["hours"]:
            f.write(f'{h["hour"]} {h["requests"]} {h["on_shift"]} {h["busy"]} {h["offer_wait_min"]}\n')
open(f"{out}/policies", "w").write(" ".join(names))
PY
POLICIES=$(cat "$TMP/policies")
if [ -f "$TMP/kind" ]; then
  KIND=$(cat "$TMP/kind")
  em=""
  ur=""
  for p in $POLICIES; do
    em="$em${em:+, }'$TMP/$p-days.dat' using 1:2 with linespoints lw 2 title '$p'"
    ur="$ur${ur:+, }'$TMP/$p-days.dat' using 1:3 with linespoints lw 2 title '$p'"
  done
  gnuplot <<GP
set terminal pngcairo size 1000,700 noenhanced
set output '$OUT/days_$KIND.png'
set multiplot layout 2,1 title 'Independent days, kind $KIND (a point per seed)'
set grid
set key below
set xlabel 'seed'
set ylabel 'emergency breaches'
plot $em
set ylabel 'urgent p50, all (min)'
plot $ur
unset multiplot
GP
  echo "plots: $OUT/days_$KIND.png"
  exit 0
fi
cdf=""
day=""
for p in $POLICIES; do
  for u in emergency urgent normal; do
    [ -s "$TMP/$p-$u.dat" ] &&
      cdf="$cdf${cdf:+, }'$TMP/$p-$u.dat' using 1:2 with lines lw 2 title '$p $u'"
  done
  day="$day, '$TMP/$p-hours.dat' using 1:5 axes x1y2 with linespoints lw 2 title '$p: mean wait for an offer (min, right)'"
done
first=${POLICIES%% *}
gnuplot <<GP
set terminal pngcairo size 1000,600 noenhanced
set output '$OUT/arrival_cdf.png'
set title 'Time to arrival (from the call; scheduled work: from its window); the share of all requests, so a line stops at the share ever reached'
set xlabel 'minutes'
set ylabel 'share of requests'
set logscale x
set grid
set key below
plot $cdf
set output '$OUT/day.png'
unset logscale x
set title 'The day, hour by hour'
set xlabel 'hour'
set ylabel 'requests / staff'
set y2label 'minutes'
set y2tics
set xrange [0:23]
set key below
plot '$TMP/$first-hours.dat' using 1:2 with boxes fs solid 0.3 title 'requests', \
     '' using 1:3 with lines lw 2 title 'staff on shift', \
     '' using 1:4 with lines lw 2 title 'staff busy'$day
GP
echo "plots: $OUT/arrival_cdf.png $OUT/day.png"
