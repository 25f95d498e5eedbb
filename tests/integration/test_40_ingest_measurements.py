"""POST /api/v1/measurements: seed 000's JSON messages."""
import pytest

from kwlib import iso, ms, now_ms

URL = "/api/v1/measurements"
T = 1736121600000  # 2025-01-06T00:00:00Z


@pytest.fixture
def dev(kw):
    d = kw.create_device(name="meter", serial="M1")
    return kw, d


def reading(ts, value, device="M1"):
    return {"timestamp": ts, "device_id": device, "measurement_value": value}


def stored(kw, device="M1", frm="2025-01-01", to="2025-02-01"):
    return [(x["timestamp_ms"], x["value"]) for x in kw.readings(device, frm, to)]


def test_single_object(dev):
    kw, d = dev
    r = kw.post(URL, json=reading(T + 1800000, 0.25))
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    assert r.json() == {"accepted": 1, "duplicates": 0, "conflicts": 0}
    doc = kw.get("/api/v1/devices/M1/readings?from=2025-01-06&to=2025-01-06").json()
    assert set(doc) == {"device", "readings", "next_cursor"}
    assert doc["next_cursor"] is None
    assert doc["readings"] == [
        {"timestamp": "2025-01-06T00:30:00Z", "timestamp_ms": T + 1800000, "channel": "kwh",
         "value": 0.25, "reset": False}]


def test_readings_names_the_device_by_its_id_whatever_the_path_used(dev):
    kw, d = dev
    kw.ingest([("M1", T + 60000, 1.0)])
    for key in ("M1", d["id"]):
        doc = kw.get(f"/api/v1/devices/{key}/readings?from=2025-01-06&to=2025-01-06").json()
        assert doc["device"] == d["id"]


def test_array_with_every_timestamp_form_and_device_key(dev):
    kw, d = dev
    body = [reading(T, 1.0),                                       # epoch ms
            reading("2025-01-06T00:10:00Z", 2.0),                  # RFC 3339 UTC
            reading("2025-01-06T01:20:00+01:00", 3.0),             # with offset
            reading("2025-01-06T00:30:00.250Z", 4.0),              # with fraction
            reading("2025-01-06t00:40:00.123456789z", 5.0),        # lower case, ns
            reading(T + 3000000.0, 6.0),                           # whole float
            reading(T + 3600000, 7.0, device=d["id"])]             # by UUID
    r = kw.post(URL, json=body)
    assert r.status == 200, r
    assert r.json() == {"accepted": 7, "duplicates": 0, "conflicts": 0}
    assert stored(kw) == [(T, 1.0), (T + 600000, 2.0), (T + 1200000, 3.0),
                          (T + 1800250, 4.0), (T + 2400123, 5.0), (T + 3000000, 6.0),
                          (T + 3600000, 7.0)]
    got = kw.readings("M1", "2025-01-06", "2025-01-06")
    assert got[3]["timestamp"] == "2025-01-06T00:30:00.250Z"


def test_numeric_device_id_is_a_serial(kw):
    kw.create_device(name="n", serial="555555555")
    r = kw.post(URL, json=reading(T, 1.5, device=555555555))
    assert r.status == 200 and r.json()["accepted"] == 1, r
    assert stored(kw, "555555555") == [(T, 1.5)]


def test_empty_array_stores_nothing(dev):
    kw, _ = dev
    r = kw.post(URL, json=[])
    assert (r.status, r.json()) == (200, {"accepted": 0, "duplicates": 0, "conflicts": 0})


def test_duplicates_and_conflicts(dev):
    kw, _ = dev
    assert kw.post(URL, json=[reading(T, 1.0), reading(T + 600000, 2.0)]).json() == \
        {"accepted": 2, "duplicates": 0, "conflicts": 0}
    # the same readings again change nothing
    assert kw.post(URL, json=[reading(T, 1.0), reading(T + 600000, 2.0)]).json() == \
        {"accepted": 0, "duplicates": 2, "conflicts": 0}
    # a different value for a stored key: the first value is kept
    r = kw.post(URL, json=[reading(T, 1.5), reading(T + 600000, 2.0),
                           reading(T + 1200000, 3.0)])
    assert r.json() == {"accepted": 1, "duplicates": 1, "conflicts": 1}
    assert stored(kw) == [(T, 1.0), (T + 600000, 2.0), (T + 1200000, 3.0)]
    # the same instant written as an RFC 3339 string is the same key
    assert kw.post(URL, json=reading(iso(T), 1.0)).json() == \
        {"accepted": 0, "duplicates": 1, "conflicts": 0}
    # energy counted once
    c = kw.consumption("M1", "from=2025-01-05&to=2025-01-06&step=day")
    assert [b["kwh"] for b in c["buckets"]] == [1.0, 5.0]


