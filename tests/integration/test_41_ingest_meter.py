"""POST /meter: seed 002's meter packets (interval readings)."""
import pytest

from kwlib import load_meter_files

URL = "/meter"


def packet(ts, kwh, meter=999999999):
    return {"id": meter, "timestamp": ts, "reading_kWh": kwh}


@pytest.fixture
def meter(kw):
    kw.create_device(name="Aashima", serial="999999999")
    return kw


def values(kw, device="999999999"):
    return [(x["timestamp"], x["value"]) for x in kw.readings(device, "2025-02-01", "2025-03-01")]


def test_single_packet(meter):
    kw = meter
    r = kw.post(URL, json=packet("2025-02-08T00:31:00Z", 5.5))
    assert (r.status, r.json()) == (200, {"accepted": 1, "duplicates": 0, "conflicts": 0})
    assert values(kw) == [("2025-02-08T00:31:00Z", 5.5)]


def test_array_and_readings_object(meter):
    kw = meter
    r = kw.post(URL, json=[packet("2025-02-08T00:31:00Z", 1.0),
                           packet("2025-02-08T01:01:00Z", 2.0, meter="999999999")])
    assert r.json() == {"accepted": 2, "duplicates": 0, "conflicts": 0}
    r = kw.post(URL, json={"readings": [packet("2025-02-08T01:01:00Z", 2.0),
                                        packet("2025-02-08T01:31:00Z", 3.0)]})
    assert r.json() == {"accepted": 1, "duplicates": 1, "conflicts": 0}
    r = kw.post(URL, json={"readings": [packet("2025-02-08T01:31:00Z", 3.5)]})
    assert r.json() == {"accepted": 0, "duplicates": 0, "conflicts": 1}
    r = kw.post(URL, json={"readings": []})
    assert r.json() == {"accepted": 0, "duplicates": 0, "conflicts": 0}
    assert values(kw) == [("2025-02-08T00:31:00Z", 1.0), ("2025-02-08T01:01:00Z", 2.0),
                          ("2025-02-08T01:31:00Z", 3.0)]


def test_shipped_packet_files(kw):
    files = load_meter_files()
    assert len(files) >= 2
    ids = sorted({p["id"] for p in files[0][1]["readings"]})
    assert len(ids) == 53
    for i in ids:
        kw.create_device(name=f"meter {i}", serial=i)
    for name, doc in files:
        r = kw.post(URL, json=doc)
        assert r.status == 200, (name, r)
        assert r.json() == {"accepted": 53, "duplicates": 0, "conflicts": 0}, name
    # again: all duplicates
    r = kw.post(URL, json=files[1][1])
    assert r.json() == {"accepted": 0, "duplicates": 53, "conflicts": 0}
    got = kw.readings(str(ids[0]), "2025-02-08", "2025-02-08")
    want = sorted((p["timestamp"], p["reading_kWh"]) for _, doc in files
                  for p in doc["readings"] if p["id"] == ids[0])
    assert [(x["timestamp"], x["value"]) for x in got] == want


@pytest.mark.parametrize("bad,code,field", [
    (packet("2025-02-08T00:31:00Z", -1.0), "invalid_value", "reading_kWh"),
    (packet("2025-02-08T00:31:00Z", "1"), "invalid_value", "reading_kWh"),
    ({"id": 999999999, "timestamp": "2025-02-08T00:31:00Z"}, "missing_field", "reading_kWh"),
    ({"timestamp": "2025-02-08T00:31:00Z", "reading_kWh": 1}, "missing_field", "id"),
    ({"id": 999999999, "reading_kWh": 1}, "missing_field", "timestamp"),
    (dict(packet("2025-02-08T00:31:00Z", 1.0), kWh=1), "unknown_field", "kWh"),
    (packet("2025-02-08T00:31:00Z", 1.0, meter=123), "unknown_device", "id"),
    (packet("2025-02-08T00:31:00Z", 1.0, meter=-1), "invalid_value", "id"),
    (packet("1970-01-01T00:00:00Z", 1.0), "invalid_timestamp", "timestamp"),
    (packet("2025-02-08 00:31", 1.0), "invalid_value", "timestamp"),
])
def test_bad_packet_rejects_everything(meter, bad, code, field):
    kw = meter
    good = [packet("2025-02-08T00:31:00Z", 1.0), packet("2025-02-08T01:01:00Z", 2.0)]
    for body, index in (({"readings": good + [bad]}, 2), ([good[0], bad, good[1]], 1),
                        (bad, None)):
        r = kw.post(URL, json=body)
        assert r.status == 400, r
        err = r.error()
        assert (err["code"], err.get("field"), err.get("index")) == (code, field, index), err
    assert values(kw) == []


def test_unknown_meter_is_named(meter):
    r = meter.post(URL, json={"readings": [packet("2025-02-08T00:31:00Z", 1.0, meter=31337)]})
    err = r.error()
    assert (r.status, err["code"], err["field"], err["index"]) == \
        (400, "unknown_device", "id", 0)
    assert "31337" in err["message"]


def test_body_shapes(meter):
    kw = meter
    for body, code in (({"readings": [packet("2025-02-08T00:31:00Z", 1.0)], "extra": 1},
                        "invalid_body"),
                       ({"readings": 5}, "invalid_body"),
                       ([packet("2025-02-08T00:31:00Z", 1.0), "x"], "invalid_body")):
        r = kw.post(URL, json=body)
        assert (r.status, r.error()["code"]) == (400, code), (body, r)
    r = kw.post(URL, body='{"readings": [\n{"id": 1,\n "timestamp": }]}',
                content_type="application/json")
    err = r.error()
    assert (r.status, err["code"], err["line"]) == (400, "parse_error", 3)
    for ctype in (None, "text/plain"):
        r = kw.post(URL, body='{"id": 999999999, "timestamp": "2025-02-08T00:31:00Z", '
                              '"reading_kWh": 1}', content_type=ctype)
        assert (r.status, r.error()["code"]) == (415, "unsupported_media_type")
    assert values(kw) == []


def test_packets_are_interval_readings(meter):
    """A packet stamped t is energy used before t: the hour holding t - 1 ms."""
    kw = meter
    kw.post(URL, json=[packet("2025-02-08T00:31:00Z", 1.0),        # hour 00
                       packet("2025-02-08T01:00:00Z", 2.0),        # exactly 01:00 -> hour 00
                       packet("2025-02-08T01:00:00.001Z", 4.0),    # hour 01
                       packet("2025-02-08T02:00:00Z", 8.0),        # hour 01
                       packet("2025-02-09T00:00:00Z", 16.0)])      # hour 23 of the 8th
    c = kw.consumption("999999999", "from=2025-02-08&to=2025-02-08&step=hour")
    kwh = [b["kwh"] for b in c["buckets"]]
    assert len(kwh) == 24
    assert kwh[:3] == [3.0, 12.0, None]
    assert kwh[23] == 16.0
    assert all(k is None for k in kwh[3:23])
    assert c["total_kwh"] == 31.0
    days = kw.consumption("999999999", "from=2025-02-08&to=2025-02-09&step=day")
    assert [b["kwh"] for b in days["buckets"]] == [31.0, None]
