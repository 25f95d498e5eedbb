"""The web app's delivery (api_web.c) and the API fields made for it: device
owners, a device's last reading, and a region's devices ranked.

The pages themselves are tested in a browser (tests/web/)."""
import gzip
import re
import urllib.parse

import pytest

from kwlib import iso, ms, now_ms

PAGES = ["/", "/login", "/app", "/app/devices/abc", "/admin", "/admin/users/3"]


def _asset_paths(kw):
    page = kw.get("/", token=None).text
    return re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)


@pytest.mark.parametrize("path", PAGES)
def test_app_pages_are_index_html_never_cached(kw, path):
    r = kw.get(path, token=None)
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.header("Cache-Control") == "no-store"
    assert b'<script type="module" src="/assets/main-' in r.body
    assert "default-src 'self'" in r.header("Content-Security-Policy")


def test_unknown_paths_stay_json_404(kw):
    for path in ["/nope", "/apps", "/administrator", "/assets", "/api/v1/nope"]:
        r = kw.get(path, token=None)
        assert r.status == 404, (path, r)
        assert r.error()["code"] == "not_found"


def test_assets_are_hashed_immutable_with_etag_and_gzip(kw):
    paths = _asset_paths(kw)
    assert any(p.endswith(".js") for p in paths) and any(p.endswith(".css") for p in paths)
    for p in paths:
        assert re.search(r"-[A-Z0-9]{8}\.(js|css)$", p), p
        plain = kw.get(p, token=None)
        assert plain.status == 200
        assert plain.header("Cache-Control") == "public, max-age=31536000, immutable"
        assert plain.header("Content-Encoding") is None
        etag = plain.header("ETag")
        assert re.fullmatch(r'"[0-9a-f]{20}"', etag)
        assert plain.header("Content-Type").startswith(
            "text/javascript" if p.endswith(".js") else "text/css")
        z = kw.get(p, token=None, headers={"Accept-Encoding": "gzip, br"})
        assert z.header("Content-Encoding") == "gzip"
        assert z.header("Vary") == "Accept-Encoding"
        assert gzip.decompress(z.body) == plain.body
        assert len(z.body) < len(plain.body)
        again = kw.get(p, token=None, headers={"If-None-Match": etag})
        assert again.status == 304 and again.body == b""
        assert kw.get(p, token=None, headers={"If-None-Match": '"other"'}).status == 200


def test_asset_names_that_are_not_files(kw):
    for p in ["/assets/nope.js", "/assets/.hidden", "/assets/..%2Fkilowatt.db",
              "/assets/x/y.js"]:
        assert kw.get(p, token=None).status == 404, p


def test_web_root_serves_from_disk_uncached(kw_factory, tmp_path):
    root = tmp_path / "web"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><p>dev build</p>")
    (root / "assets" / "app-DEV.js").write_text("console.log('dev')")
    (tmp_path / "secret.txt").write_text("not for the web")
    d = kw_factory(args=("--web-root", str(root)))
    r = d.get("/admin/users", token=None)
    assert (r.status, r.body) == (200, b"<!doctype html><p>dev build</p>")
    a = d.get("/assets/app-DEV.js", token=None)
    assert a.status == 200 and a.body == b"console.log('dev')"
    assert a.header("Content-Type") == "text/javascript; charset=utf-8"
    assert a.header("Cache-Control") == "no-store"
    (root / "assets" / "app-DEV.js").write_text("console.log('rebuilt')")
    assert d.get("/assets/app-DEV.js", token=None).body == b"console.log('rebuilt')"
    assert d.get("/assets/..%2F..%2Fsecret.txt", token=None).status == 404
    assert d.get("/assets/missing.js", token=None).status == 404


# --- API fields for the web app ----------------------------------------------------