def test_repeats_inside_one_request(dev):
    kw, _ = dev
    r = kw.post(URL, json=[reading(T, 1.0), reading(T, 1.0), reading(T, 2.0)])
    assert r.json() == {"accepted": 1, "duplicates": 1, "conflicts": 1}
    assert stored(kw) == [(T, 1.0)]


def _assert_rejected(kw, body, status, code, field=None, index=None, line=None, raw=False):
    r = (kw.post(URL, body=body, content_type="application/json") if raw
         else kw.post(URL, json=body))
    assert r.status == status, r
    err = r.error()
    assert err["code"] == code, err
    assert err.get("field") == field, err
    assert err.get("index") == index, err
    assert err.get("line") == line, err
    assert isinstance(err["message"], str) and err["message"]
    return err


@pytest.mark.parametrize("bad,code,field", [
    (reading(T, -0.001), "invalid_value", "measurement_value"),
    (reading(T, "1.5"), "invalid_value", "measurement_value"),
    (reading(T, None), "invalid_value", "measurement_value"),
    ({"timestamp": T, "device_id": "M1"}, "missing_field", "measurement_value"),
    ({"device_id": "M1", "measurement_value": 1}, "missing_field", "timestamp"),
    ({"timestamp": T, "measurement_value": 1}, "missing_field", "device_id"),
    (dict(reading(T, 1), measurment_value=1), "unknown_field", "measurment_value"),
    (reading("2025-01-06", 1), "invalid_value", "timestamp"),
    (reading("2025-13-06T00:00:00Z", 1), "invalid_value", "timestamp"),
    (reading("2025-01-06T00:00:00", 1), "invalid_value", "timestamp"),
    (reading(T + 0.5, 1), "invalid_value", "timestamp"),
    (reading(1e300, 1), "invalid_value", "timestamp"),
    (reading(946684799999, 1), "invalid_timestamp", "timestamp"),
    (reading("1999-12-31T23:59:59Z", 1), "invalid_timestamp", "timestamp"),
    (reading(-5, 1), "invalid_timestamp", "timestamp"),
    (reading(T, 1, device=""), "invalid_value", "device_id"),
    (reading(T, 1, device=["M1"]), "invalid_value", "device_id"),
])
def test_bad_reading_rejects_the_whole_batch(dev, bad, code, field):
    kw, _ = dev
    body = [reading(T, 1.0), reading(T + 600000, 2.0), bad, reading(T + 1800000, 3.0)]
    _assert_rejected(kw, body, 400, code, field=field, index=2)
    # alone, as a single object, it has no index
    _assert_rejected(kw, bad, 400, code, field=field)
    assert stored(kw) == []
    c = kw.consumption("M1", "from=2025-01-06&to=2025-01-06&step=day")
    assert (c["buckets"][0]["kwh"], c["total_kwh"]) == (None, 0)


def test_year_2000_is_the_earliest_timestamp(dev):
    kw, _ = dev
    r = kw.post(URL, json=reading("2000-01-01T00:00:00Z", 1))
    assert r.status == 200 and r.json()["accepted"] == 1, r


def test_future_timestamps(dev):
    kw, _ = dev
    now = now_ms()
    soon = now + 3600 * 1000            # an hour ahead: within the default 1d
    far = now + 2 * 86400 * 1000        # two days ahead
    assert kw.post(URL, json=reading(soon, 1)).status == 200
    _assert_rejected(kw, [reading(T, 1), reading(far, 1)], 400, "invalid_timestamp",
                     field="timestamp", index=1)
    assert [t for t, _ in stored(kw, frm=iso(now - 86400000), to=iso(now + 3 * 86400000))] \
        == [soon]


