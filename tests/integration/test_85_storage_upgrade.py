"""Storage upgrade: a database of schema version 4 (one row per reading in the
`reading` table) is migrated to version 5 (device blocks of four UTC hours in
`rawblock` plus a journal, src/store/raw.h) by the daemon that opens it, and
answers exactly what the old rows say.

The old database is built here with Python's sqlite3 and the SQL of
migrations 1-4 copied from src/store/sqlite.c, filled the way kilowatt 4
left it: raw readings of every hour, totals (hourly rows and day rows with
hour slots) only of hours that end at or before the watermark, the
counter's last reading in counter_state.  The admin token is put in the
database too, so the first program to open it is `kilowatt serve` itself.

Kilowatt 4 closed whole hours, so its watermark need not be a multiple of
four hours: here it is 09:00, inside block 08:00-12:00.  That block ends after
the watermark, so it is open: its converted readings must act as the spilled
part of an open block (raw.h), not as a closed block nor be forgotten.
"""
import hashlib
import math
import secrets
import sqlite3
import struct

import pytest

from kwlib import H, MIN, counter_model, hour_edges, interval_model, ms

# --- migrations 1-4, exactly as in src/store/sqlite.c -------------------------

MIGRATIONS_1_TO_4 = [
    # 1: devices, channels, readings, rollups, tokens.
    ("CREATE TABLE device("
     "  id INTEGER PRIMARY KEY,"
     "  uuid TEXT NOT NULL UNIQUE,"
     "  serial TEXT UNIQUE,"
     "  name TEXT NOT NULL,"
     "  description TEXT NOT NULL DEFAULT '',"
     "  address TEXT NOT NULL DEFAULT '',"
     "  region TEXT NOT NULL DEFAULT '',"
     "  timezone TEXT NOT NULL,"
     "  max_hourly_kwh REAL,"
     "  reading_type INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  claim_code TEXT);"
     "CREATE TABLE channel(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
     "INSERT INTO channel VALUES(0, 'kwh');"
     "CREATE TABLE reading(ts INTEGER NOT NULL, device INTEGER NOT NULL,"
     "  channel INTEGER NOT NULL, value REAL NOT NULL, flags INTEGER NOT NULL DEFAULT 0,"
     "  PRIMARY KEY(ts, device, channel)) WITHOUT ROWID;"
     "CREATE TABLE hourly(hour INTEGER NOT NULL, device INTEGER NOT NULL,"
     "  kwh REAL NOT NULL, readings INTEGER NOT NULL,"
     "  PRIMARY KEY(hour, device)) WITHOUT ROWID;"
     "CREATE TABLE daily(day INTEGER NOT NULL, device INTEGER NOT NULL, kwh REAL NOT NULL,"
     "  PRIMARY KEY(day, device)) WITHOUT ROWID;"
     "CREATE TABLE counter_state(device INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
     "  value REAL NOT NULL);"
     "CREATE TABLE token(id INTEGER PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL,"
     "  hash BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL,"
     "  last_used_at INTEGER NOT NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0);"),
    # 2: the rollup watermark (src/store/pending.h).
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
    # 3: device ids are never reused (AUTOINCREMENT).
    ("CREATE TABLE device_new("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  uuid TEXT NOT NULL UNIQUE,"
     "  serial TEXT UNIQUE,"
     "  name TEXT NOT NULL,"
     "  description TEXT NOT NULL DEFAULT '',"
     "  address TEXT NOT NULL DEFAULT '',"
     "  region TEXT NOT NULL DEFAULT '',"
     "  timezone TEXT NOT NULL,"
     "  max_hourly_kwh REAL,"
     "  reading_type INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  claim_code TEXT);"
     "INSERT INTO device_new SELECT * FROM device;"
     "DROP TABLE device;"
     "ALTER TABLE device_new RENAME TO device;"),
    # 4: each device-day also keeps its hours (26 doubles, NaN for none).
    "ALTER TABLE daily ADD COLUMN hours BLOB;",
]

