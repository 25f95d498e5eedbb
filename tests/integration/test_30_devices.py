"""/api/v1/devices: create, list, read, update, delete."""
import re

import pytest

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RFC3339_UTC_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
KEYS = {"id", "serial", "name", "description", "address", "region", "timezone",
        "max_hourly_kwh", "reading_type", "created_at", "has_claim_code", "owners"}


def test_create_minimal_defaults(kw):
    r = kw.post("/api/v1/devices", json={"name": "kitchen"})
    assert r.status == 201, r
    d = r.json()
    assert set(d) == KEYS
    assert UUID4.match(d["id"]), d["id"]
    assert RFC3339_UTC_MS.match(d["created_at"]), d["created_at"]
    assert {k: d[k] for k in KEYS - {"id", "created_at"}} == {
        "serial": None, "name": "kitchen", "description": "", "address": "", "region": "",
        "timezone": "UTC", "max_hourly_kwh": None, "reading_type": "interval",
        "has_claim_code": False, "owners": []}
    assert kw.get(f"/api/v1/devices/{d['id']}").json() == d


def test_create_all_fields(kw):
    body = {"name": "Main meter", "serial": "MM-1", "description": "basement",
            "address": "Rue de la Loi 16, Brussels", "region": "brussels",
            "timezone": "Europe/Brussels", "max_hourly_kwh": 12.5,
            "reading_type": "counter", "claim_code": "s3cret"}
    r = kw.post("/api/v1/devices", json=body)
    assert r.status == 201, r
    d = r.json()
    assert set(d) == KEYS  # the claim code itself is never shown
    for k in ("name", "serial", "description", "address", "region", "timezone",
              "max_hourly_kwh", "reading_type"):
        assert d[k] == body[k], k
    assert d["has_claim_code"] is True
    assert "s3cret" not in r.text
    # by serial and by id: the same device
    assert kw.get("/api/v1/devices/MM-1").json() == d
    assert kw.get(f"/api/v1/devices/{d['id']}").json() == d


def test_numeric_serial_becomes_a_string(kw):
    d = kw.create_device(name="m", serial=999999999)
    assert d["serial"] == "999999999"
    assert kw.get("/api/v1/devices/999999999").json()["id"] == d["id"]


@pytest.mark.parametrize("body,code,field", [
    ({"name": "x", "colour": "red"}, "unknown_field", "colour"),
    ({"serial": "no-name"}, "missing_field", "name"),
    ({"name": ""}, "invalid_value", "name"),
    ({"name": 42}, "invalid_value", "name"),
    ({"name": "x", "timezone": "Mars/Olympus"}, "invalid_value", "timezone"),
    ({"name": "x", "timezone": "../../etc/passwd"}, "invalid_value", "timezone"),
    ({"name": "x", "reading_type": "cumulative"}, "invalid_value", "reading_type"),
    ({"name": "x", "max_hourly_kwh": -0.5}, "invalid_value", "max_hourly_kwh"),
    ({"name": "x", "max_hourly_kwh": "5"}, "invalid_value", "max_hourly_kwh"),
    ({"name": "x", "serial": ""}, "invalid_value", "serial"),
    ({"name": "x", "serial": "5c2494a3-1b2c-4d5e-8f90-123456789abc"}, "invalid_value", "serial"),
    ({"name": "x", "serial": -3}, "invalid_value", "serial"),
    ({"name": "x", "description": None}, "invalid_value", "description"),
    ({"name": "x", "region": "r" * 201}, "invalid_value", "region"),
    ({"name": "x", "description": "d" * 1001}, "invalid_value", "description"),
])
def test_create_rejects_bad_fields(kw, body, code, field):
    r = kw.post("/api/v1/devices", json=body)
    assert r.status == 400, r
    err = r.error()
    assert (err["code"], err["field"]) == (code, field), err
    assert kw.get("/api/v1/devices").json()["devices"] == []


def test_create_rejects_bad_json(kw):
    r = kw.post("/api/v1/devices", body='{"name": "x",\n "serial": }',
                content_type="application/json")
    assert r.status == 400
    err = r.error()
    assert err["code"] == "parse_error"
    assert err["line"] == 2
    r = kw.post("/api/v1/devices", json=[{"name": "x"}])
    assert (r.status, r.error()["code"]) == (400, "invalid_body")
    r = kw.post("/api/v1/devices", body='{"name": "a", "name": "b"}',
                content_type="application/json")
    assert (r.status, r.error()["code"]) == (400, "parse_error")
    assert kw.get("/api/v1/devices").json()["devices"] == []


def test_duplicate_serial_is_409(kw):
    first = kw.create_device(name="a", serial="S-1")
    r = kw.post("/api/v1/devices", json={"name": "b", "serial": "S-1"})
    assert r.status == 409, r
    err = r.error()
    assert (err["code"], err["field"]) == ("conflict", "serial")
    devices = kw.get("/api/v1/devices").json()["devices"]
    assert devices == [first]


