"""End-to-end energy: the daemon's hourly, daily, monthly and regional totals
against an independent computation of docs/ENERGY.md in Python (kwlib).

Data: seed 000's counter (data/sensor.csv, a cumulative kWh register read
every 10 minutes) and seed 002's meter packets (data/meter/*.json, interval
readings), plus small generated series for late arrival, resets and DST."""
import random
from datetime import date, timedelta

import pytest

from kwlib import (H, MIN, Daemon, approx_list, assert_buckets, compare_recent, counter_model,
                   day_edges, hour_edges, interval_model, iso, load_meter_files,
                   load_sensor_csv, local_date, local_midnight, ms, now_ms, recent_series)

# --- the seed 000 counter, one shared daemon (queries only) -----------------------

CSV_T0 = ms("2025-03-05T00:00:00Z")
CSV_STEP = 10 * MIN
CSV_ZONES = {"csv-utc": "UTC", "csv-bru": "Europe/Brussels", "csv-nyc": "America/New_York",
             "csv-kol": "Asia/Kolkata"}


def csv_readings():
    return [(CSV_T0 + i * CSV_STEP, v) for i, v in enumerate(load_sensor_csv())]


@pytest.fixture(scope="module")
def csv_kw(tmp_path_factory):
    kw = Daemon(tmp_path_factory.mktemp("energy-csv"))
    kw.start()
    try:
        for serial, tz in CSV_ZONES.items():
            kw.create_device(name=serial, serial=serial, timezone=tz, reading_type="counter")
        rs = csv_readings()
        for i in range(0, len(rs), 100):
            chunk = [(s, t, v) for t, v in rs[i:i + 100] for s in CSV_ZONES]
            assert kw.ingest(chunk) == {"accepted": len(chunk), "duplicates": 0,
                                        "conflicts": 0}
        yield kw
    finally:
        kw.teardown()


def test_csv_shape():
    rs = csv_readings()
    assert len(rs) == 3998
    assert rs[0][1] == 0.5 and rs[-1][1] == 47973.02036


def test_csv_hourly_utc(csv_kw):
    frm, to = "2025-03-05", "2025-04-01"
    doc = csv_kw.consumption("csv-utc", f"from={frm}&to={to}&step=hour")
    edges = hour_edges("UTC", ms(frm + "T00:00:00Z"), ms("2025-04-02T00:00:00Z"))
    assert len(edges) - 1 == 28 * 24
    model, resets = counter_model(edges, csv_readings())
    assert resets == set()
    assert (doc["unit"], doc["step"]) == ("kWh", "hour")
    device = csv_kw.get("/api/v1/devices/csv-utc").json()
    del device["owners"]  # an admin's device answers only
    assert doc["device"] == device
    assert_buckets(doc, "UTC", edges, model.values())
    assert all(b["complete"] for b in doc["buckets"])


@pytest.mark.parametrize("serial", list(CSV_ZONES))
def test_csv_daily_in_each_zone(csv_kw, serial):
    tz = CSV_ZONES[serial]
    doc = csv_kw.consumption(serial, "from=2025-03-04&to=2025-04-02&step=day")
    edges = day_edges(tz, "2025-03-04", "2025-04-02")
    model, _ = counter_model(edges, csv_readings())
    assert doc["step"] == "day"
    assert_buckets(doc, tz, edges, model.values())
    # all the energy the register counted, once
    assert doc["total_kwh"] == pytest.approx(47973.02036 - 0.5, rel=1e-9)


@pytest.mark.parametrize("serial", list(CSV_ZONES))
def test_csv_monthly_in_each_zone(csv_kw, serial):
    tz = CSV_ZONES[serial]
    doc = csv_kw.consumption(serial, "from=2025-02-10&to=2025-04-10&step=month")
    edges = [local_midnight(tz, d) for d in ("2025-02-01", "2025-03-01", "2025-04-01",
                                            "2025-05-01")]
    model, _ = counter_model(edges, csv_readings())
    assert doc["step"] == "month"
    assert_buckets(doc, tz, edges, model.values())


@pytest.mark.parametrize("serial,day,nbuckets", [
    ("csv-bru", "2025-03-30", 23),     # Brussels springs forward
    ("csv-nyc", "2025-03-09", 23),     # New York springs forward
    ("csv-bru", "2025-03-29", 24),
    ("csv-kol", "2025-03-20", 24),
])
def test_csv_hours_of_a_local_day(csv_kw, serial, day, nbuckets):
    tz = CSV_ZONES[serial]
    doc = csv_kw.consumption(serial, f"from={day}&to={day}&step=hour")
    d0 = local_midnight(tz, day)
    d1 = local_midnight(tz, date.fromisoformat(day) + timedelta(days=1))
    edges = hour_edges(tz, d0, d1)
    assert len(edges) - 1 == nbuckets == len(doc["buckets"])
    model, _ = counter_model(edges, csv_readings())
    assert_buckets(doc, tz, edges, model.values())
    if tz == "Asia/Kolkata":   # local hours start at :30 UTC
        assert all(iso(e, "UTC")[14:16] == "30" for e in edges)