DAY_SLOTS = 26
T0 = ms("2025-01-06T00:00:00Z")   # a Monday; every device is on UTC
W = T0 + 33 * H                   # the old watermark: 2025-01-07 09:00
SPAN = 4 * H                      # a raw block (src/store/rawblock.h)
IV, CT = 1, 2                     # device ids in the old database
PW = 1                            # channel id of power_w
IV_UUID = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
CT_UUID = "0a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d"

# (ts, device, channel, value, flags): the old `reading` table.
#  - iv, interval: hour 00 gets 1.5 + 2.25 + 0.5 (01:00:00 counts for hour
#    00), hour 01 gets 3.0 (all in block 00:00-04:00), 2025-01-07 10:00 gets
#    4.125 -- an hour after the watermark, so kilowatt 4 had no total of it
#    on disk; it is in the open block 08:00-12:00; power_w twice.
#  - ct, counter: 100 at 00:00 (its baseline: 0 kWh in hour 23 of the day
#    before), 110 at 02:00 (5 + 5), 134 at 2025-01-07 02:00 (1 kWh an
#    hour), then 6 at 10:00, a reset (flags 1): 6 kWh over 8 h, 0.75 an
#    hour, of which hour 09 is after the watermark; 10:00 is in the open
#    block 08:00-12:00.
READINGS = [
    (T0 + 15 * MIN, IV, 0, 1.5, 0),
    (T0 + 15 * MIN, IV, PW, 850.0, 0),
    (T0 + 45 * MIN, IV, 0, 2.25, 0),
    (T0 + 60 * MIN, IV, 0, 0.5, 0),
    (T0 + 90 * MIN, IV, 0, 3.0, 0),
    (T0 + 90 * MIN, IV, PW, 1200.5, 0),
    (T0 + 34 * H + 30 * MIN, IV, 0, 4.125, 0),
    (T0, CT, 0, 100.0, 0),
    (T0 + 2 * H, CT, 0, 110.0, 0),
    (T0 + 26 * H, CT, 0, 134.0, 0),
    (T0 + 34 * H, CT, 0, 6.0, 1),
]
CHANNEL_NAMES = {0: "kwh", PW: "power_w"}


def closed_totals():
    """What kilowatt 4 wrote for the hours ending at or before W:
    {(device, hour_start): (kwh, readings)}, hand-computed from READINGS."""
    t = {}

    def add(dev, hour, kwh, n=0):
        k, c = t.get((dev, hour), (0.0, 0))
        t[(dev, hour)] = (k + kwh, c + n)

    add(IV, T0, 1.5 + 2.25 + 0.5, 3)
    add(IV, T0 + H, 3.0, 1)
    add(CT, T0 - H, 0.0, 1)              # the baseline reading at 00:00
    add(CT, T0, 5.0)
    add(CT, T0 + H, 5.0, 1)
    for h in range(2, 26):               # 110 -> 134 over 24 h
        add(CT, T0 + h * H, 1.0, 1 if h == 25 else 0)
    for h in range(26, 33):              # 134 -> 6 (reset) over 8 h; 09 is open
        add(CT, T0 + h * H, 0.75)
    return t


