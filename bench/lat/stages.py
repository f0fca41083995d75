#!/usr/bin/env python3
"""stages.py -- an emergency's way through carematchd, from a run's stage
trace (CAREMATCHD_STAGE_TRACE) and bench_http --samples, both on the
monotonic clock (us): per emergency, the create's group (what was in flight
on the connection ahead of it, its positions), the batch, the offers'
group. Usage: stages.py RUN.stages RUN.samples [--worst PCT]."""
import bisect, sys

def load(path):
    ev = []
    for line in open(path):
        p = line.split()
        if len(p) == 5:
            ev.append((int(p[0]), p[1], int(p[2]), int(p[3]), int(p[4])))
    return ev

def pct(v, p):
    v = sorted(v)
    return v[max(0, int(-(-len(v) * p // 100)) - 1)] if v else float('nan')

def main():
    ev = load(sys.argv[1])
    samples = [tuple(int(x) for x in l.split()) for l in open(sys.argv[2])]
    worst = float(sys.argv[sys.argv.index('--worst') + 1]) if '--worst' in sys.argv else 5
    groups, info = {}, {}
    for t, s, a, b, c in ev:
        if s == 'gsent': groups[a] = {'sent': t, 'ch': b, 'pos': c}
        elif s == 'gdone' and a in groups: groups[a]['done'] = t
        elif s == 'ginfo' and a in groups and 'cmds' not in groups[a]:
            groups[a]['cmds'] = b; groups[a]['fly'] = c // 1000
    gl = sorted(groups.items(), key=lambda kv: kv[1]['sent'])
    gtimes = [g['sent'] for _, g in gl]
    recv = [(t, a) for t, s, a, b, c in ev if s == 'recv']
    rtimes = [t for t, _ in recv]
    applied = {a: t for t, s, a, b, c in ev if s == 'applied'}
    begins = [(t, s, a) for t, s, a, b, c in ev if s in ('begin', 'ubegin')]
    btimes = [t for t, _, _ in begins]
    bst = {}
    for t, s, a, b, c in ev:
        if s in ('solved', 'oprop', 'odone'):
            pass
    # solved/oprop/odone carry the count of batches begun so far
    for t, s, a, b, c in ev:
        if s in ('solved', 'oprop', 'odone'):
            bst.setdefault(a, {}).setdefault(s, t)

    odones = [t for t, s, a, b, c in ev if s == 'odone']

    def group_after(t, changes=True):
        i = bisect.bisect_left(gtimes, t)
        while i < len(gl):
            g = gl[i][1]
            if not changes or g['ch'] > 0:
                return gl[i]
            i += 1
        return None

    def ahead(gid, g):
        """groups sent before g and not answered when g was sent"""
        n, pos, ch = 0, 0, 0
        for oid, o in gl:
            if o['sent'] >= g['sent']: break
            if o.get('done', 1 << 62) > g['sent']:
                n += 1; pos += o['pos']; ch += o['ch']
        return n, pos, ch

    rows = []
    for send, offer, queued in samples:
        i = bisect.bisect_left(rtimes, send)
        if i >= len(recv): continue
        tr, seq = recv[i]
        r = {'lat': (offer - send) / 1e3, 'wait_recv': (tr - send) / 1e3, 'queued': queued}
        cg = group_after(tr)
        if cg:
            gid, g = cg
            n, pos, ch = ahead(gid, g)
            r.update(c_rtt=(g.get('done', g['sent']) - g['sent']) / 1e3, c_ahead=n,
                     c_pos_ahead=pos, c_pos_own=g['pos'], c_cmds=g.get('cmds', 0),
                     c_sent=(g['sent'] - tr) / 1e3)
        if seq in applied:
            r['applied'] = (applied[seq] - tr) / 1e3
        j = bisect.bisect_left(btimes, tr)
        if j < len(begins):
            tb, kind, bn = begins[j]
            r['begin'] = (tb - tr) / 1e3; r['kind'] = kind
            st = bst.get(bn, {})
            if 'oprop' in st:
                r['oprop'] = (st['oprop'] - tr) / 1e3
            if 'solved' in st:
                # the offers' group: the first with changes sent after the
                # solve (sent before 'oprop' since the hold, after it before)
                og = group_after(st['solved'])
                if og:
                    oid, o = og
                    n, pos, ch = ahead(oid, o)
                    r.update(o_rtt=(o.get('done', o['sent']) - o['sent']) / 1e3,
                             o_ahead=n, o_pos_ahead=pos, o_pos_own=o['pos'])
                    # its completion: the first odone after its answer
                    k = bisect.bisect_left(odones, o.get('done', o['sent']))
                    if k < len(odones):
                        r['odone'] = (odones[k] - tr) / 1e3
        rows.append(r)
    lat = [r['lat'] for r in rows]
    cut = pct(lat, 100 - worst)
    def show(title, sel):
        print(f"{title}: n={len(sel)}")
        keys = ['lat', 'wait_recv', 'c_sent', 'c_rtt', 'applied', 'begin', 'oprop', 'o_rtt', 'odone',
                'c_ahead', 'c_pos_ahead', 'c_pos_own', 'o_ahead', 'o_pos_ahead', 'o_pos_own']
        for k in keys:
            v = [r[k] for r in sel if k in r]
            if v:
                print(f"  {k:12} p50 {pct(v,50):8.2f}  p90 {pct(v,90):8.2f}  max {max(v):8.2f}  mean {sum(v)/len(v):8.2f}")
    n_c = sum(1 for r in rows if r.get('c_pos_ahead', 0) + r.get('c_pos_own', 0) > 0)
    n_o = sum(1 for r in rows if r.get('o_pos_ahead', 0) + r.get('o_pos_own', 0) > 0)
    print(f"positions ahead on the connection: of the create in {n_c} of {len(rows)}, "
          f"of the offers in {n_o} of {len(rows)}")
    for name, sel in (('offers with positions ahead', [r for r in rows if r.get('o_pos_ahead', 0) + r.get('o_pos_own', 0) > 0]),
                      ('offers with none ahead', [r for r in rows if 'o_rtt' in r and r.get('o_pos_ahead', 0) + r.get('o_pos_own', 0) == 0])):
        v = [r['odone'] for r in sel if 'odone' in r]
        o = [r['o_rtt'] for r in sel if 'o_rtt' in r]
        if v:
            print(f"  {name}: n={len(v)} POST read -> offers applied p50 {pct(v,50):.2f} ms, offers' group round trip p50 {pct(o,50):.2f} ms")
    show('all', rows)
    show(f'slowest {worst}% (lat >= {cut:.2f} ms)', [r for r in rows if r['lat'] >= cut])
    print('slowest, one a line:')
    for r in sorted(rows, key=lambda r: -r['lat'])[:max(3, int(len(rows) * worst // 100) + 1)]:
        print('  ' + ' '.join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    # lone changes' groups: no positions, alone in flight
    lone = [(g.get('done', 0) - g['sent']) / 1e3 for _, g in gl if g['ch'] > 0 and g['pos'] == 0 and g.get('fly') == 1 and 'done' in g]
    posg = [(g.get('done', 0) - g['sent']) / 1e3 for _, g in gl if g['ch'] == 0 and g['pos'] > 0 and 'done' in g]
    print(f"groups: lone change groups n={len(lone)} p50 {pct(lone,50):.2f} p90 {pct(lone,90):.2f}; positions-only groups n={len(posg)} p50 {pct(posg,50):.2f} p90 {pct(posg,90):.2f}")
    mixed = [(g['pos'], (g['done'] - g['sent']) / 1e3) for _, g in gl if g['ch'] > 0 and 'done' in g]
    print(f"change groups with positions inside: {sum(1 for p, _ in mixed if p > 0)} of {len(mixed)}")

main()