def test_kolkata_question_on_a_utc_device_equals_a_kolkata_device(csv_kw):
    """UTC hours do not fit Asia/Kolkata hours: the UTC device is answered from
    raw readings (with the counter's neighbours outside the range) and must
    equal the Kolkata device answered from its stored hours."""
    for q in ("from=2025-03-10&to=2025-03-11&step=hour",
              "from=2025-03-06&to=2025-03-31&step=day",
              "from=2025-03-01&to=2025-04-30&step=month",
              "from=2025-03-10T03:20:00Z&to=2025-03-10T09:00:00Z&step=hour"):
        utc = csv_kw.consumption("csv-utc", q + "&tz=Asia/Kolkata")
        kol = csv_kw.consumption("csv-kol", q)
        assert utc["tz"] == kol["tz"] == "Asia/Kolkata"
        assert [b["start"] for b in utc["buckets"]] == [b["start"] for b in kol["buckets"]], q
        bad = approx_list([b["kwh"] for b in utc["buckets"]], [b["kwh"] for b in kol["buckets"]])
        assert not bad, (q, bad[:5])
        assert utc["total_kwh"] == pytest.approx(kol["total_kwh"], rel=1e-9)
        assert (utc["from"], utc["to"]) == (kol["from"], kol["to"])


def test_zone_question_on_other_devices_equals_the_zones_device(csv_kw):
    """Brussels and New York hours are whole UTC hours: a UTC device asked in
    those zones is answered from its hours and equals the zone's device."""
    for tz, serial, day in (("Europe/Brussels", "csv-bru", "2025-03-30"),
                            ("America/New_York", "csv-nyc", "2025-03-09")):
        for q in (f"from={day}&to={day}&step=hour", "from=2025-03-05&to=2025-03-31&step=day"):
            a = csv_kw.consumption("csv-utc", f"{q}&tz={tz}")
            b = csv_kw.consumption(serial, q)
            assert [x["start"] for x in a["buckets"]] == [x["start"] for x in b["buckets"]]
            assert not approx_list([x["kwh"] for x in a["buckets"]],
                                   [x["kwh"] for x in b["buckets"]])


def test_instant_range_is_aligned_to_the_step(csv_kw):
    doc = csv_kw.consumption("csv-utc",
                             "from=2025-03-10T05:30:00Z&to=2025-03-10T08:00:00Z&step=hour")
    assert [b["start"] for b in doc["buckets"]] == ["2025-03-10T05:00:00Z",
                                                   "2025-03-10T06:00:00Z",
                                                   "2025-03-10T07:00:00Z"]
    assert doc["from"] == "2025-03-10T05:00:00Z" and doc["to"] == "2025-03-10T08:00:00Z"
    # an offset in the instant is honoured
    doc2 = csv_kw.consumption("csv-utc",
                              "from=2025-03-10T06:30:00%2B01:00&to=2025-03-10T09:00:00%2B01:00"
                              "&step=hour")
    assert doc2["buckets"] == doc["buckets"]


def test_no_data_is_null_not_zero(csv_kw):
    doc = csv_kw.consumption("csv-utc", "from=2025-01-01&to=2025-01-02&step=hour")
    assert len(doc["buckets"]) == 48
    assert all(b["kwh"] is None and b["complete"] for b in doc["buckets"])
    assert doc["total_kwh"] == 0


# --- seed 002 meter packets: interval devices, regions, Kolkata -------------------

def _meter_setup(kw):
    files = load_meter_files()
    ids = sorted({p["id"] for p in files[0][1]["readings"]})
    regions = {}
    for n, i in enumerate(ids):
        regions[i] = ("north", "south", "")[n % 3]
        kw.create_device(name=f"m{i}", serial=i, region=regions[i])
    for _, doc in files:
        assert kw.post("/meter", json=doc).json()["accepted"] == len(ids)
    packets = [(p["id"], ms(p["timestamp"]), p["reading_kWh"])
               for _, doc in files for p in doc["readings"]]
    return ids, regions, packets


def test_meter_packets_hourly_per_device(kw):
    ids, _, packets = _meter_setup(kw)
    edges = hour_edges("UTC", ms("2025-02-08T00:00:00Z"), ms("2025-02-09T00:00:00Z"))
    for i in ids[:12]:
        doc = kw.consumption(str(i), "from=2025-02-08&to=2025-02-08&step=hour")
        model = interval_model(edges, [(t, v) for d, t, v in packets if d == i])
        assert_buckets(doc, "UTC", edges, model.values())
    # the packet at 00:31 alone fills hour 00; 01:01 and 01:31 fill hour 01
    doc = kw.consumption(str(ids[0]), "from=2025-02-08&to=2025-02-08&step=hour")
    vals = {t: v for d, t, v in packets if d == ids[0]}
    assert doc["buckets"][1]["kwh"] == pytest.approx(vals[ms("2025-02-08T01:01:00Z")] +
                                                     vals[ms("2025-02-08T01:31:00Z")])


