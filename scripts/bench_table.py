#!/usr/bin/env python3
"""bench_table.py -- the README's benchmark table from bench/results/solve.json."""
import json
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "bench/results/solve.json"
d = json.load(open(path))
print("| case | deadline | median ms | p99 ms | candidates | build | solve | vs greedy | served (greedy) | exact | max gap | max overrun |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for c in d["cases"]:
    if c.get("error") or c.get("kind", "case") != "case":
        continue  # the budget and LEMON rows have tables of their own
    dl = c["deadline_ms"]
    over = c.get("overrun_ms_max")
    name = c["name"] + (" (plain GLPK)" if c["plain_lp"] else "")
    print("| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.3f} | {:.0f} ({:.0f}) | {}/{} | {:.3g} | {} |".format(
        name, "-" if dl is None else "%g ms" % dl,
        c["total_ms"]["median"], c["total_ms"]["p99"],
        c["candidates_ms"]["median"], c["build_ms"]["median"], c["solve_ms"]["median"],
        c["ratio_vs_greedy"]["median"] if c.get("ratio_vs_greedy") else float("nan"),
        c["served_mean"], c["greedy_served_mean"] or 0,
        c["exact_runs"], c["samples"], c["gap_max"] or 0,
        "-" if over is None else "%+.1f ms" % over))