def test_get_missing_is_404(kw):
    for key in ("nope", "5c2494a3-1b2c-4d5e-8f90-123456789abc"):
        r = kw.get(f"/api/v1/devices/{key}")
        assert r.status == 404, r
        assert r.error()["code"] == "not_found"
    assert kw.patch("/api/v1/devices/nope", json={"name": "x"}).status == 404
    assert kw.delete("/api/v1/devices/nope").status == 404


def test_list_paging(kw):
    made = [kw.create_device(name=f"dev {i}", serial=f"p{i}") for i in range(7)]
    got, cursor, pages = [], None, 0
    for _ in range(10):
        path = "/api/v1/devices?limit=3" + (f"&cursor={cursor}" if cursor else "")
        r = kw.get(path)
        assert r.status == 200, r
        doc = r.json()
        assert set(doc) == {"devices", "next_cursor"}
        got += doc["devices"]
        pages += 1
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert got == made  # creation order, each once
    doc = kw.get("/api/v1/devices").json()
    assert doc == {"devices": made, "next_cursor": None}


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc"])
def test_list_bad_limit(kw, limit):
    r = kw.get(f"/api/v1/devices?limit={limit}")
    assert r.status == 400, r
    assert r.error()["field"] == "limit"


def test_list_filter_q(kw):
    a = kw.create_device(name="Kitchen Meter", serial="K-100", region="north")
    b = kw.create_device(name="garage", serial="G-200", region="South")
    c = kw.create_device(name="attic", serial="A-300", region="north")

    def q(text):
        return kw.get(f"/api/v1/devices?q={text}").json()["devices"]
    assert q("kitchen") == [a]          # name, case-insensitive
    assert q("g-2") == [b]              # serial
    assert q("NORTH") == [a, c]         # region
    assert q("south") == [b]
    assert q("zzz") == []


def test_patch_updates_fields(kw):
    d = kw.create_device(name="old", serial="pt-1", max_hourly_kwh=3)
    r = kw.patch("/api/v1/devices/pt-1", json={
        "name": "new", "description": "desc", "address": "addr", "region": "west",
        "max_hourly_kwh": None, "claim_code": "abc"})
    assert r.status == 200, r
    want = dict(d, name="new", description="desc", address="addr", region="west",
                max_hourly_kwh=None, has_claim_code=True)
    assert r.json() == want
    assert kw.get(f"/api/v1/devices/{d['id']}").json() == want
    # the claim code can be cleared again
    assert kw.patch("/api/v1/devices/pt-1", json={"claim_code": None}).json()[
        "has_claim_code"] is False


def test_patch_serial_moves_the_lookup_key(kw):
    d = kw.create_device(name="m", serial="old-serial")
    r = kw.patch(f"/api/v1/devices/{d['id']}", json={"serial": "new-serial"})
    assert r.status == 200 and r.json()["serial"] == "new-serial", r
    assert kw.get("/api/v1/devices/old-serial").status == 404
    assert kw.get("/api/v1/devices/new-serial").json()["id"] == d["id"]
    # ingest follows the new serial
    r = kw.post("/api/v1/measurements", json={"timestamp": "2025-01-06T01:00:00Z",
                                              "device_id": "old-serial",
                                              "measurement_value": 1})
    assert (r.status, r.error()["code"]) == (400, "unknown_device")
    assert kw.ingest([("new-serial", "2025-01-06T01:00:00Z", 1)])["accepted"] == 1
    # and a serial can be removed
    r = kw.patch("/api/v1/devices/new-serial", json={"serial": None})
    assert r.status == 200 and r.json()["serial"] is None
    assert kw.get("/api/v1/devices/new-serial").status == 404


def test_patch_serial_conflict_is_409_and_changes_nothing(kw):
    kw.create_device(name="a", serial="A")
    b = kw.create_device(name="b", serial="B")
    r = kw.patch("/api/v1/devices/B", json={"serial": "A", "name": "renamed"})
    assert r.status == 409, r
    assert r.error()["code"] == "conflict"
    assert kw.get("/api/v1/devices/B").json() == b
    assert kw.get("/api/v1/devices/A").json()["name"] == "a"


@pytest.mark.parametrize("field,value", [("timezone", "Europe/Brussels"),
                                         ("timezone", "UTC"),
                                         ("reading_type", "counter"),
                                         ("reading_type", "interval")])
def test_patch_immutable_fields(kw, field, value):
    d = kw.create_device(name="m", serial="imm")
    r = kw.patch("/api/v1/devices/imm", json={"name": "changed", field: value})
    assert r.status == 400, r
    err = r.error()
    assert (err["code"], err["field"]) == ("immutable", field)
    assert kw.get("/api/v1/devices/imm").json() == d  # all or nothing