def test_regions_add_up_devices(kw):
    ids, regions, packets = _meter_setup(kw)
    # a Brussels device in "north": its 2025-02-07T23:31Z packet is 00:31 on the
    # 8th locally, so it counts on the 8th; its 2025-02-08T23:31Z one on the 9th
    kw.create_device(name="bru", serial="bru-1", region="north", timezone="Europe/Brussels")
    kw.post("/meter", json=[{"id": "bru-1", "timestamp": "2025-02-07T23:31:00Z",
                             "reading_kWh": 100.0},
                            {"id": "bru-1", "timestamp": "2025-02-08T23:31:00Z",
                             "reading_kWh": 1000.0}])
    r = kw.get("/api/v1/regions/consumption?from=2025-02-07&to=2025-02-09&step=day")
    assert r.status == 200, r
    doc = r.json()
    assert (doc["unit"], doc["step"], doc["from"], doc["to"]) == \
        ("kWh", "day", "2025-02-07", "2025-02-09")
    want = {}
    for d, t, v in packets:
        name = regions[d] or "(none)"
        day = local_date("UTC", t - 1).isoformat()
        want.setdefault(name, {}).setdefault(day, 0.0)
        want[name][day] += v
    want["north"]["2025-02-08"] += 100.0
    want["north"]["2025-02-09"] = want["north"].get("2025-02-09", 0.0) + 1000.0
    got = {x["region"]: x for x in doc["regions"]}
    assert set(got) == {"north", "south", "(none)"}
    for name, x in got.items():
        assert [b["date"] for b in x["buckets"]] == ["2025-02-07", "2025-02-08", "2025-02-09"]
        for b in x["buckets"]:
            assert b["kwh"] == pytest.approx(want[name].get(b["date"], 0.0), rel=1e-9), \
                (name, b)
        assert x["total_kwh"] == pytest.approx(sum(want[name].values()), rel=1e-9)
    # months
    doc = kw.get("/api/v1/regions/consumption?from=2025-01-15&to=2025-02-20&step=month").json()
    got = {x["region"]: x for x in doc["regions"]}
    assert [b["month"] for b in got["south"]["buckets"]] == ["2025-01", "2025-02"]
    assert got["south"]["buckets"][0]["kwh"] == 0
    assert got["south"]["buckets"][1]["kwh"] == pytest.approx(sum(want["south"].values()))
    assert (doc["from"], doc["to"]) == ("2025-01", "2025-02")


def test_regions_validation(kw):
    doc = kw.get("/api/v1/regions/consumption?from=2025-02-08&to=2025-02-08").json()
    assert doc["regions"] == []
    for q, field in (("from=2025-02-08&to=2025-02-08&step=hour", "step"),
                     ("from=2025-02-09&to=2025-02-08", "to"),
                     ("to=2025-02-08", "from"),
                     ("from=2025-02-08&to=2025-02-08&tz=Nowhere/City", "tz"),
                     ("period=last-year", "period")):
        r = kw.get(f"/api/v1/regions/consumption?{q}")
        assert r.status == 400, (q, r)
        assert r.error()["field"] == field


def test_regions_sorted_by_name(kw):
    for s, region in (("a", "south"), ("b", "north"), ("c", "east")):
        kw.create_device(serial=s, region=region)
    kw.create_device(serial="d")
    doc = kw.get("/api/v1/regions/consumption?from=2025-02-08&to=2025-02-08").json()
    assert [x["region"] for x in doc["regions"]] == ["(none)", "east", "north", "south"]
    assert all(x["buckets"] == [{"date": "2025-02-08", "kwh": 0}] and x["total_kwh"] == 0
               for x in doc["regions"])


def test_meter_kolkata_question_on_utc_device_equals_kolkata_device(kw):
    files = load_meter_files()
    ids = sorted({p["id"] for p in files[0][1]["readings"]})[:6]
    for i in ids:
        kw.create_device(name=f"u{i}", serial=f"u{i}")
        kw.create_device(name=f"k{i}", serial=f"k{i}", timezone="Asia/Kolkata")
    for _, doc in files:
        body = [dict(p, id=f"{z}{p['id']}") for p in doc["readings"] if p["id"] in ids
                for z in ("u", "k")]
        assert kw.post("/meter", json=body).json()["accepted"] == 2 * len(ids)
    for i in ids:
        for q in ("from=2025-02-08&to=2025-02-08&step=hour", "from=2025-02-07&to=2025-02-09"
                  "&step=day"):
            a = kw.consumption(f"u{i}", q + "&tz=Asia/Kolkata")
            b = kw.consumption(f"k{i}", q)
            assert [x["start"] for x in a["buckets"]] == [x["start"] for x in b["buckets"]]
            assert not approx_list([x["kwh"] for x in a["buckets"]],
                                   [x["kwh"] for x in b["buckets"]]), (i, q)
        # and both equal the model on Kolkata hours (the 00:31Z packet lies in
        # the local hour 06:00-07:00 that starts 00:30Z)
        d0 = local_midnight("Asia/Kolkata", "2025-02-08")
        edges = hour_edges("Asia/Kolkata", d0, d0 + 24 * H)
        model = interval_model(edges, [(ms(p["timestamp"]), p["reading_kWh"])
                                       for _, doc in files for p in doc["readings"]
                                       if p["id"] == i])
        assert_buckets(kw.consumption(f"k{i}", "from=2025-02-08&to=2025-02-08&step=hour"),
                       "Asia/Kolkata", edges, model.values())


