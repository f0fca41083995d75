#!/usr/bin/env python3
"""pool.py -- pools lat.sh's runs (OUT/rROUND-STORE-BUILD.{json,samples}):
per store and build the emergencies' submit-to-offer percentiles (nearest
rank over every sample of the configuration's runs; the samples are the
bench's monotonic us), and the ratio of each Redis store's p99 to memory's
of the same build with a 95% bootstrap interval (the runs' samples
resampled). Two sets: every emergency, and those whose POST went out with
no call ahead of it on the bench's connection (queued 0: the lead's
pooling in bench/results/latency-merged-quiet-2026-12-05.json).
Writes OUT/pooled.json."""
import glob, json, math, os, random, sys

def pct(v, p):
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)] if v else None

def boot(a, b, reps=2000, seed=1):
    rnd = random.Random(seed)
    r = []
    for _ in range(reps):
        x = [rnd.choice(a) for _ in a]
        y = [rnd.choice(b) for _ in b]
        r.append(pct(x, 99) / pct(y, 99))
    r.sort()
    return r[int(0.025 * reps)], r[int(0.975 * reps) - 1]

def main():
    out = sys.argv[1] if len(sys.argv) > 1 else '.'
    runs, pooled = [], {}
    for f in sorted(glob.glob(os.path.join(out, 'r*-*-*.json'))):
        rnd, store, build = os.path.basename(f)[:-5].split('-')
        d = json.load(open(f))
        e = d['offer_latency_ms']['emergency']
        s = [l.split() for l in open(f[:-5] + '.samples')]
        allv = [(int(b) - int(a)) / 1e3 for a, b, u in s]
        q0 = [(int(b) - int(a)) / 1e3 for a, b, u in s if u == '0']
        runs.append({'round': int(rnd[1:]), 'store': store, 'build': build,
                     'emergencies': e['n'], 'p50_ms': e['p50'],
                     'p99_ms': e['p99'], 'http_errors': d['http_errors'],
                     'offers': d['offers'], 'submitted': d['submitted']})
        for k, v in (('all', allv), ('queued0', q0)):
            pooled.setdefault(k, {}).setdefault(f'{store} {build}', []).extend(v)
    res = {'runs': runs}
    for k, groups in pooled.items():
        tab = {}
        for name, v in sorted(groups.items()):
            tab[name] = {'n': len(v), 'p50_ms': round(pct(v, 50), 3),
                         'p90_ms': round(pct(v, 90), 3),
                         'p99_ms': round(pct(v, 99), 3),
                         'max_ms': round(max(v), 3)}
        for name, v in sorted(groups.items()):
            store, build = name.split()
            mem = groups.get(f'memory {build}')
            if store != 'memory' and mem:
                lo, hi = boot(v, mem)
                tab[name]['p99_over_memory'] = round(pct(v, 99) / pct(mem, 99), 2)
                tab[name]['p99_over_memory_95'] = [round(lo, 2), round(hi, 2)]
        res[k] = tab
        print(f'-- {k}')
        for name, t in tab.items():
            extra = ''
            if 'p99_over_memory' in t:
                extra = f"  p99/memory {t['p99_over_memory']} ({t['p99_over_memory_95'][0]}-{t['p99_over_memory_95'][1]})"
            print(f"{name:14} n={t['n']:4} p50={t['p50_ms']:7.2f} p90={t['p90_ms']:7.2f} p99={t['p99_ms']:7.2f} max={t['max_ms']:8.2f}{extra}")
    json.dump(res, open(os.path.join(out, 'pooled.json'), 'w'), indent=1)

main()