def build_v4(path, token):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    for i, m in enumerate(MIGRATIONS_1_TO_4):
        db.executescript("BEGIN IMMEDIATE;" + m + f"PRAGMA user_version = {i + 1};COMMIT;")
    db.execute("BEGIN")
    dev = ("INSERT INTO device(id, uuid, serial, name, timezone, reading_type, created_at)"
           " VALUES(?, ?, ?, ?, 'UTC', ?, ?)")
    db.execute(dev, (IV, IV_UUID, "iv", "Interval meter", 0, T0 - 24 * H))
    db.execute(dev, (CT, CT_UUID, "ct", "Counter meter", 1, T0 - 24 * H))
    db.execute("INSERT INTO channel VALUES(?, 'power_w')", (PW,))
    db.executemany("INSERT INTO reading(ts, device, channel, value, flags) VALUES(?,?,?,?,?)",
                   READINGS)
    slots = {}
    for (dev_id, hour), (kwh, n) in sorted(closed_totals().items()):
        db.execute("INSERT INTO hourly(hour, device, kwh, readings) VALUES(?,?,?,?)",
                   (hour, dev_id, kwh, n))
        day = hour // (24 * H)
        slots.setdefault((dev_id, day), [math.nan] * DAY_SLOTS)[hour % (24 * H) // H] = kwh
    for (dev_id, day), s in slots.items():
        db.execute("INSERT INTO daily(day, device, kwh, hours) VALUES(?,?,?,?)",
                   (day, dev_id, sum(x for x in s if not math.isnan(x)),
                    struct.pack(f"<{DAY_SLOTS}d", *s)))
    db.execute("INSERT INTO counter_state(device, ts, value) VALUES(?,?,?)",
               (CT, T0 + 34 * H, 6.0))
    db.execute("INSERT INTO meta(key, value) VALUES('watermark', ?)", (W,))
    db.execute("INSERT INTO token(name, scope, hash, created_at) VALUES(?,?,?,?)",
               ("test-admin", "admin", hashlib.sha256(token.encode()).digest(), T0))
    db.execute("COMMIT")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    db.close()


def expected_readings(rows, device):
    return [{"timestamp_ms": ts, "channel": CHANNEL_NAMES[ch], "value": v, "reset": bool(fl)}
            for ts, d, ch, v, fl in sorted(rows, key=lambda r: (r[0], r[2])) if d == device]


def readings(kw, device):
    got = kw.readings(device, "2025-01-05T00:00:00Z", "2025-01-10T00:00:00Z", limit=3)
    return [{k: r[k] for k in ("timestamp_ms", "channel", "value", "reset")} for r in got]


FROM, TO = T0 - H, T0 + 48 * H   # 2025-01-05 23:00 .. 2025-01-08 00:00


def check_hours(kw, rows):
    """Hourly consumption of both devices against the energy model."""
    edges = hour_edges("UTC", FROM, TO)
    q = "from=2025-01-05T23:00:00Z&to=2025-01-08T00:00:00Z&step=hour"
    for device, model in (("iv", "interval"), ("ct", "counter")):
        energy = [(ts, v) for ts, d, ch, v, _ in rows
                  if d == (IV if device == "iv" else CT) and ch == 0]
        want = (interval_model(edges, energy) if model == "interval"
                else counter_model(edges, energy)[0]).values()
        got = [b["kwh"] for b in kw.consumption(device, q)["buckets"]]
        assert len(got) == len(want) == 49
        for i, (g, w) in enumerate(zip(got, want)):
            assert (g is None) == (w is None), (device, i, g, w)
            assert g is None or g == pytest.approx(w, abs=1e-9), (device, i, g, w)


def day_totals(kw, device):
    doc = kw.consumption(device, "from=2025-01-05&to=2025-01-08&step=day")
    return [b["kwh"] for b in doc["buckets"]]


def test_version_4_database_is_migrated_and_answers_the_same(kw_factory):
    token = "kw_" + secrets.token_urlsafe(32)
    kw = kw_factory(start=False, name="up")
    build_v4(kw.data / "kilowatt.db", token)
    kw.admin = token              # so start() does not open the database first
    kw.start()
    log = kw.log_text()
    assert 'msg="migrated schema to version 5"' in log
    assert 'msg="moved 11 readings into device-hour blocks"' in log
    assert "migrated schema to version 4" not in log

    # The devices, their readings (all channels, the reset flag), in pages
    # of 3, exactly as in the old rows.
    assert [d["serial"] for d in kw.get("/api/v1/devices").json()["devices"]] == ["iv", "ct"]
    assert readings(kw, "iv") == expected_readings(READINGS, IV)
    assert readings(kw, "ct") == expected_readings(READINGS, CT)
    pw = kw.readings("iv", "2025-01-05T00:00:00Z", "2025-01-10T00:00:00Z", channel="power_w")
    assert [(r["timestamp_ms"], r["value"]) for r in pw] == [(T0 + 15 * MIN, 850.0),
                                                             (T0 + 90 * MIN, 1200.5)]

    # Consumption: closed hours from the old day rows, the hours after the
    # old watermark rebuilt from the converted blocks.
    check_hours(kw, READINGS)
    assert day_totals(kw, "iv") == [None, 7.25, 4.125, None]
    assert day_totals(kw, "ct") == [0.0, 32.0, pytest.approx(2 + 8 * 0.75), None]

    # New readings go on from the old ones: a retry of an old reading is a
    # duplicate (in a closed block, and in the open block 08:00-12:00 that
    # began before the old watermark), another value for it a conflict; a
    # late reading lands in a converted closed block, another one next to
    # 4.125 in the converted open block; the counter continues from its old
    # state.  (Nothing closes: the newest reading, 11:15, targets 08:00.)
    r = kw.post("/api/v1/measurements", json=[
        {"timestamp": T0 + 15 * MIN, "device_id": "iv", "measurement_value": 1.5},
        {"timestamp": T0 + 45 * MIN, "device_id": "iv", "measurement_value": 9.0},
        {"timestamp": T0 + 30 * MIN, "device_id": "iv", "measurement_value": 0.25},
        {"timestamp": T0 + 34 * H + 30 * MIN, "device_id": "iv", "measurement_value": 4.125},
        {"timestamp": T0 + 34 * H + 45 * MIN, "device_id": "iv", "measurement_value": 0.125},
        {"timestamp": T0 + 35 * H + 15 * MIN, "device_id": "iv", "measurement_value": 0.75},
        {"timestamp": T0 + 35 * H, "device_id": "ct", "measurement_value": 7.0},
    ])
    assert (r.status, r.json()) == (200, {"accepted": 4, "duplicates": 2, "conflicts": 1})
    rows = READINGS + [(T0 + 30 * MIN, IV, 0, 0.25, 0), (T0 + 34 * H + 45 * MIN, IV, 0, 0.125, 0),
                       (T0 + 35 * H + 15 * MIN, IV, 0, 0.75, 0), (T0 + 35 * H, CT, 0, 7.0, 0)]
    assert readings(kw, "iv") == expected_readings(rows, IV)
    assert readings(kw, "ct") == expected_readings(rows, CT)
    check_hours(kw, rows)
    assert day_totals(kw, "iv") == [None, 7.5, 5.0, None]

    # A reading at 2025-01-08 00:00 moves the watermark to 2025-01-07 20:00,
    # past every block above (the converted open block is rewritten with
    # its new readings); then a restart: everything is still there, once.
    r = kw.post("/api/v1/measurements", json=[
        {"timestamp": T0 + 48 * H, "device_id": "iv", "measurement_value": 0.5}])
    assert r.json()["accepted"] == 1
    rows.append((T0 + 48 * H, IV, 0, 0.5, 0))
    kw.restart()
    assert readings(kw, "iv") == expected_readings(rows, IV)
    assert readings(kw, "ct") == expected_readings(rows, CT)
    check_hours(kw, rows)
    assert day_totals(kw, "iv") == [None, 7.5, 5.5, None]
    kw.stop()

    # On disk: version 5, no `reading` table, the readings in blocks.
    db = sqlite3.connect(kw.data / "kilowatt.db")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 5  # later migrations follow
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "reading" not in tables
        assert {"rawblock", "journal"} <= tables
        assert db.execute("SELECT value FROM meta WHERE key = 'watermark'").fetchone()[0] \
            == T0 + 44 * H
        blocks = {(h, d) for h, d in db.execute("SELECT hour, device FROM rawblock")}
        # The converted readings: each one's block is the multiple of four
        # hours before ts - 1 ms.
        for ts, d, _, _, _ in READINGS:
            assert ((ts - 1) // SPAN * SPAN, d) in blocks, (ts, d)
        assert blocks == {(T0 - SPAN, CT), (T0, IV), (T0, CT), (T0 + 6 * SPAN, CT),
                          (T0 + 8 * SPAN, IV), (T0 + 8 * SPAN, CT)}
        # 2025-01-08 00:00 is in block 20:00-24:00, still open: no row.
        assert (T0 + 11 * SPAN, IV) not in blocks
    finally:
        db.close()