# --- interval rules at the edges --------------------------------------------------

def test_interval_hour_edges_and_day_edges(kw):
    kw.create_device(serial="iv", timezone="Europe/Brussels")
    kw.ingest([("iv", "2025-06-01T00:00:00+02:00", 1.0),      # midnight -> May 31, 23:00
               ("iv", "2025-06-01T00:00:00.001+02:00", 2.0),  # June 1, 00:00
               ("iv", "2025-06-01T01:00:00+02:00", 4.0),      # June 1, 00:00
               ("iv", "2025-06-01T23:59:59.999+02:00", 8.0),  # June 1, 23:00
               ("iv", "2025-06-02T00:00:00+02:00", 16.0)])    # June 1, 23:00
    days = kw.consumption("iv", "from=2025-05-31&to=2025-06-02&step=day")
    assert [b["start"] for b in days["buckets"]] == ["2025-05-31T00:00:00+02:00",
                                                    "2025-06-01T00:00:00+02:00",
                                                    "2025-06-02T00:00:00+02:00"]
    assert [b["kwh"] for b in days["buckets"]] == [1.0, 30.0, None]
    hours = kw.consumption("iv", "from=2025-06-01&to=2025-06-01&step=hour")["buckets"]
    assert len(hours) == 24
    assert (hours[0]["kwh"], hours[1]["kwh"], hours[23]["kwh"]) == (6.0, None, 24.0)
    # the same question in UTC: June 1 UTC runs 02:00 local to 02:00 local
    utc = kw.consumption("iv", "from=2025-06-01&to=2025-06-01&step=day&tz=UTC")
    assert [b["kwh"] for b in utc["buckets"]] == [24.0]
    assert utc["buckets"][0]["start"] == "2025-06-01T00:00:00Z"


def test_interval_late_readings_update_closed_hours(kw):
    kw.create_device(serial="ivl", region="late")
    kw.ingest([("ivl", "2025-01-06T00:30:00Z", 1.0), ("ivl", "2025-01-09T00:30:00Z", 1.0)])
    # the hours of Jan 6 are closed by now (the newest reading is 3 days later)
    kw.ingest([("ivl", "2025-01-06T00:45:00Z", 2.0), ("ivl", "2025-01-06T23:59:00Z", 4.0)])
    days = kw.consumption("ivl", "from=2025-01-06&to=2025-01-09&step=day")
    assert [b["kwh"] for b in days["buckets"]] == [7.0, None, None, 1.0]
    hours = kw.consumption("ivl", "from=2025-01-06&to=2025-01-06&step=hour")["buckets"]
    assert (hours[0]["kwh"], hours[23]["kwh"]) == (3.0, 4.0)
    assert all(b["kwh"] is None for b in hours[1:23])
    reg = kw.get("/api/v1/regions/consumption?from=2025-01-06&to=2025-01-09").json()
    assert [b["kwh"] for b in reg["regions"][0]["buckets"]] == [7.0, 0, 0, 1.0]
    month = kw.consumption("ivl", "from=2025-01-01&to=2025-01-31&step=month")
    assert month["total_kwh"] == 8.0


def _generated(t0, t1, step, seed):
    rnd = random.Random(seed)
    return [(t, round(rnd.uniform(0.0, 2.0), 3)) for t in range(t0, t1, step)]


@pytest.mark.parametrize("tz,day,nbuckets", [("Europe/Brussels", "2025-10-26", 25),
                                             ("America/New_York", "2025-11-02", 25),
                                             ("Europe/Brussels", "2025-03-30", 23)])
def test_dst_days_interval_and_counter(kw, tz, day, nbuckets):
    d0 = local_midnight(tz, day) - 26 * H
    iv = _generated(d0, d0 + 80 * H, 15 * MIN, seed=day)
    ctr, acc = [], 0.0
    for t, v in _generated(d0 + 7 * MIN, d0 + 80 * H, 25 * MIN, seed=day + "c"):
        acc += v
        ctr.append((t, round(acc, 6)))
    kw.create_device(serial="dst-iv", timezone=tz)
    kw.create_device(serial="dst-ctr", timezone=tz, reading_type="counter")
    kw.ingest([("dst-iv", t, v) for t, v in iv] + [("dst-ctr", t, v) for t, v in ctr])
    start = local_midnight(tz, day)
    end = local_midnight(tz, date.fromisoformat(day) + timedelta(days=1))
    edges = hour_edges(tz, start, end)
    assert len(edges) - 1 == nbuckets
    doc = kw.consumption("dst-iv", f"from={day}&to={day}&step=hour")
    assert len(doc["buckets"]) == nbuckets
    assert_buckets(doc, tz, edges, interval_model(edges, iv).values())
    doc = kw.consumption("dst-ctr", f"from={day}&to={day}&step=hour")
    assert_buckets(doc, tz, edges, counter_model(edges, ctr)[0].values())
    # days around it
    dd = day_edges(tz, date.fromisoformat(day) - timedelta(days=1),
                   date.fromisoformat(day) + timedelta(days=1))
    q = (f"from={date.fromisoformat(day) - timedelta(days=1)}"
         f"&to={date.fromisoformat(day) + timedelta(days=1)}&step=day")
    assert_buckets(kw.consumption("dst-iv", q), tz, dd, interval_model(dd, iv).values())
    assert_buckets(kw.consumption("dst-ctr", q), tz, dd, counter_model(dd, ctr)[0].values())
    # the repeated or skipped hour is visible in the starts
    starts = [b["start"] for b in doc["buckets"]]
    if nbuckets == 25:
        assert len(set(s[11:19] for s in starts)) == 24   # one wall-clock hour twice
    else:
        assert len(starts) == len(set(starts)) == 23


