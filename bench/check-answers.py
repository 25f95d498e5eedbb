#!/usr/bin/env python3
"""Cross-checks kilowatt's consumption answers against InfluxDB's raw data.

Usage: check-answers.py KW_PORT TOKEN INFLUX_PORT DB PATHS_FILE [N]

Takes the first N (default 3) kilowatt query paths of PATHS_FILE (device
consumption with step=hour|day, or regions consumption with step=day), asks
kilowatt, asks InfluxDB for the same readings, and compares bucket by bucket.

kilowatt's interval devices count a reading stamped t in the bucket holding
t - 1 ms (the interval ending at t), so a bucket [s, e) is the sum of the
readings stamped in (s, e].  The InfluxDB side therefore asks for
time > s AND time <= e and buckets with (t - 1) // width, which gives the
same numbers when kilowatt is right.  Only 127.0.0.1 is contacted.

Prints one line per check ("ok ..." or "MISMATCH ...") and a last line
"checked=N mismatches=M"; exits 0 either way (the caller reports).
"""
import datetime as dt
import json
import sys
import urllib.parse as up
import urllib.request as ur

TOL = 0.0015  # kilowatt may round kWh to 3 decimals


def get(url, token=None):
    req = ur.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with ur.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def day_start(s):
    return int(dt.datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc).timestamp())


def iso(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def influx(port, db, q):
    url = "http://127.0.0.1:%d/query?%s" % (port, up.urlencode({"db": db, "epoch": "s", "q": q}))
    res = get(url)["results"][0]
    if "error" in res:
        raise RuntimeError(res["error"])
    return res.get("series", [])


def check(kw_port, token, in_port, db, path):
    u = up.urlsplit(path)
    qs = dict(up.parse_qsl(u.query))
    lo, hi = day_start(qs["from"]), day_start(qs["to"]) + 86400
    width = 3600 if qs.get("step") == "hour" else 86400
    kw = get("http://127.0.0.1:%d%s" % (kw_port, path), token)
    parts = u.path.strip("/").split("/")
    window = "time > '%s' AND time <= '%s'" % (iso(lo), iso(hi))
    if parts[2] == "devices":
        dev = parts[3]
        want = [0.0] * ((hi - lo) // width)
        for s in influx(in_port, db, "SELECT kwh FROM energy WHERE device='%s' AND %s" % (dev, window)):
            for t, v in s["values"]:
                want[(t - 1 - lo) // width] += v
        got = [b["kwh"] or 0.0 for b in kw["buckets"]]
    else:
        want_map = {}
        for s in influx(in_port, db, "SELECT sum(kwh) FROM energy WHERE %s GROUP BY region" % window):
            want_map[s["tags"]["region"]] = s["values"][0][1]
        got_map = {r["region"]: r["total_kwh"] for r in kw["regions"]}
        keys = sorted(set(want_map) | set(got_map))
        want = [want_map.get(k, 0.0) for k in keys]
        got = [got_map.get(k, 0.0) or 0.0 for k in keys]
    bad = len(got) != len(want) or any(abs(a - b) > TOL for a, b in zip(got, want))
    return bad, got, want


def main():
    kw_port, token, in_port, db, paths = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    n = int(sys.argv[6]) if len(sys.argv) > 6 else 3
    with open(paths) as f:
        todo = [line.strip() for line in f if line.strip()][:n]
    mismatches = 0
    for path in todo:
        try:
            bad, got, want = check(kw_port, token, in_port, db, path)
        except Exception as e:  # a malformed answer is a finding, not a crash
            print("MISMATCH %s: could not compare (%s: %s)" % (path, type(e).__name__, e))
            mismatches += 1
            continue
        if bad:
            mismatches += 1
            fmt = lambda xs: "[" + ", ".join("%.3f" % x for x in xs[:8]) + (", ..." if len(xs) > 8 else "") + "]"
            print("MISMATCH %s: kilowatt %s (%d buckets) vs InfluxDB %s (%d)"
                  % (path, fmt(got), len(got), fmt(want), len(want)))
        else:
            print("ok %s (%d buckets)" % (path, len(got)))
    print("checked=%d mismatches=%d" % (len(todo), mismatches))


if __name__ == "__main__":
    main()
