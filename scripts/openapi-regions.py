#!/usr/bin/env python3
# openapi-regions.py -- docs/openapi.json's per-region paths, made from the
# un-prefixed ones: every /v1 path P (but /v1/regions) is also served as
# /v1/regions/{region}P[3:] (docs/daemon.md, "Regions"). Run it after
# editing a /v1 path; it rewrites the copies in place (operationId + InRegion,
# the region parameter first, a 404 for an unknown region).
import collections, copy, json, sys

PATH = sys.argv[1] if len(sys.argv) > 1 else "docs/openapi.json"
with open(PATH) as f:
    doc = json.load(f, object_pairs_hook=collections.OrderedDict)
paths = doc["paths"]
base = [p for p in paths if not p.startswith("/v1/regions")]
out = collections.OrderedDict((p, paths[p]) for p in base)
if "/v1/regions" in paths:
    out["/v1/regions"] = paths["/v1/regions"]
for p in base:
    if not p.startswith("/v1/"):
        continue
    item = copy.deepcopy(paths[p])
    for m, op in item.items():
        if m == "parameters":
            continue
        op["operationId"] += "InRegion"
        op["summary"] = op["summary"] + " (one region)"
        op["parameters"] = [{"$ref": "#/components/parameters/Region"}] + op.get(
            "parameters", [])
        rs = op["responses"]
        if "404" not in rs:
            keys = list(rs.keys())
            rs["404"] = {"$ref": "#/components/responses/NotFound"}
            order = sorted((k for k in keys + ["404"] if k != "default")) + (
                ["default"] if "default" in keys else [])
            op["responses"] = collections.OrderedDict((k, rs[k]) for k in order)
    out["/v1/regions/{region}" + p[3:]] = item
doc["paths"] = out
with open(PATH, "w") as f:
    json.dump(doc, f, indent=2, ensure_ascii=False)
    f.write("\n")