# --- counters: spreading, late arrival, resets ------------------------------------

def test_counter_spreads_in_proportion_to_time(kw):
    kw.create_device(serial="sp", reading_type="counter")
    kw.ingest([("sp", "2025-01-06T00:30:00Z", 100.0), ("sp", "2025-01-06T02:30:00Z", 104.0)])
    doc = kw.consumption("sp", "from=2025-01-06T00:00:00Z&to=2025-01-06T04:00:00Z&step=hour")
    assert [b["kwh"] for b in doc["buckets"]] == [1.0, 2.0, 1.0, None]
    # Asia/Kolkata hours start at :30 UTC: (00:30, 02:30] is exactly two of them
    doc = kw.consumption("sp", "from=2025-01-06T00:30:00Z&to=2025-01-06T03:30:00Z&step=hour"
                               "&tz=Asia/Kolkata")
    assert [b["start"] for b in doc["buckets"]] == ["2025-01-06T06:00:00+05:30",
                                                   "2025-01-06T07:00:00+05:30",
                                                   "2025-01-06T08:00:00+05:30"]
    assert [b["kwh"] for b in doc["buckets"]] == [2.0, 2.0, None]


def _series(t0, n, step, seed):
    rnd = random.Random(seed)
    out, v = [], 1000.0
    for k in range(n):
        out.append((t0 + k * step, round(v, 4)))
        v += rnd.uniform(0.5, 3.0)
    return out


def _hourly(kw, serial, frm, to, tz="UTC"):
    return kw.consumption(serial, f"from={frm}&to={to}&step=hour&tz={tz}")["buckets"]


def test_counter_late_reading_days_late(kw):
    """A reading that arrives a week after its neighbours splits their segment:
    exactly the hours it touches change, and the day total stays."""
    kw.create_device(serial="late", reading_type="counter")
    t0 = ms("2025-01-01T00:00:00Z")
    rs = _series(t0, 12 * 10, 2 * H, seed="late")    # every 2 h for 10 days
    k = 12 * 2 + 6                                    # 2025-01-03T12:00Z
    t_late = rs[k][0] + 80 * MIN                      # 13:20, between 12:00 and 14:00
    v_late = round(rs[k][1] + 0.3 * (rs[k + 1][1] - rs[k][1]), 4)
    for i in range(0, len(rs), 24):
        kw.ingest([("late", t, v) for t, v in rs[i:i + 24]])
    edges = hour_edges("UTC", t0, t0 + 10 * 24 * H)
    before = [b["kwh"] for b in _hourly(kw, "late", "2025-01-01", "2025-01-10")]
    assert not approx_list(before, counter_model(edges, rs)[0].values())
    days_before = kw.consumption("late", "from=2025-01-01&to=2025-01-10&step=day")["buckets"]

    assert kw.ingest([("late", t_late, v_late)]) == {"accepted": 1, "duplicates": 0,
                                                     "conflicts": 0}
    after = [b["kwh"] for b in _hourly(kw, "late", "2025-01-01", "2025-01-10")]
    want = counter_model(edges, rs + [(t_late, v_late)])[0].values()
    assert not approx_list(after, want)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != pytest.approx(b)]
    h12 = edges.index(rs[k][0])
    assert changed == [h12, h12 + 1]
    a, b = v_late - rs[k][1], rs[k + 1][1] - v_late
    assert after[h12] == pytest.approx(a * 60 / 80)
    assert after[h12 + 1] == pytest.approx(a * 20 / 80 + b)
    days_after = kw.consumption("late", "from=2025-01-01&to=2025-01-10&step=day")["buckets"]
    assert not approx_list([x["kwh"] for x in days_after], [x["kwh"] for x in days_before])
    # the same answer through the raw path (Kolkata hours)
    kol = kw.consumption("late", "from=2025-01-02&to=2025-01-05&step=hour&tz=Asia/Kolkata")
    d0 = local_midnight("Asia/Kolkata", "2025-01-02")
    kedges = hour_edges("Asia/Kolkata", d0, local_midnight("Asia/Kolkata", "2025-01-06"))
    assert_buckets(kol, "Asia/Kolkata", kedges,
                   counter_model(kedges, rs + [(t_late, v_late)])[0].values())


