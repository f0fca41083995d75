#!/usr/bin/env python3
"""pool.py -- pools lat.sh's runs (OUT/rROUND-STORE-BUILD.{json,samples}):
per store and build the emergencies' submit-to-offer percentiles (nearest
rank over every sample of the configuration's runs; the samples are the
bench's monotonic us), and the ratio of each Redis store's p99 to memory's
of the same build with a 95% bootstrap interval (the runs' samples
resampled). Two sets: every emergency, and those whose POST went out with
no call ahead of it on the bench's connection (queued 0: the lead's
pooling in bench/results/latency-merged-quiet-2026-12-05.json).
--one-build (lat.sh, when before and after are one file) pools the two
builds' runs as one configuration, "STORE both". Each run also carries
its load average (OUT/runs.txt) and, when bench_http fetched them, the
daemon's durability counters (replica waits, not durable, wait
timeouts, skipped waits: at durability = replica every WAIT should have
been confirmed, the last three 0). lat.sh's INGEST runs
(OUT/iROUND-STORE-CONNECTIONS.json) are listed per store and connection
count with their medians and each median over memory's.
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

def loads(out):
    """runs.txt's load averages: {(kind, round, store, build): [at start, at end]}."""
    r = {}
    path = os.path.join(out, 'runs.txt')
    for l in open(path) if os.path.exists(path) else []:
        w = l.split()  # round R STORE BUILD load L0 -> L1 rc RC
        if len(w) >= 8 and w[4] == 'load':
            r[(w[0], int(w[1]), w[2], w[3])] = [float(w[5]), float(w[7])]
    return r

def ingest(out, load):
    """The INGEST runs per store and connection count, and their medians."""
    rows = {}
    for f in sorted(glob.glob(os.path.join(out, 'i*-*-*.json'))):
        rnd, rest = os.path.basename(f)[:-5].split('-', 1)
        store, conns = rest.rsplit('-', 1)  # a store may hold '-'
        d = json.load(open(f))
        rows.setdefault(f'{store} {conns}', []).append({
            'round': int(rnd[1:]),
            'bulk_positions_per_s': d['ingest_bulk_positions_per_s'],
            'single_positions_per_s': d['ingest_single_positions_per_s'],
            'single_creates_per_s': d['ingest_single_creates_per_s'],
            'single_accepts_per_s': d.get('ingest_single_accepts_per_s', 0),
            'http_errors': d['http_errors'], 'ledger': d.get('ledger'),
            'load': load.get(('ingest', int(rnd[1:]), store, conns))})
    keys = ('bulk_positions_per_s', 'single_positions_per_s',
            'single_creates_per_s', 'single_accepts_per_s')
    tab = {}
    for name, rs in sorted(rows.items()):
        tab[name] = {'runs': rs}
        for k in keys:
            tab[name]['median_' + k] = sorted(r[k] for r in rs)[(len(rs) - 1) // 2]
    for name, t in tab.items():
        mem = tab.get('memory ' + name.split()[1])
        if mem and not name.startswith('memory '):
            for k in keys:
                if mem['median_' + k]:
                    t['over_memory_' + k] = round(t['median_' + k] / mem['median_' + k], 2)
    if tab:
        print('-- ingest (medians: bulk, single positions/s, creates/s, '
              'accepts/s; x memory\'s)')
    for name, t in tab.items():
        over = ''.join(f" {t.get('over_memory_' + k, '-')}" for k in keys)
        print(f"{name:11} n={len(t['runs'])} " + ' '.join(
            f"{t['median_' + k]:8.0f}" for k in keys) + f"  x{over}  errors "
              + ','.join(str(r['http_errors']) for r in t['runs']))
    return tab

def main():
    args = [a for a in sys.argv[1:] if a != '--one-build']
    one = len(args) < len(sys.argv) - 1
    out = args[0] if args else '.'
    load = loads(out)
    runs, pooled = [], {}
    for f in sorted(glob.glob(os.path.join(out, 'r*-*-*.json'))):
        rnd, rest = os.path.basename(f)[:-5].split('-', 1)
        store, build = rest.rsplit('-', 1)  # a store may hold '-'
        d = json.load(open(f))
        e = d['offer_latency_ms']['emergency']
        s = [l.split() for l in open(f[:-5] + '.samples')]
        allv = [(int(b) - int(a)) / 1e3 for a, b, u in s]
        q0 = [(int(b) - int(a)) / 1e3 for a, b, u in s if u == '0']
        runs.append({'round': int(rnd[1:]), 'store': store, 'build': build,
                     'emergencies': e['n'], 'p50_ms': e['p50'],
                     'p99_ms': e['p99'], 'http_errors': d['http_errors'],
                     'offers': d['offers'], 'submitted': d['submitted'],
                     'load': load.get(('round', int(rnd[1:]), store, build)),
                     'ledger': d.get('ledger')})
        group = f"{store} {'both' if one else build}"
        for k, v in (('all', allv), ('queued0', q0)):
            pooled.setdefault(k, {}).setdefault(group, []).extend(v)
    print('-- runs (load average at start -> end; ledger: replica waits, '
          'not durable, wait timeouts, skipped waits)')
    for r in sorted(runs, key=lambda r: (r['round'], r['store'], r['build'])):
        led = r['ledger']
        print(f"r{r['round']} {r['store']:8} {r['build']:6} n={r['emergencies']:3}"
              f" p50={r['p50_ms']:6.2f} p99={r['p99_ms']:7.2f} errors={r['http_errors']}"
              f" offers={r['offers']}/{r['submitted']} load={r['load']}"
              + (f" ledger={led['replica_waits']:.0f},{led['not_durable']:.0f},"
                 f"{led['wait_timeouts']:.0f},{led['skipped_waits']:.0f}"
                 if led and r['store'] == 'replica' else ''))
        if led and (led['not_durable'] or led['wait_timeouts'] or led['skipped_waits']
                    or (r['store'] == 'replica' and not led['replica_waits'])):
            print('   ^ NOT every commit confirmed by a replica')
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
    ing = ingest(out, load)
    if ing:
        res['ingest'] = ing
    json.dump(res, open(os.path.join(out, 'pooled.json'), 'w'), indent=1)

main()
