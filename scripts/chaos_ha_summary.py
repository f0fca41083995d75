#!/usr/bin/env python3
# chaos_ha_summary.py -- the runs of scripts/chaos_ha.sh (their OUT files)
# into one JSON: every run, and a summary (violations over all runs; per
# fault kind the time to the next lease, to the first offer under the new
# epoch and to the first offer at all, and the emergency probes' waits).
#   scripts/chaos_ha_summary.py 'DIR/cluster-*.json' OUT.json
import glob
import json
import sys
files=sorted(glob.glob(sys.argv[1]), key=lambda f:int(f.split('-')[-1].split('.')[0]))
runs=[json.load(open(f)) for f in files]
def q(v,p):
    v=sorted(v)
    return v[min(len(v)-1,int(p*(len(v)-1)+0.5))] if v else None
summ={'runs':len(runs),'check_passed':sum(r['check']['ok'] for r in runs),
 'mirror_passed':sum(bool(r['mirror'] and r['mirror']['ok']) for r in runs),
 'double_bookings':sum(r['check']['double_bookings'] for r in runs),
 'missing_acknowledged':sum(r['check']['missing'] for r in runs),
 'stale_epoch_offers':sum(r['check']['stale_epoch_offers'] for r in runs),
 'jobs_mismatches':sum(r['check']['jobs_mismatches'] for r in runs),
 'acknowledged':sum(r['check']['acknowledged'] for r in runs),
 'offers':sum(r['check']['offers'] for r in runs),
 'faults':sum(r['faults'] for r in runs),
 'ignoring_holder_refused_offers':[r['ignoring_holder_refused_offers'] for r in runs],
 'runs_with_every_kind':sum(len({f['kind'] for f in r['check']['faults']})>=6 for r in runs),
 'by_kind':{}}
kinds={}
for r in runs:
    for f in r['check']['faults']:
        kinds.setdefault(f['kind'],[]).append(f)
for k,fs in kinds.items():
    lease=[f['to_lease_ms'] for f in fs if f['to_lease_ms']>=0]
    newo=[f['to_new_holder_offer_ms'] for f in fs if f['to_new_holder_offer_ms']>=0]
    anyo=[f['to_offer_ms'] for f in fs if f['to_offer_ms']>=0]
    em=[f['max_emergency_wait_ms'] for f in fs if f['emergencies_meanwhile']>0]
    pr=[f['probe_wait_ms'] for f in fs if f.get('probe_wait_ms',-1)>=0]
    never=[1 for f in fs if f.get('probe',None)]
    summ['by_kind'][k]={'n':len(fs),
      'to_lease_ms_p50':q(lease,.5),'to_lease_ms_max':max(lease) if lease else None,
      'to_new_holder_offer_ms_p50':q(newo,.5),'to_new_holder_offer_ms_max':max(newo) if newo else None,'with_new_holder_offer':len(newo),
      'to_offer_ms_p50':q(anyo,.5),'to_offer_ms_max':max(anyo) if anyo else None,
      'emergency_wait_ms_p50':q(em,.5),'emergency_wait_ms_max':max(em) if em else None,'faults_with_emergencies':len(em),
      'probe_wait_ms':sorted(pr),'probe_wait_ms_p50':q(pr,.5),'probe_wait_ms_max':max(pr) if pr else None,
      'new_holder_offer_ms':sorted([f['to_new_holder_offer_ms'] for f in fs]),
      'first_offer_ms':sorted([f['to_offer_ms'] for f in fs])}
out={'bench':'chaos_ha','summary':summ,'runs':runs}
if len(sys.argv)>2: json.dump(out,open(sys.argv[2],'w'),indent=1)
print(json.dumps(summ,indent=1))