def test_counter_out_of_order_batches_equal_in_order(kw):
    kw.create_device(serial="ord", reading_type="counter")
    kw.create_device(serial="shuf", reading_type="counter")
    t0 = ms("2025-02-01T00:00:00Z")
    rs = _series(t0 + 7 * MIN, 300, 37 * MIN, seed="shuffle")
    kw.ingest([("ord", t, v) for t, v in rs])
    shuffled = rs[:]
    random.Random(7).shuffle(shuffled)
    for i in range(0, len(shuffled), 50):   # late readings within and across batches
        kw.ingest([("shuf", t, v) for t, v in shuffled[i:i + 50]])
    edges = hour_edges("UTC", t0, t0 + 9 * 24 * H)
    want = counter_model(edges, rs)[0].values()
    for s in ("ord", "shuf"):
        got = [b["kwh"] for b in _hourly(kw, s, "2025-02-01", "2025-02-09")]
        assert not approx_list(got, want), s
    # the first reading arriving last, for a device whose earliest is late
    kw.create_device(serial="first-late", reading_type="counter")
    kw.ingest([("first-late", t, v) for t, v in rs[1:40]])
    kw.ingest([("first-late", rs[0][0], rs[0][1])])
    got = [b["kwh"] for b in _hourly(kw, "first-late", "2025-02-01", "2025-02-09")]
    assert not approx_list(got, counter_model(edges, rs[:40])[0].values())


def _flags(kw, serial, frm="2025-01-06", to="2025-01-07"):
    return [(x["timestamp"][11:16], x["value"], x["reset"]) for x in kw.readings(serial, frm, to)]


def test_counter_reset_counts_from_zero_and_is_flagged(kw):
    kw.create_device(serial="rst", reading_type="counter")
    kw.ingest([("rst", "2025-01-06T00:00:00Z", 100.0), ("rst", "2025-01-06T01:00:00Z", 110.0),
               ("rst", "2025-01-06T02:00:00Z", 3.0), ("rst", "2025-01-06T03:00:00Z", 8.0)])
    hours = _hourly(kw, "rst", "2025-01-06", "2025-01-06")
    assert [b["kwh"] for b in hours[:4]] == [10.0, 3.0, 5.0, None]
    assert _flags(kw, "rst") == [("00:00", 100.0, False), ("01:00", 110.0, False),
                                 ("02:00", 3.0, True), ("03:00", 8.0, False)]


def test_counter_late_reading_that_is_a_reset(kw):
    kw.create_device(serial="lr", reading_type="counter")
    kw.ingest([("lr", "2025-01-06T00:00:00Z", 10.0), ("lr", "2025-01-06T01:00:00Z", 20.0),
               ("lr", "2025-01-06T02:00:00Z", 30.0)])
    kw.ingest([("lr", "2025-01-06T01:30:00Z", 5.0)])     # lower than 20: a reset at 01:30
    hours = _hourly(kw, "lr", "2025-01-06", "2025-01-06")
    assert [b["kwh"] for b in hours[:3]] == [10.0, 30.0, None]    # 5 + (30 - 5)
    assert _flags(kw, "lr") == [("00:00", 10.0, False), ("01:00", 20.0, False),
                                ("01:30", 5.0, True), ("02:00", 30.0, False)]


def test_counter_late_reading_moves_a_reset(kw):
    # (an older reading of another device, so the neighbour is not the oldest one)
    kw.create_device(serial="older")
    kw.ingest([("older", "2025-01-01T00:17:00Z", 1.0)])
    kw.create_device(serial="mv", reading_type="counter")
    kw.ingest([("mv", "2025-01-06T00:00:00Z", 100.0), ("mv", "2025-01-06T02:00:00Z", 5.0)])
    assert _flags(kw, "mv")[1] == ("02:00", 5.0, True)
    assert [b["kwh"] for b in _hourly(kw, "mv", "2025-01-06", "2025-01-06")[:3]] == \
        [2.5, 2.5, None]
    # the reset really happened before 01:00; 02:00 is an ordinary reading now
    kw.ingest([("mv", "2025-01-06T01:00:00Z", 2.0)])
    assert _flags(kw, "mv") == [("00:00", 100.0, False), ("01:00", 2.0, True),
                                ("02:00", 5.0, False)]
    assert [b["kwh"] for b in _hourly(kw, "mv", "2025-01-06", "2025-01-06")[:3]] == \
        [2.0, 3.0, None]
    # and the counter goes on from the newest reading
    kw.ingest([("mv", "2025-01-06T03:00:00Z", 6.5)])
    assert [b["kwh"] for b in _hourly(kw, "mv", "2025-01-06", "2025-01-06")[:4]] == \
        [2.0, 3.0, 1.5, None]


