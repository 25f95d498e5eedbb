#!/usr/bin/python3
"""Demo data for `make demo`: devices, 30 days of history, then live readings.

Standard library only (Debian's python3).  Profiles are synthetic but shaped
like real ones: a household with morning and evening peaks, an office busy on
weekday working hours, a shop, and a cumulative-counter meter (as the seed-000
sensor data is).  Every reading covers the 10 minutes (history) or 10 seconds
(live) before its timestamp.
"""
import argparse
import json
import math
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEVICES = [
    # serial, name, region, timezone, type, profile, scale
    ("100000001", "Rue Haute 12 (household)", "Central Region", "Europe/Brussels", "interval", "household", 1.0),
    ("100000002", "Avenue Louise 5 (household)", "Central Region", "Europe/Brussels", "interval", "household", 1.4),
    ("100000003", "Harbour office", "East Region", "America/New_York", "interval", "office", 6.0),
    ("100000004", "Corner shop", "East Region", "America/New_York", "interval", "shop", 3.0),
    ("999999999", "Aashima (seed 002)", "North Region", "Asia/Singapore", "interval", "household", 1.1),
    ("555555555", "Workshop counter meter", "North Region", "Asia/Kolkata", "counter", "office", 2.0),
]
STEP_S = 600

# The demo's people (printed by `make demo`; the daemon listens on loopback).
USERS = [
    # email, name, role, password, devices they own
    ("admin@demo.kilowatt", "Ada Admin", "admin", "demo-admin-2026", []),
    ("lea@demo.kilowatt", "Léa Dubois", "client", "demo-client-lea", ["100000001", "100000002"]),
    ("aashima@demo.kilowatt", "Aashima", "client", "demo-client-aashima", ["999999999", "555555555"]),
]


def utc_offset_hours(tzname, t):
    # Enough for shaping a profile: the standard offset of each demo zone.
    return {"Europe/Brussels": 1, "America/New_York": -5, "Asia/Singapore": 8, "Asia/Kolkata": 5.5}[tzname]


def power_kw(profile, scale, tzname, t, rng):
    local = t / 3600 + utc_offset_hours(tzname, t)
    hour = local % 24
    weekday = int((local // 24 + 3) % 7)  # 0 = Monday (1970-01-01 was a Thursday)
    weekend = weekday >= 5
    if profile == "household":
        p = 0.18 + 0.9 * math.exp(-((hour - 7.5) / 1.2) ** 2) + 1.8 * math.exp(-((hour - 19.5) / 2.0) ** 2)
        if weekend:
            p += 0.5 * math.exp(-((hour - 13) / 3) ** 2)
    elif profile == "office":
        p = 0.15 + (0.85 if (not weekend and 8 <= hour < 18) else 0.0)
    else:  # shop
        p = 0.2 + (0.8 if 9 <= hour < 20 and weekday != 6 else 0.0)
    return max(0.0, p * scale * (1 + rng.uniform(-0.12, 0.12)))


def counter_value(scale, t):
    # A monotonic register: steady growth plus a daily wave (never decreasing).
    h = t / 3600
    return round(scale * (0.8 * h + 1.0 * math.sin(2 * math.pi * h / 24)) - scale * 0.8 * 482000, 3)


def call(url, token, method, path, body=None, ctype="application/json"):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(url, deadline_s=30):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("demo: kilowatt did not become ready")


def lines_for(t, step_s, rng):
    out = []
    for serial, _, _, tz, kind, profile, scale in DEVICES:
        if kind == "counter":
            v = counter_value(scale, t)
        else:
            v = power_kw(profile, scale, tz, t, rng) * step_s / 3600
        out.append("energy,device=%s kwh=%.5f %d" % (serial, v, t))
    return out


def post_lines(url, token, lines):
    for i in range(0, len(lines), 5000):
        st, body = call(url, token, "POST", "/write?precision=s", "\n".join(lines[i:i + 5000]), "text/plain")
        if st != 204:
            sys.exit("demo: ingest failed: %d %s" % (st, body[:300]))


def setup(args):
    wait_ready(args.url)
    for serial, name, region, tz, kind, _, scale in DEVICES:
        st, _ = call(args.url, args.token, "GET", "/api/v1/devices/" + serial)
        if st == 404:
            dev = {"serial": serial, "name": name, "region": region, "timezone": tz,
                   "reading_type": kind, "max_hourly_kwh": round(3.0 * scale, 1)}
            st, body = call(args.url, args.token, "POST", "/api/v1/devices", json.dumps(dev))
            if st != 201:
                sys.exit("demo: cannot create device %s: %s" % (serial, body))
    for email, name, role, password, owned in USERS:
        st, body = call(args.url, args.token, "GET", "/api/v1/users?q=" + urllib.parse.quote(email))
        found = [u for u in json.loads(body)["users"] if u["email"] == email] if st == 200 else []
        if found:
            continue
        st, body = call(args.url, args.token, "POST", "/api/v1/users", json.dumps(
            {"email": email, "name": name, "role": role, "password": password}))
        if st != 201:
            sys.exit("demo: cannot create user %s: %s" % (email, body))
        uid = json.loads(body)["user"]["id"]
        for serial in owned:
            st, body = call(args.url, args.token, "POST", "/api/v1/mappings",
                            json.dumps({"user_id": uid, "device_id": serial}))
            if st not in (201, 409):
                sys.exit("demo: cannot map %s to %s: %s" % (serial, email, body))
    marker = os.path.join(args.data, "demo-history-loaded")
    if os.path.exists(marker):
        return
    rng = random.Random(42)
    now = int(time.time()) // STEP_S * STEP_S
    start = now - 30 * 86400
    print("demo: loading 30 days of history...", flush=True)
    lines = []
    for t in range(start + STEP_S, now + 1, STEP_S):
        lines.extend(lines_for(t, STEP_S, rng))
    post_lines(args.url, args.token, lines)
    open(marker, "w").close()
    print("demo: %d readings loaded" % len(lines), flush=True)


def live(args):
    rng = random.Random()
    last = int(time.time())
    while True:
        time.sleep(10)
        t = int(time.time())
        post_lines(args.url, args.token, lines_for(t, t - last, rng))
        last = t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--setup", action="store_true")
    ap.add_argument("--live", action="store_true")
    args = ap.parse_args()
    try:
        if args.setup:
            setup(args)
        if args.live:
            live(args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