def test_patch_bad_input(kw):
    d = kw.create_device(name="m", serial="pb")
    for body, code, field in (({"colour": 1}, "unknown_field", "colour"),
                              ({"name": ""}, "invalid_value", "name"),
                              ({"max_hourly_kwh": -1}, "invalid_value", "max_hourly_kwh")):
        r = kw.patch("/api/v1/devices/pb", json=body)
        assert r.status == 400, r
        assert (r.error()["code"], r.error()["field"]) == (code, field)
    r = kw.patch("/api/v1/devices/pb", body="[1]", content_type="application/json")
    assert (r.status, r.error()["code"]) == (400, "invalid_body")
    assert kw.get("/api/v1/devices/pb").json() == d


def test_delete_removes_device_and_readings(kw):
    d = kw.create_device(name="gone", serial="del-1")
    keep = kw.create_device(name="stays", serial="keep-1")
    kw.ingest([("del-1", "2025-01-06T00:30:00Z", 1.0), ("del-1", "2025-01-06T01:30:00Z", 2.0),
               ("keep-1", "2025-01-06T00:30:00Z", 4.0)])
    r = kw.delete("/api/v1/devices/del-1")
    assert (r.status, r.body) == (204, b"")
    assert kw.get("/api/v1/devices/del-1").status == 404
    assert kw.get(f"/api/v1/devices/{d['id']}").status == 404
    assert kw.delete("/api/v1/devices/del-1").status == 404
    assert kw.get("/api/v1/devices").json()["devices"] == [keep]
    # writing to it now names the unknown device
    r = kw.post("/api/v1/measurements", json={"timestamp": "2025-01-06T02:30:00Z",
                                              "device_id": "del-1", "measurement_value": 1})
    assert (r.status, r.error()["code"]) == (400, "unknown_device")
    # a new device with the same serial starts empty
    kw.create_device(name="again", serial="del-1")
    assert kw.readings("del-1", "2025-01-01", "2025-02-01") == []
    c = kw.consumption("del-1", "from=2025-01-06&to=2025-01-06&step=day")
    assert c["buckets"][0]["kwh"] is None and c["total_kwh"] == 0
    # the other device kept its data
    assert kw.consumption("keep-1", "from=2025-01-06&to=2025-01-06&step=day")["total_kwh"] == 4.0
    r = kw.get("/api/v1/regions/consumption?from=2025-01-06&to=2025-01-06")
    assert r.json()["regions"][0]["total_kwh"] == 4.0


def test_devices_survive_restart(kw):
    a = kw.create_device(name="a", serial="r-a", timezone="Asia/Kolkata",
                         reading_type="counter", region="south", max_hourly_kwh=1.25)
    b = kw.create_device(name="b")
    kw.patch("/api/v1/devices/r-a", json={"description": "after patch"})
    a["description"] = "after patch"
    kw.delete(f"/api/v1/devices/{b['id']}")
    kw.restart()
    assert kw.get("/api/v1/devices").json() == {"devices": [a], "next_cursor": None}
    assert kw.get("/api/v1/devices/r-a").json() == a


def test_new_counter_device_does_not_inherit_deleted_devices_state(kw):
    kw.create_device(name="old", serial="ctr-old", reading_type="counter")
    kw.ingest([("ctr-old", "2025-01-01T00:00:00Z", 100.0),
               ("ctr-old", "2025-01-01T01:00:00Z", 110.0)])
    assert kw.delete("/api/v1/devices/ctr-old").status == 204
    kw.create_device(name="new", serial="ctr-new", reading_type="counter")
    kw.ingest([("ctr-new", "2025-01-01T02:00:00Z", 5.0),
               ("ctr-new", "2025-01-01T03:00:00Z", 7.0)])
    got = kw.readings("ctr-new", "2025-01-01", "2025-01-01")
    assert [x["reset"] for x in got] == [False, False]
    c = kw.consumption("ctr-new", "from=2025-01-01&to=2025-01-01&step=day")
    assert c["total_kwh"] == 2.0  # 7 - 5: the first reading of a new counter has no energy


def test_new_device_does_not_inherit_deleted_devices_open_hours(kw):
    from kwlib import H, MIN, iso, now_ms
    now = now_ms()
    t = now - now % MIN - 5 * MIN           # recent: its hour is still open
    kw.create_device(name="old", serial="open-old", region="r")
    kw.ingest([("open-old", t, 5.0)])
    assert kw.delete("/api/v1/devices/open-old").status == 204
    kw.create_device(name="new", serial="open-new", region="r")
    q = f"from={iso(t - 2 * H)}&to={iso(t + 2 * H)}&step=hour"
    assert all(b["kwh"] is None for b in kw.consumption("open-new", q)["buckets"])
    day = iso(t)[:10]
    reg = kw.get(f"/api/v1/regions/consumption?from={day}&to={day}").json()
    assert reg["regions"][0]["total_kwh"] == 0