def test_late_counter_reading_after_the_oldest_reading(kw):
    """Regression: the previous-neighbour walk once stopped at the hour of the
    oldest reading in the database, missing a reading stamped exactly on it."""
    kw.create_device(serial="mv", reading_type="counter")
    kw.ingest([("mv", "2025-01-06T00:00:00Z", 100.0), ("mv", "2025-01-06T02:00:00Z", 110.0)])
    kw.ingest([("mv", "2025-01-06T01:00:00Z", 104.0)])
    assert [b["kwh"] for b in _hourly(kw, "mv", "2025-01-06", "2025-01-06")[:3]] == \
        [4.0, 6.0, None]
    # the same with a reset that the late reading moves
    kw.create_device(serial="mv2", reading_type="counter")
    kw.ingest([("mv2", "2025-01-06T00:00:00Z", 100.0), ("mv2", "2025-01-06T02:00:00Z", 5.0)])
    kw.ingest([("mv2", "2025-01-06T01:00:00Z", 2.0)])
    assert _flags(kw, "mv2") == [("00:00", 100.0, False), ("01:00", 2.0, True),
                                 ("02:00", 5.0, False)]
    assert [b["kwh"] for b in _hourly(kw, "mv2", "2025-01-06", "2025-01-06")[:3]] == \
        [2.0, 3.0, None]


def test_raw_path_finds_the_oldest_reading_as_neighbour(kw):
    """The raw path (device hours that do not fit the question's zone) needs the
    counter reading before the range, here the oldest one in the database."""
    kw.create_device(serial="kr", reading_type="counter")    # UTC hours
    kw.ingest([("kr", "2025-01-06T00:00:00Z", 100.0), ("kr", "2025-01-06T01:00:00Z", 102.0),
               ("kr", "2025-01-06T02:00:00Z", 104.0)])
    doc = kw.consumption("kr", "from=2025-01-06T00:30:00Z&to=2025-01-06T02:30:00Z&step=hour"
                               "&tz=Asia/Kolkata")
    assert [b["start"] for b in doc["buckets"]] == ["2025-01-06T06:00:00+05:30",
                                                   "2025-01-06T07:00:00+05:30"]
    assert [b["kwh"] for b in doc["buckets"]] == [2.0, 1.0]


def test_counter_duplicate_and_conflict_change_nothing(kw):
    kw.create_device(serial="cd", reading_type="counter")
    kw.ingest([("cd", "2025-01-06T00:00:00Z", 1.0), ("cd", "2025-01-06T01:00:00Z", 3.0)])
    assert kw.ingest([("cd", "2025-01-06T01:00:00Z", 3.0),
                      ("cd", "2025-01-06T00:00:00Z", 0.5)]) == \
        {"accepted": 0, "duplicates": 1, "conflicts": 1}
    assert [b["kwh"] for b in _hourly(kw, "cd", "2025-01-06", "2025-01-06")[:2]] == [2.0, None]


# --- periods and query validation ------------------------------------------------

def test_periods(kw):
    kw.create_device(serial="per")
    kw.create_device(serial="per-kol", timezone="Asia/Kolkata")

    def ask(serial, q):
        """The answer, and the local dates before and after it was asked (a
        run across midnight may see either)."""
        tz = "Asia/Kolkata" if serial.endswith("kol") else "UTC"
        before = local_date(tz, now_ms())
        doc = kw.consumption(serial, q)
        return doc, {str(before), str(local_date(tz, now_ms()))}

    doc, today = ask("per", "period=current-day&step=hour")
    assert doc["from"][:10] in today and doc["from"].endswith("T00:00:00Z")
    assert len(doc["buckets"]) == 24
    assert doc["buckets"][-1]["complete"] is False
    doc = kw.consumption("per", "period=prev-hour&step=hour")
    assert len(doc["buckets"]) == 1 and doc["buckets"][0]["complete"] is True
    assert ms(doc["to"]) <= now_ms() and ms(doc["to"]) - ms(doc["from"]) == H
    assert ms(doc["from"]) % H == 0
    doc = kw.consumption("per", "period=current-week&step=day")
    assert len(doc["buckets"]) == 7
    assert date.fromisoformat(doc["from"][:10]).weekday() == 0   # Monday
    assert doc["buckets"][-1]["complete"] is False
    doc = kw.consumption("per", "period=prev-month&step=day")
    first = date.fromisoformat(doc["from"][:10])
    assert first.day == 1
    assert all(b["complete"] for b in doc["buckets"])
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    assert len(doc["buckets"]) == (nxt - first).days
    doc = kw.consumption("per", "period=current-month&step=month")
    assert len(doc["buckets"]) == 1 and doc["buckets"][0]["complete"] is False
    # in a zone: the local day
    doc, today = ask("per-kol", "period=current-day&step=hour")
    assert doc["from"][:10] in today and doc["from"].endswith("T00:00:00+05:30")
    assert doc["tz"] == "Asia/Kolkata"