@pytest.mark.kw_env(INGEST_MAX_FUTURE="10m")
def test_max_future_setting(kw):
    kw.create_device(serial="M1")
    now = now_ms()
    assert kw.post(URL, json=reading(now + 5 * 60000, 1)).status == 200
    _assert_rejected(kw, reading(now + 3600000, 1), 400, "invalid_timestamp", field="timestamp")


def test_non_finite_numbers_cannot_pass(dev):
    kw, _ = dev
    # JSON has no NaN; a literal is malformed JSON
    _assert_rejected(kw, '{"timestamp": %d, "device_id": "M1", "measurement_value": NaN}' % T,
                     400, "parse_error", line=1, raw=True)
    _assert_rejected(kw, '[{"timestamp": %d, "device_id": "M1", "measurement_value": Infinity}]'
                     % T, 400, "parse_error", line=1, raw=True)
    # 1e999 overflows a double: refused, never stored as infinity
    err = _assert_rejected(kw, '{"timestamp": %d, "device_id": "M1", "measurement_value": 1e999}'
                           % T, 400, "parse_error", line=1, raw=True)
    assert "1e999" in err["message"]
    _assert_rejected(kw, '{"timestamp": %d, "device_id": "M1", "measurement_value": -1e999}'
                     % T, 400, "parse_error", line=1, raw=True)
    assert stored(kw) == []


def test_malformed_json_names_the_line(dev):
    kw, _ = dev
    body = ('[\n  {"timestamp": %d, "device_id": "M1", "measurement_value": 1},\n'
            '  {"timestamp": %d, "device_id": "M1" "measurement_value": 2}\n]\n') % (T, T + 1)
    err = _assert_rejected(kw, body, 400, "parse_error", line=3, raw=True)
    assert "line 3" in err["message"]
    _assert_rejected(kw, "", 400, "parse_error", line=1, raw=True)
    _assert_rejected(kw, '{"timestamp": 1, "timestamp": 2}', 400, "parse_error", line=1, raw=True)
    assert stored(kw) == []


def test_body_shapes(dev):
    kw, _ = dev
    _assert_rejected(kw, [reading(T, 1), 5], 400, "invalid_body", index=1)
    _assert_rejected(kw, "7", 400, "parse_error", line=1, raw=True)
    _assert_rejected(kw, {"readings": [reading(T, 1)]}, 400, "unknown_field", field="readings")
    assert stored(kw) == []


def test_unknown_device_is_named(dev):
    kw, _ = dev
    err = _assert_rejected(kw, [reading(T, 1), reading(T, 1, device="ghost-7")], 400,
                           "unknown_device", field="device_id", index=1)
    assert "ghost-7" in err["message"]
    assert stored(kw) == []
    assert kw.get("/api/v1/devices/ghost-7").status == 404


@pytest.mark.kw_env(INGEST_AUTO_CREATE_DEVICES="true")
def test_auto_create_devices(kw):
    r = kw.post(URL, json=[reading(T, 1.0, device="auto-1"), reading(T, 2.0, device=4242),
                           reading(T + 600000, 3.0, device="auto-1")])
    assert r.json() == {"accepted": 3, "duplicates": 0, "conflicts": 0}, r
    d = kw.get("/api/v1/devices/auto-1").json()
    assert (d["name"], d["serial"], d["reading_type"], d["timezone"]) == \
        ("auto-1", "auto-1", "interval", "UTC")
    assert kw.get("/api/v1/devices/4242").json()["serial"] == "4242"
    # a UUID-shaped key becomes the new device's id (seed 000's simulators)
    uid = "5c2494a3-1b2c-4d5e-8f90-123456789abc"
    r = kw.post(URL, json=reading(T, 1.0, device=uid))
    assert r.json()["accepted"] == 1, r
    d = kw.get(f"/api/v1/devices/{uid}").json()
    assert (d["id"], d["serial"], d["reading_type"]) == (uid, None, "interval")
    # keys longer than a serial may be are refused, not created
    r = kw.post(URL, json=reading(T, 1.0, device="k" * 65))
    assert (r.status, r.error()["code"]) == (400, "unknown_device")
    assert stored(kw, "auto-1") == [(T, 1.0), (T + 600000, 3.0)]
    # a rejected batch creates no device
    r = kw.post(URL, json=[reading(T, 1.0, device="auto-2"), reading(T, -1.0, device="auto-1")])
    assert r.status == 400
    assert kw.get("/api/v1/devices/auto-2").status == 404
    assert len(kw.get("/api/v1/devices").json()["devices"]) == 3