def test_admin_device_answers_name_their_owners(fresh):
    kw = fresh()
    dev = kw.post("/api/v1/devices", json={"name": "Kitchen", "serial": "OWN-1"}).json()
    assert dev["owners"] == []
    a, _ = kw.create_user(name="Ann", email="ann@example.com")
    b, _ = kw.create_user(name="Bob", email="bob@example.com")
    kw.map(a["id"], "OWN-1")
    kw.map(b["id"], "OWN-1")
    want = [{"id": a["id"], "name": "Ann", "email": "ann@example.com"},
            {"id": b["id"], "name": "Bob", "email": "bob@example.com"}]
    assert kw.get("/api/v1/devices/OWN-1").json()["owners"] == want
    listed = [d for d in kw.get("/api/v1/devices").json()["devices"] if d["serial"] == "OWN-1"]
    assert listed[0]["owners"] == want
    patched = kw.patch("/api/v1/devices/OWN-1", json={"region": "north"}).json()
    assert patched["owners"] == want
    # A client sees its device, but not who else owns it.
    s = kw.person()
    kw.map(s.id, "OWN-1")
    mine = s.get("/api/v1/devices/OWN-1").json()
    assert "owners" not in mine and mine["serial"] == "OWN-1"
    assert all("owners" not in d for d in s.get("/api/v1/devices").json()["devices"])


def test_consumption_names_the_last_reading(kw):
    kw.post("/api/v1/devices", json={"name": "m", "serial": "LAST-1",
                                     "timezone": "Europe/Brussels"})
    day = "/api/v1/devices/LAST-1/consumption?from=2025-03-01&to=2025-03-01"
    assert kw.get(day).json()["last_reading_at"] is None
    t = ms("2025-02-28T23:10:00Z")  # 00:10 in Brussels
    later = now_ms() - 3600_000
    for ts in (t, later, t + 600_000):   # the newest is not the last sent
        assert kw.post("/api/v1/measurements", json={"timestamp": ts, "device_id": "LAST-1",
                                                     "measurement_value": 0.5}).status == 200
    doc = kw.get(day).json()
    assert doc["last_reading_at"] == iso(later, "Europe/Brussels")
    assert doc["total_kwh"] == pytest.approx(1.0)


def test_region_devices_ranked_by_consumption(kw):
    for serial, region, kwh in [("R-A", "north", 1.5), ("R-B", "north", 4.0),
                                ("R-C", "south", 9.0), ("R-D", "north", 0.0)]:
        kw.post("/api/v1/devices", json={"name": f"Meter {serial}", "serial": serial,
                                         "region": region})
        if kwh:
            kw.post("/api/v1/measurements", json=[
                {"timestamp": "2025-01-06T10:00:00Z", "device_id": serial,
                 "measurement_value": kwh / 2},
                {"timestamp": "2025-01-07T10:00:00Z", "device_id": serial,
                 "measurement_value": kwh / 2}])
    r = kw.get("/api/v1/regions/north/devices?from=2025-01-06&to=2025-01-07")
    assert r.status == 200, r
    doc = r.json()
    assert (doc["region"], doc["unit"], doc["from"], doc["to"]) == (
        "north", "kWh", "2025-01-06", "2025-01-07")
    assert [(d["serial"], d["total_kwh"]) for d in doc["devices"]] == [
        ("R-B", 4.0), ("R-A", 1.5), ("R-D", 0.0)]
    assert doc["total_kwh"] == pytest.approx(5.5)
    one_day = kw.get("/api/v1/regions/north/devices?from=2025-01-07&to=2025-01-07").json()
    assert [d["total_kwh"] for d in one_day["devices"]] == [2.0, 0.75, 0.0]
    regions = kw.get("/api/v1/regions/consumption?from=2025-01-06&to=2025-01-07").json()
    north = [x for x in regions["regions"] if x["region"] == "north"][0]
    assert north["total_kwh"] == pytest.approx(doc["total_kwh"])
    name = urllib.parse.quote("nowhere land")
    r = kw.get(f"/api/v1/regions/{name}/devices?from=2025-01-06&to=2025-01-07")
    assert r.status == 404 and r.error()["field"] == "region"
    assert kw.get("/api/v1/regions/north/devices").error()["code"] == "missing_field"