@pytest.mark.parametrize("q,field", [
    ("from=2025-01-06&to=2025-01-06&step=week", "step"),
    ("from=2025-01-06&to=2025-01-06&tz=Europe/Nowhere", "tz"),
    ("from=2025-01-06&to=2025-01-06&tz=+05:30", "tz"),
    ("from=2025-01-07&to=2025-01-06", "to"),
    ("from=2025-01-06T01:00:00Z&to=2025-01-06T01:00:00Z", "to"),
    ("to=2025-01-06", "from"),
    ("from=2025-01-06", "to"),
    ("from=06-01-2025&to=2025-01-07", "from"),
    ("from=2025-02-30&to=2025-03-01", "from"),
    ("period=yesterday", "period"),
    ("from=2000-01-01&to=2025-01-01", "to"),               # more than ten years
])
def test_query_validation(kw, q, field):
    kw.create_device(serial="qv")
    r = kw.get(f"/api/v1/devices/qv/consumption?{q}")
    assert r.status == 400, (q, r)
    err = r.error()
    assert err["field"] == field, err


def test_too_many_buckets(kw):
    kw.create_device(serial="tm")
    r = kw.get("/api/v1/devices/tm/consumption?from=2020-01-01&to=2023-01-01&step=hour")
    assert r.status == 400
    assert (r.error()["code"], r.error()["field"]) == ("too_many_buckets", "step")
    assert kw.get("/api/v1/devices/tm/consumption?from=2020-01-01&to=2023-01-01&step=day"
                  ).status == 200
    assert kw.get("/api/v1/devices/nope/consumption?from=2020-01-01&to=2020-01-01"
                  ).status == 404


# --- totals while hours close (concurrency) ---------------------------------------

def test_totals_never_exceed_what_was_written_while_hours_close(kw):
    import http.client
    import json
    import threading
    ndev, n = 10, 300
    for i in range(ndev):
        kw.create_device(serial=f"c{i}", region="r")
    posted = [0]
    done = threading.Event()
    over = []

    def get(path):
        c = http.client.HTTPConnection("127.0.0.1", kw.port, timeout=60)
        try:
            c.request("GET", path, headers={"Authorization": "Bearer " + kw.admin})
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def reader():
        for _ in range(100000):       # bounded; ends with the writer
            if done.is_set():
                return
            reg = get("/api/v1/regions/consumption?from=2025-01-01&to=2025-03-01&step=month")
            dev = get("/api/v1/devices/c0/consumption?from=2025-01-01&to=2025-03-01"
                      "&step=month")
            bound = posted[0]         # readings per device sent so far (an upper bound)
            total = sum(x["total_kwh"] for x in reg["regions"])
            if total > bound * ndev + 1e-6 or dev["total_kwh"] > bound + 1e-6:
                over.append((bound, total, dev["total_kwh"]))

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        for k in range(n):            # each batch moves the newest reading an hour on
            posted[0] = k + 1
            kw.ingest([(f"c{i}", ms("2025-01-06T00:01:00Z") + k * H, 1.0) for i in range(ndev)])
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert over == [], f"{len(over)} answers counted more than was written: {over[:5]}"
    reg = get("/api/v1/regions/consumption?from=2025-01-01&to=2025-03-01&step=month")
    assert sum(x["total_kwh"] for x in reg["regions"]) == n * ndev


# --- recent data: hours still open (answered from the pending table) --------------

def test_recent_readings_in_open_and_closed_hours(kw):
    iv, ctr = recent_series("recent")
    for tz, suffix in (("UTC", "utc"), ("Asia/Kolkata", "kol")):
        kw.create_device(serial=f"iv-{suffix}", timezone=tz)
        kw.create_device(serial=f"ctr-{suffix}", timezone=tz, reading_type="counter")
    late = {5, 17, len(ctr) - 3}          # withheld, then sent after the rest
    body = [(f"{kind}-{s}", t, v) for i, ((t, a), (_, b)) in enumerate(zip(iv, ctr))
            if i not in late for s in ("utc", "kol") for kind, v in (("iv", a), ("ctr", b))]
    for i in range(0, len(body), 40):
        kw.ingest(body[i:i + 40])
    kw.ingest([(f"{kind}-{s}", series[i][0], series[i][1]) for i in sorted(late)
               for s in ("utc", "kol") for kind, series in (("iv", iv), ("ctr", ctr))])
    frm, to = iv[0][0] - 3 * H, iv[-1][0] + 3 * H
    for suffix, tz in (("utc", "UTC"), ("kol", "Asia/Kolkata")):
        compare_recent(kw, f"iv-{suffix}", tz, iv, False, frm, to)
        compare_recent(kw, f"ctr-{suffix}", tz, ctr, True, frm, to)
    # the raw path (UTC device, Kolkata hours) over open hours
    compare_recent(kw, "ctr-utc", "UTC", ctr, True, frm, to, query_tz="Asia/Kolkata")
    compare_recent(kw, "iv-utc", "UTC", iv, False, frm, to, query_tz="Asia/Kolkata")
    # days: the closed part from the daily table, the open hours added
    for serial, tz, rs, counter in (("ctr-kol", "Asia/Kolkata", ctr, True),
                                    ("iv-utc", "UTC", iv, False)):
        first, last = local_date(tz, frm), local_date(tz, to)
        doc = kw.consumption(serial, f"from={first}&to={last}&step=day")
        edges = day_edges(tz, first, last)
        model = counter_model(edges, rs)[0] if counter else interval_model(edges, rs)
        assert_buckets(doc, tz, edges, model.values())
