#!/usr/bin/env python3
"""make_corpus.py -- write the seed corpora of the fuzz targets
(tests/fuzz/corpus/<target>/): small valid and slightly broken inputs taken
from tests/data, docs/daemon.md and the tests' bodies. Seeds are named
seed-*; crash reproducers added by hand (crash-*) are left alone.
Run from anywhere: python3 tests/fuzz/make_corpus.py"""
import hashlib
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def reset(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    return d


def put(d, name, data, encoding="utf-8"):
    if isinstance(data, str):
        data = data.encode(encoding)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- fuzz_solve: the instances of tests/data (4 KB at most) ----
d = reset("fuzz_solve")
inst = os.path.join(ROOT, "tests", "data", "instances")
for kind in ("good", "bad"):
    for f in sorted(os.listdir(os.path.join(inst, kind))):
        p = os.path.join(inst, kind, f)
        if f.endswith(".json") and os.path.getsize(p) <= 4096:
            shutil.copyfile(p, os.path.join(d, "seed-%s-%s" % (kind, f)))

# ---- fuzz_config: the daemon's configuration files ----
d = reset("fuzz_config")
TOKENS = ("[tokens]\nplatform = platform-token-0123456789\n"
          "gateway = gateway-token-0123456789\n"
          "operator = operator-token-0123456789\n"
          "metrics = metrics-token-0123456789\n")
FULL = ("[server]\nlisten = 127.0.0.1\nport = 0\nmax_body_bytes = 65536\n"
        "auth = on\nmax_event_streams = 64\n"
        "event_stream_buffer_bytes = 4194304\n"
        "[store]\nredis =\nregion = default\n"
        "weights_file = /tmp/w.json\nsweep_ms = 10000\n"
        "[batch]\nwindow_ms = 50\nmax = 2000\nsolve_budget_ms = 100\n"
        "offer_ttl_ms = 60000\nretry_max_ms = 5000\nauto_accept = false\n"
        "release_slack_ms = 600000\nstale_ms = 120000\nmax_live = 1000000\n"
        "history = 100000\n"
        "[matching]\nk = 16\nradius_km = 8, 6, 5, 5\n"
        "radius_growth_km_per_min = 0.5\nradius_max_km = 15\n"
        "speed_kmh = 25\nroad_factor = 1.3\n"
        "[weights]\ntravel = 1\nworkload = 0.5\ncontinuity = 2\n"
        "rating = 1\nskill = 1\npreferred = 3\naging_per_min = 0.1\n"
        "urgency_factor = 4, 2, 1, 1\npenalty_base = 1000, 300, 120, 60\n"
        "[taxonomy]\nskills = caregiver, nurse, escort, rehab, cleaner, "
        "maternity\n"
        "[services]\nfall_alarm = nurse|caregiver\n"
        "wound_care = nurse+rehab\nbedridden_transfer = caregiver*2\n"
        + TOKENS)
put(d, "full.ini", FULL)
put(d, "tokens-only.ini", TOKENS)
put(d, "no-auth.ini", "[server]\nauth = off\n")
put(d, "no-tokens.ini", "[batch]\nwindow_ms = 75\n")
put(d, "banana.ini", "[batch]\nwindow_ms = banana\n" + TOKENS)
put(d, "unknown-key.ini", "[server]\nlisten_on = x\n" + TOKENS)
put(d, "unknown-section.ini", "[servers]\nport = 1\n" + TOKENS)
put(d, "radius-three.ini", "[matching]\nradius_km = 8, 6, 5\n" + TOKENS)
put(d, "service-both.ini", "[services]\nx = nurse|rehab+escort\n" + TOKENS)
put(d, "service-unknown.ini", "[services]\nx = pilot*2\n" + TOKENS)
put(d, "service-staff.ini", "[services]\nx = nurse*9\n" + TOKENS)
put(d, "taxonomy.ini", "[taxonomy]\nskills = a, b\n[services]\ns = a|b\n"
    + TOKENS)
put(d, "short-token.ini", "[tokens]\nplatform = short\n")
put(d, "comments.ini", "; a comment\n# another\n[server] ; inline\n"
    "port = 8080 ; inline\n  continued\n" + TOKENS)
put(d, "no-section.ini", "port = 1\n")
put(d, "bom.ini", "\ufeff" + TOKENS)
put(d, "broken-section.ini", "[server\nport = 1\n")

# ---- fuzz_daemon: calls separated by "\n%%\n" (see fuzz_daemon.c) ----
d = reset("fuzz_daemon")
SEP = "\n%%\n"
W1 = '{"skills":["nurse"],"lat":31.2304,"lon":121.4737,"capacity":1}'
W2 = ('{"skills":["caregiver","nurse"],"on_shift":true,"lat":31.2314,'
      '"lon":121.4747,"capacity":2,"rating":4.5,"level":3,"jobs_today":1}')
R1 = ('{"id":"r1","lat":31.2310,"lon":121.4740,"skills":["nurse"],'
      '"urgency":"emergency"}')
R2 = ('{"id":"r2","lat":31.2310,"lon":121.4740,"service":"fall_alarm",'
      '"urgency":"normal","elder":"e17","preferred":["w1"],'
      '"excluded":["w2"]}')
R3 = ('{"id":"r1","lat":31.23,"lon":121.47,"service":"bedridden_transfer",'
      '"window":{"start_ms":1700000000000,"end_ms":1700003600000},'
      '"urgency":"scheduled"}')
POS = '{"positions":[{"id":"w1","lat":31.2311,"lon":121.4741},' \
      '{"id":"w2","lat":31.2,"lon":121.4}]}'
WEIGHTS = '{"weights":{"travel":2,"urgency_factor":[4,2,1,1]},"version":1}'


def seq(*calls):
    return SEP.join(calls)


put(d, "session", seq("p0" + "0" + W1, "c20" + R1, "r20", "a20" + '{"worker":"w1"}',
                      "d20", "r20", "b00" + POS, "o00" + '{"lat":31.0,"lon":121.0}',
                      "s00" + '{"on_shift":false}', "g00"))
put(d, "reject", seq("p00" + W1, "p10" + W2, "c20" + R1,
                     "j20" + '{"worker":"w1"}', "r20", "x20"))
put(d, "service", seq("p00" + W1, "p10" + W2, "c30" + R2, "r30", "x30", "r30"))
put(d, "team", seq("p00" + W2, "p10" + W2, "c20" + R3, "r20"))
put(d, "weights", seq("w00", "W00" + WEIGHTS, "w00", "W00" + '{"weights":{}}'))
put(d, "admin", seq("m00", "h00", "y00", "n00", "M20"))
put(d, "auth", seq("c21" + R1, "c22" + R1, "c23" + R1, "c24" + R1))
put(d, "bad-bodies", seq("p00" + '{"skills":[]}', "c20" + '{"id":"r1"}',
                         "b00" + '{"positions":[{"id":"w1","lat":91}]}',
                         "W00" + '{"weights":{"travel":-1}}',
                         "a20" + '{"worker":1}', "c20" + '{"id":"r1",',
                         "c20" + '{"a":1,"a":2}', "x20" + '{"why":"x"}'))
put(d, "ids", seq("p40" + W1, "g00", "p50" + W1, "g60", "p70" + W1))
put(d, "raw-ids", seq("p\x800" + "w%41 " + W1, "g\x800w%41", "g\x800wA ",
                      "c\x800" + "x " + R1, "r\x800r%31/ ",
                      "a\x800r1/../r1 " + '{"worker":"w1"}'), "latin-1")

# ---- fuzz_stored: request records (Redis) and weights documents ----
d = reset("fuzz_stored")
REC = ('{"v":1,"id":"r1","lat":31.23,"lon":121.47,"skills":2,"mode":0,'
       '"staff":1,"urgency":0,"elder":"","ws":0,"we":0,"pref":[],"excl":[],'
       '"state":0,"created":1700000000000,"release":1700000000000,'
       '"ready":1700000000000,"offered":0,"expires":0,"finished":0,'
       '"workers":[],"rejected":[],"reason":-1,"batches":0,"version":1}')
REC2 = ('{"v":1,"id":"r2","lat":31.2310000000000016,"lon":121.474,'
        '"skills":3,"mode":1,"staff":2,"urgency":3,"elder":"e17",'
        '"ws":1700000000000,"we":1700003600000,"pref":["w1"],"excl":["w3"],'
        '"state":1,"created":1700000000000,"release":1700000000000,'
        '"ready":1700000000000,"offered":1700000000100,'
        '"expires":1700000060100,"finished":0,"workers":[{"id":"w1",'
        '"acc":true,"terms":[0.072,0.22,0.9,0.5,0,0.2,0,0,2.9]},{"id":"w2",'
        '"acc":false,"terms":[1,2,3,4,5,6,7,8,36]}],"rejected":["w4"],'
        '"reason":1,"batches":2,"version":7}')
put(d, "record", REC)
put(d, "record-offered", REC2)
put(d, "record-v2", REC.replace('"v":1', '"v":2'))
put(d, "record-truncated", REC2[:200])
put(d, "weights", WEIGHTS)
put(d, "weights-empty", '{"weights":{}}')
put(d, "weights-negative", '{"weights":{"travel":-1}}')
put(d, "weights-all", '{"weights":{"travel":1,"workload":0.5,"continuity":2,'
    '"rating":1,"skill":1,"preferred":3,"aging_per_min":0.1,'
    '"urgency_factor":[4,2,1,1],"penalty_base":[1000,300,120,60]},'
    '"version":3}')

# ---- no two seeds alike ----
for t in os.listdir(CORPUS):
    seen = {}
    for f in os.listdir(os.path.join(CORPUS, t)):
        h = hashlib.sha1(open(os.path.join(CORPUS, t, f), "rb").read()).hexdigest()
        if h in seen:
            os.remove(os.path.join(CORPUS, t, f))
        seen[h] = f
