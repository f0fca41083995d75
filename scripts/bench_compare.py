#!/usr/bin/env python3
"""bench_compare.py -- two builds' bench_solve reports side by side: the
median total time of each case (median over the reports given for each
side), the ratio, and whether the objectives are the same. For a change
that must not change behaviour (a refactor): run the old and the new
bench_solve alternately, in the same session, then

  scripts/bench_compare.py --old o1.json o2.json --new n1.json n2.json

Cases with a deadline may differ in objective (what fits in the budget
depends on the machine's load at that moment); the others must not. Exit
status 1 when an objective of a case without a deadline differs."""
import argparse
import json
import statistics


def load(path):
    with open(path) as f:
        return {c["name"]: c for c in json.load(f)["cases"] if c.get("kind") == "case"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", nargs="+", required=True)
    ap.add_argument("--new", nargs="+", required=True)
    a = ap.parse_args()
    old = [load(p) for p in a.old]
    new = [load(p) for p in a.new]
    ratios, bad = [], 0
    print("%-36s %9s %9s %6s  objective" % ("case", "old p50", "new p50", "ratio"))
    for name in old[0]:
        o = [r[name] for r in old if name in r]
        n = [r[name] for r in new if name in r]
        if not n:
            continue
        om = statistics.median(c["total_ms"]["median"] for c in o)
        nm = statistics.median(c["total_ms"]["median"] for c in n)
        same = all(abs(x["objective_mean"] - y["objective_mean"])
                   <= 1e-6 * max(1.0, abs(x["objective_mean"])) for x in o for y in n)
        budget = o[0].get("deadline_ms")
        if budget is None:
            ratios.append(nm / om)
            bad += not same
        word = "same" if same else ("differs (budget %s ms)" % budget if budget else "DIFFERS")
        print("%-36s %9.3f %9.3f %6.2f  %s" % (name, om, nm, nm / om, word))
    if ratios:
        print("new/old without a budget: median %.2f, min %.2f, max %.2f over %d cases"
              % (statistics.median(ratios), min(ratios), max(ratios), len(ratios)))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