@pytest.mark.parametrize("ctype,status", [
    (None, 415), ("text/plain", 415), ("application/x-www-form-urlencoded", 415),
    ("application/jsonp", 415), ("application/json; charset=utf-8", 200),
    ("application/json", 200)])
def test_content_type(dev, ctype, status):
    kw, _ = dev
    r = kw.post(URL, body='{"timestamp": %d, "device_id": "M1", "measurement_value": 1}' % T,
                content_type=ctype)
    assert r.status == status, r
    if status == 415:
        err = r.error()
        assert (err["code"], err["field"]) == ("unsupported_media_type", "Content-Type")
        assert stored(kw) == []
    else:
        assert stored(kw) == [(T, 1.0)]


def test_ingest_answers_after_commit(dev):
    """An acknowledged reading is visible to the very next query."""
    kw, _ = dev
    for i in range(20):
        t = T + i * 600000
        assert kw.post(URL, json=reading(t, 0.5)).json()["accepted"] == 1
        got = kw.readings("M1", iso(t), iso(t + 1))
        assert [x["timestamp_ms"] for x in got] == [t]
    c = kw.consumption("M1", "from=2025-01-05&to=2025-01-06&step=day")
    # the reading at exactly midnight belongs to the day before
    assert [b["kwh"] for b in c["buckets"]] == [0.5, pytest.approx(9.5)]


def test_readings_paging_and_range(dev):
    kw, _ = dev
    kw.post(URL, json=[reading(T + i * 60000, float(i)) for i in range(25)])
    pages, cursor, seen = 0, None, []
    for _ in range(10):
        q = "from=2025-01-06&to=2025-01-06&limit=10" + (f"&cursor={cursor}" if cursor else "")
        doc = kw.get(f"/api/v1/devices/M1/readings?{q}").json()
        seen += [x["value"] for x in doc["readings"]]
        pages += 1
        cursor = doc["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert seen == [float(i) for i in range(25)]
    # [from, to) for instants
    got = kw.readings("M1", iso(T + 60000), iso(T + 180000))
    assert [x["value"] for x in got] == [1.0, 2.0]
    for q, field in (("from=2025-01-06&to=2025-01-06&limit=0", "limit"),
                     ("from=2025-01-06&to=2025-01-06&limit=10001", "limit"),
                     ("from=2025-01-06&to=2025-01-06&cursor=abc", "cursor"),
                     ("from=2025-01-06&to=2025-01-06&channel=nope", "channel"),
                     ("to=2025-01-06", "from"),
                     ("from=2025-01-07&to=2025-01-06", "to"),
                     ("from=yesterday&to=2025-01-06", "from")):
        r = kw.get(f"/api/v1/devices/M1/readings?{q}")
        assert r.status == 400, (q, r)
        assert r.error()["field"] == field, (q, r)
    assert kw.get("/api/v1/devices/none/readings?from=2025-01-06&to=2025-01-06").status == 404


def test_timestamps_with_offsets_are_instants(dev):
    kw, _ = dev
    kw.post(URL, json=[reading("2025-01-06T05:30:00+05:30", 1.0)])
    assert stored(kw) == [(T, 1.0)]
    assert ms("2025-01-06T05:30:00+05:30") == T


@pytest.mark.kw_env(STORAGE_QUEUE_MAX_ROWS="1000")
def test_batch_larger_than_the_queue_is_413(kw):
    kw.create_device(serial="M1")
    r = kw.post(URL, json=[reading(T + i, 0.001) for i in range(1, 1002)])
    assert r.status == 413, r
    assert r.error()["code"] == "too_large"
    assert stored(kw) == []
    r = kw.post(URL, json=[reading(T + i, 0.001) for i in range(1, 1001)])
    assert r.json()["accepted"] == 1000
